"""The random-noise floor: a ±ε sign pattern spending the whole budget."""

import tensorflow as tf

from keras_gap.baselines.gradient_attacks import check_budget
from keras_gap.baselines.gradient_attacks import check_images
from keras_gap.evaluation.classification import random_sign_noise


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
    return tf.clip_by_value(images + noise, 0.0, 1.0)
