"""The random-noise floor: a ±ε sign pattern spending the whole budget."""

import math

import numpy as np
from keras import ops

from keras_gap.baselines.gradient_attacks import check_budget
from keras_gap.baselines.gradient_attacks import check_images


def random_sign_noise(shape, norm, epsilon, seed):
    """A ±1 pattern scaled to exactly the budget: ε (L∞) or ε/√n each (L2)."""
    generator = np.random.default_rng(seed)
    signs = generator.choice(np.array([-1.0, 1.0], np.float32), size=shape)
    if norm == "linf":
        return epsilon * signs
    per_image = int(np.prod(shape[1:]))
    return epsilon / math.sqrt(per_image) * signs


def random_noise(images, epsilon, norm="linf", universal=False, seed=0):
    """Adds random sign noise at the full budget and clips to [0, 1].

    One pattern per image, or one for every image when ``universal``.
    """
    epsilon = check_budget(norm, epsilon)
    images = check_images(images)
    shape = tuple(images.shape)
    if universal:
        shape = (1,) + shape[1:]
    noise = random_sign_noise(shape, norm, epsilon, seed)
    return ops.clip(images + noise, 0.0, 1.0)
