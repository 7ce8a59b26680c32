"""Generator networks: images (or a fixed pattern) in [0, 1] → tanh output.

Three designs, each a builder function in its own module, listed in
``GENERATORS`` so the programs can pick one by name:

- ``separable_resnet`` (the image-dependent default): stride-2 stem,
  depthwise-separable residual blocks, a decoder whose only
  full-resolution layer writes the output channels: 64/6 costs 1/20 of the
  paper design's FLOPs at 299 px (docs/benchmarks.md, "Generator designs").
- ``resnet`` (the universal default): the paper's ResNet generator
  (Johnson et al.).
- ``unet``: the pix2pix U-Net the original code uses for segmentation.

``generator_arguments`` turns the two size knobs of the programs
(``--generator-filters``, ``--generator-blocks``) into a builder's keyword
arguments, with defaults that depend on the image size. To add a design,
write its builder and add a ``GeneratorSpec`` to ``GENERATORS``.
"""

import dataclasses
import math

from keras_gap.checks import Integer
from keras_gap.generators.resnet_generator import resnet_generator
from keras_gap.generators.separable_resnet_generator import separable_resnet_generator
from keras_gap.generators.unet_generator import unet_generator

# Images whose longer side is at most this many pixels get the "small" sizes.
SMALL_IMAGE_SIDE = 64
# Four times the paper's 64: a ResNet generator this wide holds 1.9e7
# weights per residual block.
MAX_GENERATOR_FILTERS = 256
# Johnson et al. use 6 or 9 residual blocks.
MAX_RESIDUAL_BLOCKS = 32
FILTERS = Integer(minimum=1, maximum=MAX_GENERATOR_FILTERS)
RESIDUAL_BLOCKS = Integer(minimum=0, maximum=MAX_RESIDUAL_BLOCKS)


def _unet_depth(image_shape):
    """The original depth 8, or fewer stages so the bottleneck is >= 1 pixel."""
    return min(8, max(1, min(image_shape[:2]).bit_length() - 1))


def _unet_depths(image_shape):
    """The depths a U-Net can have: its innermost map keeps at least one
    pixel of an image padded to at most twice its side."""
    if image_shape is None:
        return Integer(minimum=1)
    return Integer(minimum=1, maximum=max(1, math.ceil(math.log2(max(image_shape[:2])))))


def _residual_blocks(image_shape):
    return RESIDUAL_BLOCKS


@dataclasses.dataclass(frozen=True)
class GeneratorSpec:
    """A generator design and its default sizes.

    ``blocks_argument`` is the builder keyword that ``--generator-blocks``
    sets; ``small`` and ``large`` are ``(filters, blocks)`` defaults for
    small images (side <= ``SMALL_IMAGE_SIDE``) and large ones, a blocks
    value of None meaning ``default_blocks(image_shape)``;
    ``blocks_rule(image_shape)`` is the ``checks.Rule`` a blocks value must
    meet (``image_shape`` None: before the image size is known).
    """

    builder: object
    blocks_argument: str
    small: tuple
    large: tuple
    default_blocks: object = None
    blocks_rule: object = _residual_blocks


GENERATORS = {
    "separable_resnet": GeneratorSpec(
        separable_resnet_generator, "num_residual_blocks", small=(32, 4), large=(64, 6)),
    "resnet": GeneratorSpec(
        resnet_generator, "num_residual_blocks", small=(32, 3), large=(64, 6)),
    "unet": GeneratorSpec(
        unet_generator, "depth", small=(32, None), large=(64, None),
        default_blocks=_unet_depth, blocks_rule=_unet_depths),
}


def _spec(kind):
    if kind not in GENERATORS:
        raise ValueError(f"generator must be one of {sorted(GENERATORS)}, got {kind!r}")
    return GENERATORS[kind]


def check_generator_size(kind, filters=None, blocks=None, image_shape=None):
    """Raises a ``ValueError`` naming the flag for an unknown design, or
    ``filters`` / ``blocks`` it cannot be built with (the U-Net's depth
    also against ``image_shape`` when given); None means the default."""
    spec = _spec(kind)
    FILTERS.optional(filters, "--generator-filters")
    if blocks is not None:
        rule = spec.blocks_rule(image_shape)
        name = ("--generator-blocks" if spec.blocks_argument == "num_residual_blocks" else
                "--generator-blocks (the U-Net's depth"
                + ("" if image_shape is None else
                   f" for {image_shape[0]}x{image_shape[1]} images") + ")")
        rule.check(blocks, name)


def generator_arguments(kind, image_shape, filters=None, blocks=None):
    """Builder keyword arguments for ``kind`` at ``image_shape``.

    ``filters`` and ``blocks`` (residual blocks, or the U-Net's depth)
    override the defaults for the image size when given.
    """
    spec = _spec(kind)
    small = max(image_shape[:2]) <= SMALL_IMAGE_SIDE
    default_filters, default_blocks = spec.small if small else spec.large
    if blocks is None:
        blocks = default_blocks if default_blocks is not None else spec.default_blocks(
            image_shape)
    return {"filters": filters or default_filters, spec.blocks_argument: blocks}


def build_generator(kind, input_shape, **kwargs):
    """Builds the generator ``kind`` (a key of ``GENERATORS``) for
    ``input_shape``; ``kwargs`` go to its builder."""
    return _spec(kind).builder(input_shape, **kwargs)


__all__ = [
    "GENERATORS",
    "GeneratorSpec",
    "build_generator",
    "check_generator_size",
    "generator_arguments",
    "resnet_generator",
    "separable_resnet_generator",
    "unet_generator",
]
