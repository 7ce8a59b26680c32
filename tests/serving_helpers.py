"""Tiny exported perturbers shared by the export and serving-client tests."""

import numpy as np
import tensorflow as tf

from keras_gap.perturbers import build_perturber

# kind -> (image shape, norm, epsilon)
SETTINGS = {
    "universal": ((28, 28, 1), "linf", 0.1),
    "image_dependent": ((16, 16, 3), "l2", 0.5),
}
KINDS = sorted(SETTINGS)


def tiny_perturber(kind):
    image_shape, norm, epsilon = SETTINGS[kind]
    perturber = build_perturber(
        kind, "resnet", image_shape, norm, epsilon, seed=0, filters=4, num_residual_blocks=1
    )
    perturber(np.zeros((1, *image_shape), np.float32))
    return perturber


class Export:
    def __init__(self, perturber, path):
        self.perturber = perturber
        self.path = path
        self.loaded = tf.saved_model.load(path)  # kept alive: see stack notes 3c


def images_for(kind, count=3, seed=1):
    return np.random.default_rng(seed).random((count, *SETTINGS[kind][0]), np.float32)


def as_uint8(images):
    return np.round(np.clip(np.asarray(images) * 255.0, 0.0, 255.0)).astype(np.uint8)


def expected_uint8(perturber, images_uint8):
    return as_uint8(perturber(images_uint8.astype(np.float32) / 255.0))
