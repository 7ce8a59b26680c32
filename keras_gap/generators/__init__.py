"""Generator networks: images (or a fixed pattern) in [0, 1] → tanh output.

Add a new generator as a builder function in its own module here and list
it in ``GENERATORS`` so the command-line programs can pick it by name.
"""

from keras_gap.generators.resnet_generator import resnet_generator
from keras_gap.generators.unet_generator import unet_generator

GENERATORS = {"resnet": resnet_generator, "unet": unet_generator}


def build_generator(kind, input_shape, **kwargs):
    """Builds the generator ``kind`` ("resnet" or "unet") for ``input_shape``."""
    if kind not in GENERATORS:
        raise ValueError(
            f"generator must be one of {sorted(GENERATORS)}, got {kind!r}"
        )
    return GENERATORS[kind](input_shape, **kwargs)


__all__ = ["GENERATORS", "build_generator", "resnet_generator", "unet_generator"]
