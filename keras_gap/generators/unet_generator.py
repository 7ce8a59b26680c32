"""The U-Net generator (pix2pix style) used by GAP for L2 and segmentation.

``depth`` stride-2 4×4 convs down (LeakyReLU 0.2, instance norm except on
the first and innermost), as many 4×4 transposed convs up (ReLU, instance
norm, dropout on the first ``min(3, depth - 1)`` up-layers), skip
connections by concatenation, tanh. The original uses depth 8, which needs
sides divisible by 256; here the input is padded to a multiple of
``2 ** depth`` and the output cropped back, so any size works. Unlike the
original code, every layer has its own normalisation (the original shared one
module between eight layers by mistake).
"""

import keras

from keras_gap.generators.blocks import check_image_shape
from keras_gap.generators.blocks import conv_initializer
from keras_gap.generators.blocks import crop_back
from keras_gap.generators.blocks import instance_norm
from keras_gap.generators.blocks import pad_to_multiple


def unet_generator(
    input_shape,
    output_channels=None,
    filters=64,
    depth=8,
    dropout=0.5,
    seed=None,
    name="unet_generator",
):
    """Builds a U-Net generator as a functional ``keras.Model``.

    Args:
        input_shape: ``(height, width, channels)``, values in [0, 1].
        output_channels: channels of the perturbation; defaults to the input's.
        filters: width of the first layer (ngf); widths double up to 8×.
        depth: number of down-sampling stages (the original uses 8).
        dropout: dropout rate on the first up-sampling layers.
        seed: seed of the weight initialiser.
    """
    height, width, channels = check_image_shape(input_shape)
    if filters < 1 or depth < 1:
        raise ValueError(
            f"filters and depth must be >= 1, got filters={filters}, depth={depth}"
        )
    output_channels = output_channels or channels
    init = conv_initializer(seed)

    inputs = keras.Input((height, width, channels), name="generator_input")
    x = keras.layers.Rescaling(2.0, offset=-1.0, name="to_signed")(inputs)
    x, amounts = pad_to_multiple(x, height, width, 2**depth, name="pad_to_multiple")

    skips = []
    for i in range(depth):
        if i > 0:
            x = keras.layers.LeakyReLU(0.2, name=f"down_{i}_leaky_relu")(x)
        x = keras.layers.Conv2D(
            filters * min(2**i, 8), 4, strides=2, padding="same",
            kernel_initializer=init, name=f"down_{i}_conv",
        )(x)
        if 0 < i < depth - 1:
            x = instance_norm(f"down_{i}_norm")(x)
        skips.append(x)

    for i in reversed(range(depth)):
        if i < depth - 1:
            x = keras.layers.Concatenate(name=f"up_{i}_skip")([x, skips[i]])
        x = keras.layers.ReLU(name=f"up_{i}_relu")(x)
        out_filters = output_channels if i == 0 else filters * min(2 ** (i - 1), 8)
        x = keras.layers.Conv2DTranspose(
            out_filters, 4, strides=2, padding="same",
            kernel_initializer=init, name=f"up_{i}_conv",
        )(x)
        if i > 0:
            x = instance_norm(f"up_{i}_norm")(x)
            if dropout and depth - 1 - i < 3:
                x = keras.layers.Dropout(dropout, name=f"up_{i}_dropout")(x)

    x = crop_back(x, amounts, name="crop_to_input")
    outputs = keras.layers.Activation("tanh", name="tanh")(x)
    return keras.Model(inputs, outputs, name=name)
