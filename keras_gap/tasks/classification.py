"""Attacking image classifiers: one prediction per image."""

import numpy as np
from keras import ops

from keras_gap.data import DEFAULT_SAMPLE_SEED
from keras_gap.data import IMAGENET_WNIDS
from keras_gap.metrics.classification import evaluate_classification
from keras_gap.objectives import build_objective
from keras_gap.reports.figures import save_samples_png
from keras_gap.tasks.task import Task

SAMPLE_COUNT = 6


class ClassificationTask(Task):
    """The classifier task; ``target_class`` is set for targeted attacks."""

    victim_task = "classifier"
    attack_phrase = "attack"
    target_metric = "target_success_rate"

    def __init__(self, target_class=None):
        self.target_class = target_class

    @classmethod
    def for_victim(cls, victim, target_class=None, target_map=None, test_data=None):
        if target_map is not None:
            raise ValueError(
                f"--target-map is for segmentation victims; {victim.name} is a classifier "
                "(use --target-class)"
            )
        return cls(target_class)

    def objective(self, name, reduction=None, feature_layers=None):
        """The objective ``name`` for this task (see ``build_objective``)."""
        return build_objective(name, self.target_class, reduction, feature_layers)

    def check_data(self, victim, data):
        """Raises unless ``data`` yields one label per image, from exactly the
        victim's classes: with fewer, a prediction names no class of the data
        set; with more, labels point past the victim's outputs."""
        label_spec = data.make_dataset().element_spec[1]
        if label_spec.shape.rank != 0:
            raise ValueError(
                f"{victim.name} is a classifier but {data.name} yields label maps; use a "
                "classification data set (fashion_mnist, folder:PATH, tfds:NAME)"
            )
        classes = len(data.class_names)
        if classes != victim.num_classes:
            hint = ""
            if victim.num_classes == len(IMAGENET_WNIDS):
                hint = ("; a folder whose class folders are ImageNet WordNet ids "
                        "(n01440764, ...) gets ImageNet's 1,000 class ids, whichever "
                        "classes it holds")
            raise ValueError(
                f"{data.name} has {classes} classes but victim {victim.name} predicts "
                f"{victim.num_classes}: its labels would not be the victim's classes{hint}"
            )

    def evaluate(self, perturber, victims, data, limit=None, seed=0, batch_size=256):
        """Held-out metrics (see ``evaluate_classification``)."""
        return evaluate_classification(
            perturber, victims, data, batch_size=batch_size, limit=limit, seed=seed,
            target_class=self.target_class,
        )

    def save_samples(self, perturber, victim, data, path):
        """``samples.png``: clean / adversarial pairs titled with the victim's
        predicted class names (and the amplified per-image perturbation)."""
        # The first images of a seeded shuffle: several classes, the same every run.
        images, _ = next(iter(data.dataset(SAMPLE_COUNT, shuffle_seed=DEFAULT_SAMPLE_SEED)))
        adversarial = ops.convert_to_numpy(perturber(images, training=False))
        images = np.asarray(images)

        def names(batch):
            predicted = np.argmax(ops.convert_to_numpy(victim.logits(batch)), -1)
            return [class_name(data.class_names, i) for i in predicted]

        perturbations = None if perturber.shared_perturbation else adversarial - images
        save_samples_png(images, adversarial, names(images), names(adversarial), path,
                         perturbations)

    @property
    def targeted(self):
        return self.target_class is not None

    def columns(self):
        columns = [("fooling", "fooling_rate"), ("random noise", "random_noise_fooling_rate"),
                   ("clean acc", "clean_accuracy"), ("adv acc", "adversarial_accuracy")]
        if self.targeted:
            columns += [("target success", "target_success_rate"),
                        ("excl. target", "target_success_rate_excluding_target_class")]
        return columns


def class_name(names, index):
    """``names[index]``, or the index itself for a class the data set does not name."""
    return names[index] if 0 <= index < len(names) else str(index)
