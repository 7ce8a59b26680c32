"""Held-out evaluation of a perturber against classifier victims.

Metrics (as in the paper and the original code):

* ``fooling_rate``: share of images whose adversarial prediction differs
  from the clean prediction (not from the label);
* ``clean_accuracy`` / ``adversarial_accuracy``: against the labels;
* ``target_success_rate``: share predicted as the target, over all images
  (the original code's "top-1 target accuracy"), and
  ``target_success_rate_excluding_target_class`` over images whose label is
  not the target (the stricter convention of later work);
* ``random_noise_fooling_rate``: the same budget spent on a random ±ε sign
  pattern (one pattern for a universal perturber, one per image otherwise),
  the floor every attack must beat;
* ``linf`` / ``l2``: the largest norms of the applied perturbations
  (``x_adv − x``, after clipping), pixel units of [0, 1].
"""

import numpy as np

from keras_gap.metrics.batches import perturbed_batches
from keras_gap.metrics.batches import predictions
from keras_gap.metrics.batches import with_weights


def _counts():
    return {"fooled": 0, "clean_correct": 0, "adversarial_correct": 0,
            "target_hit": 0, "target_hit_excluding": 0, "not_target": 0,
            "noise_fooled": 0}


def evaluate_classification(perturber, victims, data, batch_size=256, limit=None,
                            seed=0, target_class=None):
    """Evaluates ``perturber`` on ``data`` against each victim.

    Args:
        perturber: a trained perturber.
        victims: list of ``Victim``.
        data: an ``ImageData`` split (the held-out split, ``HELD_OUT``).
        batch_size: evaluation batch size.
        limit: evaluate only a seeded random sample of ``limit`` images
            (``ImageData.sample``).
        seed: seed of the random-noise floor.
        target_class: report target success rates for this class.

    Returns:
        ``{"num_images", "linf", "l2", "victims": {name: {metrics}}}``.
    """
    counts = {v.name: _counts() for v in victims}
    norms = {}
    for images, labels, adversarial, noisy in perturbed_batches(
            perturber, data, batch_size, limit, seed, norms):
        for victim in victims:
            clean, adv, noisy_prediction = predictions(victim, images, adversarial, noisy)
            c = counts[victim.name]
            c["fooled"] += int(np.sum(adv != clean))
            c["clean_correct"] += int(np.sum(clean == labels))
            c["adversarial_correct"] += int(np.sum(adv == labels))
            c["noise_fooled"] += int(np.sum(noisy_prediction != clean))
            if target_class is not None:
                others = labels != target_class
                c["target_hit"] += int(np.sum(adv == target_class))
                c["target_hit_excluding"] += int(np.sum((adv == target_class) & others))
                c["not_target"] += int(np.sum(others))
    num_images = norms["num_images"]
    results = {}
    for name, c in counts.items():
        metrics = {
            "fooling_rate": c["fooled"] / num_images,
            "clean_accuracy": c["clean_correct"] / num_images,
            "adversarial_accuracy": c["adversarial_correct"] / num_images,
            "random_noise_fooling_rate": c["noise_fooled"] / num_images,
        }
        if target_class is not None:
            metrics["target_success_rate"] = c["target_hit"] / num_images
            metrics["target_success_rate_excluding_target_class"] = (
                c["target_hit_excluding"] / max(c["not_target"], 1)
            )
        results[name] = metrics
    return {**norms, "victims": with_weights(results, victims)}
