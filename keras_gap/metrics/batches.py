"""The loop every evaluation shares: perturb each held-out batch, add the
random-noise floor of the same budget, and record the applied norms."""

import numpy as np
from keras import ops

from keras_gap.baselines.random_noise import random_sign_noise


def perturbed_batches(perturber, data, batch_size, limit, seed, norms):
    """Yields ``(images, labels, adversarial, noisy)`` for each batch of
    ``data``: ``labels`` as NumPy, ``noisy`` the images plus the random sign
    pattern of the same budget (one pattern for a universal perturber, one per
    image otherwise). Fills ``norms`` with ``num_images`` and the largest
    applied ``linf`` / ``l2``; raises ``ValueError`` if ``data`` is empty.
    """
    universal = perturber.shared_perturbation
    norms.update(num_images=0, linf=0.0, l2=0.0)
    if universal:
        noise = random_sign_noise(
            (1,) + perturber.image_shape, perturber.norm, perturber.epsilon, seed
        )
    for batch_index, (images, labels) in enumerate(data.dataset(batch_size, limit=limit)):
        images = ops.convert_to_numpy(images)
        adversarial = ops.convert_to_numpy(perturber(images, training=False))
        flat = (adversarial - images).reshape(len(images), -1)
        norms["linf"] = max(norms["linf"], float(np.abs(flat).max()))
        norms["l2"] = max(norms["l2"], float(np.linalg.norm(flat, axis=1).max()))
        if not universal:
            noise = random_sign_noise(
                tuple(images.shape), perturber.norm, perturber.epsilon,
                seed + batch_index + 1,
            )
        norms["num_images"] += int(images.shape[0])
        yield images, np.asarray(labels), adversarial, np.clip(images + noise, 0.0, 1.0)
    if norms["num_images"] == 0:
        raise ValueError(f"no images to evaluate in {data.name} {data.split}")


def predictions(victim, *batches):
    """The victim's predicted classes (per image, or per pixel) for each batch."""
    return [np.argmax(ops.convert_to_numpy(victim.logits(batch)), -1) for batch in batches]


def with_weights(results, victims):
    """``results`` (``{victim name: metrics}``) with each victim's weights
    ("imagenet", "random", a file, or None) first, so every report says
    which weights the figures were measured with."""
    weights = {victim.name: victim.weights for victim in victims}
    return {name: {"weights": weights.get(name), **metrics} for name, metrics in results.items()}
