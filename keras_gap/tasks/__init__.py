"""Tasks: what differs between attacking a classifier and a segmenter.

A task object owns, for one kind of victim, the objective for a name, the
check that a data set fits the victim, the held-out evaluation, the sample
picture and the summary lines. The run driver, ``train.evaluate`` and
``train.benchmark`` ask ``task_for(victim, ...)`` for the right one instead
of testing the victim's type. A new kind of victim (say, a detector) is a
new task class listed in ``TASKS``.
"""

from keras_gap.tasks.classification import ClassificationTask
from keras_gap.tasks.segmentation import SegmentationTask

TASKS = {task.victim_task: task for task in (ClassificationTask, SegmentationTask)}


def task_for(victim, target_class=None, target_map=None, test_data=None):
    """The task attacking ``victim`` (a ``Victim``), with its target.

    Args:
        victim: the first victim; its ``task`` ("classifier" or "segmenter")
            picks the task class.
        target_class: the target class of a targeted classifier attack.
        target_map: the target map spec of a targeted segmenter attack
            (``PATH.png`` or ``scene:INDEX``).
        test_data: the held-out split, for ``scene:INDEX`` target maps.
    """
    return TASKS[victim.task].for_victim(
        victim, target_class=target_class, target_map=target_map, test_data=test_data
    )


__all__ = ["ClassificationTask", "SegmentationTask", "TASKS", "task_for"]
