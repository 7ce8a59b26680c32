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
import tensorflow as tf

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
    return tf.clip_by_value(tf.convert_to_tensor(images, tf.float32) + delta, 0.0, 1.0)


def check_time_budget(seconds):
    """Raises ``ValueError`` unless ``seconds`` is None or a finite number > 0."""
    checks.POSITIVE_NUMBER.optional(seconds, "time budget")


def _batches(count, batch_size, generator):
    order = generator.permutation(count)
    return [order[start:start + batch_size] for start in range(0, count, batch_size)]


def _predicted_classes(logits_of, images):
    return tf.argmax(logits_of(images), axis=-1, output_type=tf.int32)


def _deepfool(logits_of, images, candidates, iterations, overshoot):
    """DeepFool (L2) per image; ``candidates[:, 0]`` is the current class."""
    original = candidates[:, 0]
    total = tf.zeros_like(images)
    active = tf.ones(tf.shape(images)[:1], tf.bool)
    for _ in tf.range(iterations):
        current = images + (1.0 + overshoot) * total
        with tf.GradientTape() as tape:
            tape.watch(current)
            logits = logits_of(current)
            chosen = tf.gather(logits, candidates, batch_dims=1)
        gradients = tape.batch_jacobian(chosen, current)
        active = active & tf.equal(tf.argmax(logits, -1, output_type=tf.int32), original)
        if not tf.reduce_any(active):
            break
        weights = gradients[:, 1:] - gradients[:, :1]
        margins = tf.abs(chosen[:, 1:] - chosen[:, :1])
        flat = tf.reshape(weights, tf.concat([tf.shape(weights)[:2], [-1]], 0))
        squared_norms = tf.maximum(tf.reduce_sum(tf.square(flat), axis=-1), 1e-24)
        nearest = tf.argmin(margins / tf.sqrt(squared_norms), axis=1, output_type=tf.int32)
        scale = tf.gather(
            (margins + _DEEPFOOL_MARGIN) / squared_norms, nearest, batch_dims=1
        )
        step = tf.gather(weights, nearest, batch_dims=1) * tf.reshape(scale, (-1, 1, 1, 1))
        total = total + tf.where(tf.reshape(active, (-1, 1, 1, 1)), step, 0.0)
    return (1.0 + overshoot) * total


def _fooling_rate(logits_of, images, clean, delta, batch_size):
    fooled = 0
    for start in range(0, len(images), batch_size):
        adversarial = apply_universal(images[start:start + batch_size], delta)
        predicted = compiled(_predicted_classes, logits_of)(adversarial).numpy()
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
    images = check_images(images).numpy()
    if len(images) == 0:
        raise ValueError("uap needs at least one image")
    logits_of = logits_function(victim)
    clean = np.concatenate([
        compiled(_predicted_classes, logits_of)(images[start:start + batch_size]).numpy()
        for start in range(0, len(images), batch_size)
    ])
    delta = tf.zeros((1,) + images.shape[1:], tf.float32)
    generator = np.random.default_rng(seed)
    for _ in range(max_passes):
        for indices in _batches(len(images), batch_size, generator):
            if time_budget is not None and time.perf_counter() - start >= time_budget:
                return delta.numpy()
            perturbed = apply_universal(images[indices], delta)
            logits = logits_of(perturbed)
            unfooled = tf.equal(tf.argmax(logits, -1, output_type=tf.int32), clean[indices])
            if not tf.reduce_any(unfooled):
                continue
            count = min(candidate_classes, int(logits.shape[-1]))
            candidates = tf.math.top_k(tf.boolean_mask(logits, unfooled), k=count).indices
            steps = compiled(_deepfool, logits_of)(
                tf.boolean_mask(perturbed, unfooled), candidates,
                tf.constant(deepfool_iterations), tf.constant(overshoot))
            delta = project_to_budget(
                delta + tf.reduce_sum(steps, axis=0, keepdims=True), norm, epsilon
            )
        if _fooling_rate(logits_of, images, clean, delta, batch_size) >= target_fooling_rate:
            break
    return delta.numpy()


def _universal_step(logits_of, loss, norm, images, references, direction, delta, epsilon,
                    step_size):
    with tf.GradientTape() as tape:
        tape.watch(delta)
        adversarial = tf.clip_by_value(images + delta, 0.0, 1.0)
        total = direction * tf.reduce_sum(loss(logits_of(adversarial), references))
    gradient = tape.gradient(total, delta)
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
    images = check_images(images).numpy()
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
        references.append(batch_references.numpy())
    references = np.concatenate(references)
    delta = tf.zeros((1,) + images.shape[1:], tf.float32)
    generator = np.random.default_rng(seed)
    direction = tf.constant(direction)
    epsilon_tensor, step_tensor = tf.constant(epsilon), tf.constant(step_size)
    for _ in range(passes):
        for indices in _batches(len(images), batch_size, generator):
            delta = compiled(_universal_step, logits_of, loss, norm)(
                images[indices], references[indices], direction, delta, epsilon_tensor,
                step_tensor)
    return delta.numpy()
