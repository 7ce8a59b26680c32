"""Universal perturbations found by optimisation: one δ for every image.

* ``uap``: the algorithm of Moosavi-Dezfooli et al. (CVPR 2017). For the
  images that ``x + v`` does not fool yet, DeepFool finds the smallest L2
  step that crosses the nearest decision boundary; the steps are added to
  ``v``, which is projected back onto the budget. Here a batch of images is
  handled at once (their DeepFool steps are summed before the projection),
  passes over the images repeat until ``target_fooling_rate`` is reached.
* ``universal_iterative``: batched sign-gradient (L∞) or normalised-gradient
  (L2) steps on one shared δ, with any per-example loss: the universal
  perturbation of Metzen et al. (ICCV 2017) for segmenters with
  ``DenseCrossEntropy``, and a fast universal baseline for classifiers.

Both return ``δ`` of shape ``(1, H, W, C)``; apply it with ``apply_universal``.
"""

import time

import numpy as np
from keras import ops

from keras_gap import backend
from keras_gap import checks
from keras_gap.baselines.gradient_attacks import attack_references
from keras_gap.baselines.gradient_attacks import check_budget
from keras_gap.baselines.gradient_attacks import check_images
from keras_gap.baselines.gradient_attacks import compiled
from keras_gap.baselines.gradient_attacks import logits_function
from keras_gap.baselines.gradient_attacks import project_to_budget
from keras_gap.baselines.gradient_attacks import steepest_direction
from keras_gap.objectives.classification import cross_entropy

# DeepFool's margin added to each boundary distance, as in the original code.
_DEEPFOOL_MARGIN = 1e-4


def apply_universal(images, delta):
    """``clip(images + δ, 0, 1)`` for a universal ``δ`` of shape ``(1, H, W, C)``."""
    return ops.clip(ops.convert_to_tensor(images, "float32") + delta, 0.0, 1.0)


def check_time_budget(seconds):
    """Raises ``ValueError`` unless ``seconds`` is None or a finite number > 0."""
    checks.POSITIVE_NUMBER.optional(seconds, "time budget")


def _batches(count, batch_size, generator):
    order = generator.permutation(count)
    return [order[start:start + batch_size] for start in range(0, count, batch_size)]


def _predicted_classes(logits_of, images):
    return ops.cast(ops.argmax(logits_of(images), axis=-1), "int32")


def _deepfool_step(logits_of, current, candidates):
    """The logits of ``current``, the candidate classes' logits and their
    gradients ``(batch, candidates, H, W, C)``."""
    def chosen_logits(images):
        return ops.take_along_axis(logits_of(images), candidates, axis=1)

    chosen, gradients = backend.batch_jacobian(chosen_logits, current)
    return logits_of(current), chosen, gradients


def _deepfool(logits_of, images, candidates, iterations, overshoot):
    """DeepFool (L2) per image; ``candidates[:, 0]`` is the current class."""
    original = candidates[:, 0]
    total = np.zeros(images.shape, np.float32)
    active = np.ones(len(images), bool)
    step_function = compiled(_deepfool_step, logits_of)
    for _ in range(iterations):
        current = images + (1.0 + overshoot) * total
        logits, chosen, gradients = (ops.convert_to_numpy(value) for value in step_function(
            ops.convert_to_tensor(current), ops.convert_to_tensor(candidates)))
        active &= np.argmax(logits, -1) == original
        if not active.any():
            break
        weights = gradients[:, 1:] - gradients[:, :1]
        margins = np.abs(chosen[:, 1:] - chosen[:, :1])
        squared_norms = np.maximum(
            np.sum(np.square(weights.reshape(weights.shape[:2] + (-1,))), axis=-1), 1e-24)
        nearest = np.argmin(margins / np.sqrt(squared_norms), axis=1)
        rows = np.arange(len(images))
        scale = (margins + _DEEPFOOL_MARGIN)[rows, nearest] / squared_norms[rows, nearest]
        step = weights[rows, nearest] * scale.reshape(-1, 1, 1, 1)
        total = total + np.where(active.reshape(-1, 1, 1, 1), step, 0.0).astype(np.float32)
    return (1.0 + overshoot) * total


def _fooling_rate(logits_of, images, clean, delta, batch_size):
    fooled = 0
    for start in range(0, len(images), batch_size):
        adversarial = apply_universal(images[start:start + batch_size], delta)
        predicted = ops.convert_to_numpy(compiled(_predicted_classes, logits_of)(adversarial))
        fooled += int(np.sum(predicted != clean[start:start + batch_size]))
    return fooled / len(images)


def uap(victim, images, epsilon, norm="linf", max_passes=5, target_fooling_rate=0.8,
        batch_size=32, deepfool_iterations=10, overshoot=0.02, candidate_classes=10,
        seed=0, time_budget=None):
    """Universal adversarial perturbation (Moosavi-Dezfooli et al. 2017).

    Args:
        victim: a ``Victim`` or a Keras classifier returning logits.
        images: training images ``(N, H, W, C)`` in [0, 1].
        epsilon: the budget in pixel units; norm: "linf" or "l2".
        max_passes: passes over ``images`` at most.
        target_fooling_rate: stop once this share of ``images`` is fooled
            (the paper's ``1 − δ``).
        batch_size: images whose DeepFool steps are summed into one update.
        deepfool_iterations: DeepFool steps per image at most.
        overshoot: DeepFool's overshoot.
        candidate_classes: the top classes DeepFool considers.
        seed: seed of the image order.
        time_budget: seconds after which no further batch starts (None:
            no limit); with it, ``max_passes`` may be as large as wanted.

    Returns:
        ``δ`` as a float32 array of shape ``(1, H, W, C)``.
    """
    start = time.perf_counter()
    epsilon = check_budget(norm, epsilon)
    check_time_budget(time_budget)
    for name, value in (("max passes", max_passes), ("batch size", batch_size),
                        ("deepfool iterations", deepfool_iterations),
                        ("candidate classes", candidate_classes)):
        checks.POSITIVE_INTEGER.check(value, name)
    if not 0.0 < target_fooling_rate <= 1.0:
        raise ValueError(f"target fooling rate must be in (0, 1], got {target_fooling_rate!r}")
    images = ops.convert_to_numpy(check_images(images))
    if len(images) == 0:
        raise ValueError("uap needs at least one image")
    logits_of = logits_function(victim)
    predict = compiled(_call_logits, logits_of)
    clean = np.concatenate([
        ops.convert_to_numpy(compiled(_predicted_classes, logits_of)(images[start:start + batch_size]))
        for start in range(0, len(images), batch_size)
    ])
    delta = np.zeros((1,) + images.shape[1:], np.float32)
    generator = np.random.default_rng(seed)
    for _ in range(max_passes):
        for indices in _batches(len(images), batch_size, generator):
            if time_budget is not None and time.perf_counter() - start >= time_budget:
                return delta
            perturbed = np.clip(images[indices] + delta, 0.0, 1.0)
            logits = ops.convert_to_numpy(predict(perturbed))
            unfooled = np.argmax(logits, -1) == clean[indices]
            if not unfooled.any():
                continue
            count = min(candidate_classes, logits.shape[-1])
            candidates = np.argsort(-logits[unfooled], axis=-1, kind="stable")[:, :count]
            steps = _deepfool(logits_of, perturbed[unfooled], candidates.astype(np.int32),
                              deepfool_iterations, overshoot)
            delta = ops.convert_to_numpy(project_to_budget(
                delta + steps.sum(axis=0, keepdims=True), norm, epsilon)).astype(np.float32)
        if _fooling_rate(logits_of, images, clean, delta, batch_size) >= target_fooling_rate:
            break
    return delta


def _call_logits(logits_of, images):
    return logits_of(images)


def _universal_step(logits_of, loss, norm, images, references, direction, delta, epsilon,
                    step_size):
    images = ops.convert_to_tensor(images, "float32")

    def batch_loss(shared):
        adversarial = ops.clip(images + shared, 0.0, 1.0)
        return direction * ops.sum(loss(logits_of(adversarial), references))

    gradient = backend.input_gradient(batch_loss, delta)[1]
    return project_to_budget(delta + step_size * steepest_direction(gradient, norm), norm,
                             epsilon)


def universal_iterative(victim, images, epsilon, norm="linf", passes=5, step_size=None,
                        batch_size=32, objective="untargeted", target=None, labels=None,
                        loss=cross_entropy, seed=0):
    """One δ trained by gradient steps over batches of ``images``.

    Args:
        victim: a ``Victim`` or a Keras model returning logits (classifier
            or segmenter).
        images: training images ``(N, H, W, C)`` in [0, 1].
        epsilon: the budget in pixel units; norm: "linf" or "l2".
        passes: passes over ``images``; step_size: defaults to ``ε / 10``.
        batch_size: images per step.
        objective, target, labels: as for ``pgd`` (``labels`` one per image,
            or one label map per image for segmenters).
        loss: per-example ``loss(logits, references)``, e.g.
            ``DenseCrossEntropy()`` for segmenters.
        seed: seed of the image order.

    Returns:
        ``δ`` as a float32 array of shape ``(1, H, W, C)``.
    """
    epsilon = check_budget(norm, epsilon)
    checks.POSITIVE_INTEGER.check(passes, "passes")
    checks.POSITIVE_INTEGER.check(batch_size, "batch size")
    step_size = epsilon / 10 if step_size is None else checks.POSITIVE_NUMBER.check(
        step_size, "step size")
    images = ops.convert_to_numpy(check_images(images))
    if len(images) == 0:
        raise ValueError("universal_iterative needs at least one image")
    if labels is not None and len(labels) != len(images):
        raise ValueError(f"got {len(labels)} labels for {len(images)} images")
    logits_of = logits_function(victim)
    references, direction = [], 1.0
    for start in range(0, len(images), batch_size):
        batch_labels = None if labels is None else labels[start:start + batch_size]
        batch_references, direction = attack_references(
            victim, images[start:start + batch_size], objective, target, batch_labels)
        references.append(ops.convert_to_numpy(batch_references))
    references = np.concatenate(references)
    delta = ops.zeros((1,) + images.shape[1:], "float32")
    generator = np.random.default_rng(seed)
    direction = ops.convert_to_tensor(direction, "float32")
    epsilon_tensor = ops.convert_to_tensor(epsilon, "float32")
    step_tensor = ops.convert_to_tensor(step_size, "float32")
    step = compiled(_universal_step, logits_of, loss, norm)
    for _ in range(passes):
        for indices in _batches(len(images), batch_size, generator):
            delta = step(images[indices], references[indices], direction, delta,
                         epsilon_tensor, step_tensor)
    return ops.convert_to_numpy(delta)
