"""A ResNet generator built for cost: no wide layer runs at full resolution.

The paper's ResNet generator spends most of its 96 GFLOP per 299×299 image
in full 3×3 convolutions of 256 channels at a quarter of the resolution, and
runs 64-channel 7×7 convolutions at full resolution. This design keeps the
shape of the idea (encode, residual blocks at low resolution, decode, tanh)
and moves every expensive operation off the full-resolution grid:

- the 7×7 stem convolution has stride 2, so it runs at half resolution;
- ``num_downsampling - 1`` further stride-2 3×3 convolutions double the
  width (``filters`` → ``2 · filters`` with the default 2 stages);
- the residual blocks are depthwise-separable (3×3 depthwise then 1×1
  pointwise, twice, instance norm, identity skip);
- the decoder halves the width on the way up, and the last stride-2
  transposed convolution (4×4) goes straight from ``filters`` channels to
  the output's, so the only full-resolution layer writes 1–3 channels.

At 299×299 the defaults for large images (64 filters, 6 blocks) cost
about 4.7 GFLOP per image, 1/20 of the paper's generator, and those for
small ones (32 filters, 4 blocks) 8.5 MFLOP at 28×28 (docs/benchmarks.md,
"Generator designs: cost and fooling", with what each fools). Inputs of
any fixed size are padded to a multiple of ``2 ** num_downsampling`` and
the output is cropped back.
"""

import keras

from keras_gap.generators.blocks import check_image_shape
from keras_gap.generators.blocks import conv_initializer
from keras_gap.generators.blocks import crop_back
from keras_gap.generators.blocks import instance_norm
from keras_gap.generators.blocks import pad_to_multiple
from keras_gap.generators.blocks import resample
from keras_gap.layers import ReflectionPadding2D


def _separable_residual_block(x, filters, index, init):
    """Two reflect-padded depthwise-separable 3×3 convolutions and a skip."""
    prefix = f"residual_block_{index}"
    y = x
    for part in (1, 2):
        y = ReflectionPadding2D(1, name=f"{prefix}_pad_{part}")(y)
        y = keras.layers.SeparableConv2D(
            filters, 3, depthwise_initializer=init, pointwise_initializer=init,
            name=f"{prefix}_separable_conv_{part}",
        )(y)
        y = instance_norm(f"{prefix}_norm_{part}")(y)
        if part == 1:
            y = keras.layers.ReLU(name=f"{prefix}_relu")(y)
    return keras.layers.Add(name=f"{prefix}_add")([x, y])


def _check_sizes(filters, num_residual_blocks, num_downsampling):
    if filters < 1 or num_residual_blocks < 0 or num_downsampling < 1:
        raise ValueError(
            "filters must be >= 1, num_residual_blocks >= 0 and num_downsampling "
            f">= 1, got filters={filters}, num_residual_blocks={num_residual_blocks}, "
            f"num_downsampling={num_downsampling}"
        )


def separable_resnet_generator(
    input_shape,
    output_channels=None,
    filters=32,
    num_residual_blocks=4,
    num_downsampling=2,
    seed=None,
    name="separable_resnet_generator",
):
    """Builds the cost-lean ResNet generator as a functional ``keras.Model``.

    Args:
        input_shape: ``(height, width, channels)`` of the generator input
            (the image, or the fixed pattern Z of a universal perturber),
            values in [0, 1].
        output_channels: channels of the perturbation; defaults to the input's.
        filters: width after the stride-2 stem; the residual blocks run at
            ``filters · 2 ** (num_downsampling - 1)``.
        num_residual_blocks: depthwise-separable residual blocks.
        num_downsampling: stride-2 stages, the stem included (>= 1).
        seed: seed of the weight initialiser.

    Returns:
        A model mapping ``(batch, H, W, C)`` to ``(batch, H, W,
        output_channels)`` in [-1, 1].
    """
    height, width, channels = check_image_shape(input_shape)
    _check_sizes(filters, num_residual_blocks, num_downsampling)
    output_channels = output_channels or channels
    init = conv_initializer(seed)

    inputs = keras.Input((height, width, channels), name="generator_input")
    x = keras.layers.Rescaling(2.0, offset=-1.0, name="to_signed")(inputs)
    x, amounts = pad_to_multiple(
        x, height, width, 2**num_downsampling, name="pad_to_multiple"
    )
    # 7×7 with stride 2 on a reflect-padded image: half resolution at once.
    x = ReflectionPadding2D(((3, 2), (3, 2)), name="stem_pad")(x)
    x = keras.layers.Conv2D(
        filters, 7, strides=2, kernel_initializer=init, name="stem_conv"
    )(x)
    x = instance_norm("stem_norm")(x)
    x = keras.layers.ReLU(name="stem_relu")(x)

    x = resample(x, filters, num_downsampling - 1, init, "down", keras.layers.Conv2D)
    width_now = filters * 2 ** (num_downsampling - 1)
    for i in range(num_residual_blocks):
        x = _separable_residual_block(x, width_now, i, init)
    x = resample(x, width_now, num_downsampling - 1, init, "up", keras.layers.Conv2DTranspose)

    # The only full-resolution layer: filters → output channels.
    x = keras.layers.Conv2DTranspose(
        output_channels, 4, strides=2, padding="same",
        kernel_initializer=init, name="head_conv",
    )(x)
    x = crop_back(x, amounts, name="crop_to_input")
    outputs = keras.layers.Activation("tanh", name="tanh")(x)
    return keras.Model(inputs, outputs, name=name)
