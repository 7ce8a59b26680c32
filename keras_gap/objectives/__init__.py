"""Fooling objectives: what the generator minimises against one victim.

Each objective is a small serialisable class with
``per_example_loss(clean_logits, adversarial_logits, labels)`` returning one
loss per image. Add a new objective as a class in its own module and list it
in ``OBJECTIVES`` so the command-line programs can pick it by name. The
built-in ones are log-cross-entropies (``LogCrossEntropyObjective``) with a
``reduction`` over the batch, one of ``REDUCTIONS``.
"""

from keras_gap.objectives.classification import LeastLikely
from keras_gap.objectives.classification import LogCrossEntropyObjective
from keras_gap.objectives.classification import Objective
from keras_gap.objectives.classification import Targeted
from keras_gap.objectives.classification import Untargeted
from keras_gap.objectives.cross_entropy import REDUCTIONS
from keras_gap.objectives.cross_entropy import check_reduction
from keras_gap.objectives.cross_entropy import log_cross_entropy
from keras_gap.objectives.segmentation import SEGMENTATION_OBJECTIVES
from keras_gap.objectives.segmentation import SegmentationTargeted
from keras_gap.objectives.segmentation import SegmentationUntargeted
from keras_gap.objectives.segmentation import build_segmentation_objective

OBJECTIVES = {
    "untargeted": Untargeted,
    "least_likely": LeastLikely,
    "targeted": Targeted,
}


def build_objective(name, target_class=None, reduction=None):
    """Builds the objective ``name``; ``target_class`` only for "targeted";
    ``reduction`` None for the objective's measured default."""
    if name not in OBJECTIVES:
        raise ValueError(f"objective must be one of {sorted(OBJECTIVES)}, got {name!r}")
    if name == "targeted":
        if target_class is None:
            raise ValueError(
                "the targeted objective needs --target-class (classifiers) or "
                "--target-map (segmenters)"
            )
        return Targeted(target_class, reduction=reduction)
    if target_class is not None:
        raise ValueError(
            f"--target-class {target_class} only applies to --objective targeted, "
            f"not {name!r}"
        )
    return OBJECTIVES[name](reduction=reduction)


__all__ = [
    "OBJECTIVES",
    "REDUCTIONS",
    "LeastLikely",
    "LogCrossEntropyObjective",
    "Objective",
    "SEGMENTATION_OBJECTIVES",
    "SegmentationTargeted",
    "SegmentationUntargeted",
    "Targeted",
    "Untargeted",
    "build_objective",
    "build_segmentation_objective",
    "check_reduction",
    "log_cross_entropy",
]
