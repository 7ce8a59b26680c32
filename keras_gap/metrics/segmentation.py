"""Held-out evaluation of a perturber against segmentation victims.

Metrics (as the original GAP segmentation code, ignore label 255 excluded):

* ``success_rate`` (targeted): pixel accuracy of the adversarial prediction
  against the target map (``clean_success_rate``: of the clean prediction);
* ``clean_miou`` / ``adversarial_miou``: mean IoU against the ground truth
  over the classes present (IoU undefined, i.e. never predicted nor in the
  ground truth, is left out, as ``np.nanmean`` does);
* ``clean_pixel_accuracy`` / ``adversarial_pixel_accuracy``: against the
  ground truth;
* ``fooling_rate``: share of pixels whose prediction the attack changed;
* ``random_noise_success_rate`` (targeted) / ``random_noise_miou``
  (untargeted): the same budget spent on a random ±ε sign pattern, the floor
  every attack must beat;
* ``linf`` / ``l2``: largest norms of the applied perturbations.
"""

import numpy as np

from keras_gap.metrics.batches import perturbed_batches
from keras_gap.metrics.batches import predictions
from keras_gap.metrics.batches import with_weights
from keras_gap.objectives.segmentation import IGNORE_LABEL


def confusion_matrix(labels, predictions, num_classes):
    """``num_classes`` × ``num_classes`` counts (row: label, column: prediction)
    over pixels whose label is a class (255 and out-of-range labels skipped)."""
    labels = np.asarray(labels).reshape(-1).astype(np.int64)
    predictions = np.asarray(predictions).reshape(-1).astype(np.int64)
    valid = (labels >= 0) & (labels < num_classes)
    index = labels[valid] * num_classes + predictions[valid]
    return np.bincount(index, minlength=num_classes**2).reshape(num_classes, num_classes)


def mean_iou(confusion):
    """Mean IoU over classes whose union is not empty; nan if none is."""
    confusion = np.asarray(confusion, np.float64)
    intersection = np.diag(confusion)
    union = confusion.sum(0) + confusion.sum(1) - intersection
    present = union > 0
    if not present.any():
        return float("nan")
    return float(np.mean(intersection[present] / union[present]))


def pixel_accuracy(confusion):
    confusion = np.asarray(confusion)
    total = confusion.sum()
    return float(np.trace(confusion) / total) if total else float("nan")


def target_success(predictions, target_map):
    """(hits, counted pixels) of ``predictions`` (B, H, W) against one map."""
    target_map = np.asarray(target_map)
    valid = np.broadcast_to(target_map != IGNORE_LABEL, np.shape(predictions))
    hits = (np.asarray(predictions) == target_map) & valid
    return int(hits.sum()), int(valid.sum())


def evaluate_segmentation(perturber, victims, data, batch_size=32, limit=None,
                          seed=0, target_map=None):
    """Evaluates ``perturber`` on ``data`` (image, label map) against each victim.

    Returns ``{"num_images", "linf", "l2", "victims": {name: {metrics}}}``.
    """
    num_classes = victims[0].num_classes
    zero = np.zeros((num_classes, num_classes), np.int64)
    state = {v.name: {"clean": zero.copy(), "adversarial": zero.copy(), "noise": zero.copy(),
                      "hits": 0, "clean_hits": 0, "noise_hits": 0, "counted": 0,
                      "changed": 0, "pixels": 0} for v in victims}
    norms = {}
    for images, labels, adversarial, noisy in perturbed_batches(
            perturber, data, batch_size, limit, seed, norms):
        for victim in victims:
            clean, adv, noisy_prediction = predictions(victim, images, adversarial, noisy)
            s = state[victim.name]
            s["clean"] += confusion_matrix(labels, clean, num_classes)
            s["adversarial"] += confusion_matrix(labels, adv, num_classes)
            s["noise"] += confusion_matrix(labels, noisy_prediction, num_classes)
            s["changed"] += int(np.sum(adv != clean))
            s["pixels"] += int(clean.size)
            if target_map is not None:
                hits, counted = target_success(adv, target_map)
                s["hits"] += hits
                s["counted"] += counted
                s["clean_hits"] += target_success(clean, target_map)[0]
                s["noise_hits"] += target_success(noisy_prediction, target_map)[0]
    results = {}
    for name, s in state.items():
        metrics = {
            "clean_miou": mean_iou(s["clean"]),
            "adversarial_miou": mean_iou(s["adversarial"]),
            "random_noise_miou": mean_iou(s["noise"]),
            "clean_pixel_accuracy": pixel_accuracy(s["clean"]),
            "adversarial_pixel_accuracy": pixel_accuracy(s["adversarial"]),
            "random_noise_pixel_accuracy": pixel_accuracy(s["noise"]),
            "fooling_rate": s["changed"] / s["pixels"],
        }
        if target_map is not None:
            counted = max(s["counted"], 1)
            metrics["success_rate"] = s["hits"] / counted
            metrics["clean_success_rate"] = s["clean_hits"] / counted
            metrics["random_noise_success_rate"] = s["noise_hits"] / counted
        results[name] = metrics
    return {"task": "segmentation", **norms, "victims": with_weights(results, victims)}
