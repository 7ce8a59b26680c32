"""The ResNet generator of Johnson et al., as used by GAP.

Layout (``filters`` = ngf): reflect-pad 3, conv 7×7 → ``num_downsampling``
stride-2 convs doubling the width → ``num_residual_blocks`` residual blocks →
as many stride-2 transposed convs → reflect-pad 3, conv 7×7 → tanh.
Instance norm and ReLU throughout. Inputs of any fixed size are padded to a
multiple of ``2 ** num_downsampling`` and the output cropped back, so 28×28,
32×32, 224×224 and 299×299 all work.
"""

import keras

from keras_gap.generators.blocks import check_image_shape
from keras_gap.generators.blocks import conv_initializer
from keras_gap.generators.blocks import crop_back
from keras_gap.generators.blocks import instance_norm
from keras_gap.generators.blocks import pad_to_multiple
from keras_gap.generators.blocks import resample
from keras_gap.layers import ReflectionPadding2D


def _residual_block(x, filters, dropout, index, init):
    prefix = f"residual_block_{index}"
    y = ReflectionPadding2D(1, name=f"{prefix}_pad_1")(x)
    y = keras.layers.Conv2D(
        filters, 3, kernel_initializer=init, name=f"{prefix}_conv_1"
    )(y)
    y = instance_norm(f"{prefix}_norm_1")(y)
    y = keras.layers.ReLU(name=f"{prefix}_relu")(y)
    if dropout:
        y = keras.layers.Dropout(dropout, name=f"{prefix}_dropout")(y)
    y = ReflectionPadding2D(1, name=f"{prefix}_pad_2")(y)
    y = keras.layers.Conv2D(
        filters, 3, kernel_initializer=init, name=f"{prefix}_conv_2"
    )(y)
    y = instance_norm(f"{prefix}_norm_2")(y)
    return keras.layers.Add(name=f"{prefix}_add")([x, y])


def resnet_generator(
    input_shape,
    output_channels=None,
    filters=64,
    num_residual_blocks=6,
    num_downsampling=2,
    dropout=0.0,
    seed=None,
    name="resnet_generator",
):
    """Builds a ResNet generator as a functional ``keras.Model``.

    Args:
        input_shape: ``(height, width, channels)`` of the generator input
            (the image, or the fixed pattern Z of a universal perturber),
            values in [0, 1].
        output_channels: channels of the perturbation; defaults to the input's.
        filters: width of the first layer (ngf; the paper uses 64).
        num_residual_blocks: residual blocks at the bottleneck (paper: 6).
        num_downsampling: stride-2 stages (paper: 2).
        dropout: dropout rate inside residual blocks (0 disables it).
        seed: seed of the weight initialiser.

    Returns:
        A model mapping ``(batch, H, W, C)`` to ``(batch, H, W,
        output_channels)`` in [-1, 1].
    """
    height, width, channels = check_image_shape(input_shape)
    if filters < 1 or num_residual_blocks < 0 or num_downsampling < 0:
        raise ValueError(
            "filters must be >= 1 and block counts >= 0, got "
            f"filters={filters}, num_residual_blocks={num_residual_blocks}, "
            f"num_downsampling={num_downsampling}"
        )
    output_channels = output_channels or channels
    init = conv_initializer(seed)

    inputs = keras.Input((height, width, channels), name="generator_input")
    x = keras.layers.Rescaling(2.0, offset=-1.0, name="to_signed")(inputs)
    x, amounts = pad_to_multiple(
        x, height, width, 2**num_downsampling, name="pad_to_multiple"
    )
    x = ReflectionPadding2D(3, name="stem_pad")(x)
    x = keras.layers.Conv2D(filters, 7, kernel_initializer=init, name="stem_conv")(x)
    x = instance_norm("stem_norm")(x)
    x = keras.layers.ReLU(name="stem_relu")(x)

    x = resample(x, filters, num_downsampling, init, "down", keras.layers.Conv2D)
    width_now = filters * 2**num_downsampling
    for i in range(num_residual_blocks):
        x = _residual_block(x, width_now, dropout, i, init)
    x = resample(x, width_now, num_downsampling, init, "up", keras.layers.Conv2DTranspose)

    x = ReflectionPadding2D(3, name="head_pad")(x)
    x = keras.layers.Conv2D(
        output_channels, 7, kernel_initializer=init, name="head_conv"
    )(x)
    x = crop_back(x, amounts, name="crop_to_input")
    outputs = keras.layers.Activation("tanh", name="tanh")(x)
    return keras.Model(inputs, outputs, name=name)
