"""Attacking semantic segmenters: one prediction per pixel."""

import numpy as np
from keras import ops

from keras_gap.data import DEFAULT_SAMPLE_SEED
from keras_gap.data.target_maps import load_target_map
from keras_gap.metrics.segmentation import evaluate_segmentation
from keras_gap.objectives import build_objective
from keras_gap.objectives.segmentation import check_label_map
from keras_gap.reports.figures import save_segmentation_samples_png
from keras_gap.tasks.task import Task

SAMPLE_COUNT = 4


class SegmentationTask(Task):
    """The segmenter task; ``target_map`` (an (H, W) label map, 255 = free)
    is set for targeted attacks."""

    victim_task = "segmenter"
    attack_phrase = "attack on a segmenter"
    target_metric = "success_rate"

    def __init__(self, target_map=None):
        self.target_map = target_map

    @classmethod
    def for_victim(cls, victim, target_class=None, target_map=None, test_data=None):
        """Loads the ``target_map`` spec (``PATH.png``, ``scene:INDEX`` of
        ``test_data`` or ``cityscapes:PATH.png``) and checks it against the
        victim's output."""
        if target_class is not None:
            raise ValueError(
                f"{victim.name} is a segmenter: give --target-map PATH.png, scene:INDEX or "
                "cityscapes:PATH.png "
                "instead of --target-class"
            )
        if target_map is not None:
            if test_data is not None:
                cls().check_data(victim, test_data)
            target_map = check_label_map(load_target_map(target_map, test_data,
                                                         victim.input_shape[:2]),
                                         victim.num_classes, victim.input_shape[:2])
        return cls(target_map)

    def objective(self, name, reduction=None, feature_layers=None):
        """The dense objective ``name`` (see ``build_objective``)."""
        return build_objective(name, reduction=reduction, feature_layers=feature_layers,
                               task="segmenter", target_map=self.target_map)

    def check_data(self, victim, data):
        """Raises unless ``data`` yields label maps fitting the segmenter ``victim``."""
        label_spec = data.make_dataset().element_spec[1]
        if label_spec.shape.rank != 2:
            raise ValueError(
                f"{victim.name} is a segmenter but {data.name} has no label maps; use a "
                "segmentation data set (fashion_scenes, tfds:cityscapes)"
            )
        if len(data.class_names) > victim.num_classes:
            raise ValueError(
                f"{data.name} has {len(data.class_names)} classes but segmenter "
                f"{victim.name} predicts only {victim.num_classes}"
            )

    def evaluate(self, perturber, victims, data, limit=None, seed=0, batch_size=32):
        """Held-out metrics (see ``evaluate_segmentation``)."""
        return evaluate_segmentation(
            perturber, victims, data, batch_size=batch_size, limit=limit, seed=seed,
            target_map=self.target_map,
        )

    def save_samples(self, perturber, victim, data, path):
        """``samples.png``: image, clean prediction, adversarial prediction (and
        the target map) as colour-coded label maps."""
        images, labels = next(iter(data.dataset(SAMPLE_COUNT, shuffle_seed=DEFAULT_SAMPLE_SEED)))
        adversarial = perturber(images, training=False)
        clean = np.argmax(ops.convert_to_numpy(victim.logits(images)), -1)
        adversarial_predictions = np.argmax(ops.convert_to_numpy(victim.logits(adversarial)), -1)
        save_segmentation_samples_png(
            np.asarray(images), ops.convert_to_numpy(adversarial), np.asarray(labels), clean,
            adversarial_predictions, path, num_classes=victim.num_classes,
            target_map=self.target_map,
        )

    @property
    def targeted(self):
        return self.target_map is not None

    def columns(self):
        columns = [("clean mIoU", "clean_miou"), ("adv mIoU", "adversarial_miou"),
                   ("noise mIoU", "random_noise_miou"), ("clean acc", "clean_pixel_accuracy"),
                   ("adv acc", "adversarial_pixel_accuracy")]
        if self.targeted:
            columns += [("success", "success_rate"),
                        ("noise success", "random_noise_success_rate")]
        return columns
