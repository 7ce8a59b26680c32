"""Deployable perturbers: generator + budget projection, no victim inside.

A perturber maps clean images in [0, 1] to adversarial images in [0, 1];
``perturbation(images)`` gives the additive perturbation it applies.
"""

from keras_gap.perturbers.image_dependent_perturber import ImageDependentPerturber
from keras_gap.perturbers.perturber import Perturber
from keras_gap.perturbers.perturber import load_perturber
from keras_gap.perturbers.universal_perturber import UniversalPerturber

__all__ = [
    "ImageDependentPerturber",
    "Perturber",
    "UniversalPerturber",
    "load_perturber",
]
