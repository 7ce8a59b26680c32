"""Deployable perturbers: generator + budget projection, no victim inside.

A perturber maps clean images in [0, 1] to adversarial images in [0, 1];
``perturbation(images)`` gives the additive perturbation it applies.
``PERTURBERS`` maps each kind ("universal", "image_dependent") to its class.
"""

from keras_gap.generators import build_generator
from keras_gap.layers import projection_for_norm
from keras_gap.perturbers.image_dependent_perturber import ImageDependentPerturber
from keras_gap.perturbers.perturber import Perturber
from keras_gap.perturbers.perturber import load_perturber
from keras_gap.perturbers.universal_perturber import UniversalPerturber

PERTURBERS = {cls.kind: cls for cls in (UniversalPerturber, ImageDependentPerturber)}


def build_perturber(kind, generator, image_shape, norm, epsilon, seed=0, **generator_kwargs):
    """An untrained perturber of ``kind`` for images of ``image_shape``.

    Args:
        kind: a key of ``PERTURBERS``.
        generator: a key of ``keras_gap.generators.GENERATORS``.
        image_shape: ``(H, W, C)`` of the images.
        norm, epsilon: the budget (``projection_for_norm``).
        seed: seed of the generator's weights (and of the universal pattern Z).
        **generator_kwargs: passed to the generator builder (filters, ...).
    """
    if kind not in PERTURBERS:
        raise ValueError(f"perturber kind must be one of {sorted(PERTURBERS)}, got {kind!r}")
    network = build_generator(generator, image_shape, seed=seed, **generator_kwargs)
    return PERTURBERS[kind].build(network, projection_for_norm(norm, epsilon), seed=seed)


__all__ = [
    "ImageDependentPerturber",
    "PERTURBERS",
    "Perturber",
    "UniversalPerturber",
    "build_perturber",
    "load_perturber",
]
