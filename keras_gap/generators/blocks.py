"""Building blocks shared by the generators."""

import keras

from keras_gap.layers import ReflectionPadding2D


def conv_initializer(seed=None):
    """Normal(0, 0.02) weights, as the original GAP ``weights_init``."""
    return keras.initializers.RandomNormal(0.0, 0.02, seed=seed)


def instance_norm(name):
    """Instance normalisation (GroupNormalization with one group per channel)."""
    return keras.layers.GroupNormalization(groups=-1, epsilon=1e-5, name=name)


def check_image_shape(input_shape):
    if len(input_shape) != 3 or any(
        d is None or int(d) < 1 for d in input_shape
    ):
        raise ValueError(
            "a generator needs a fixed (height, width, channels) input shape, "
            f"got {tuple(input_shape)}"
        )
    return tuple(int(d) for d in input_shape)


def pad_to_multiple(x, height, width, multiple, name):
    """Reflect-pads ``x`` so both sides are multiples of ``multiple``.

    Returns the padded tensor and the ``((top, bottom), (left, right))``
    amounts, so the output can be cropped back with ``crop_back``.
    """
    pad_h = (-height) % multiple
    pad_w = (-width) % multiple
    amounts = ((pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2))
    if pad_h == 0 and pad_w == 0:
        return x, amounts
    if pad_h >= height or pad_w >= width:
        # Reflection needs the pad to be smaller than the side.
        return keras.layers.ZeroPadding2D(amounts, name=name)(x), amounts
    return ReflectionPadding2D(amounts, name=name)(x), amounts


def crop_back(x, amounts, name):
    if amounts == ((0, 0), (0, 0)):
        return x
    return keras.layers.Cropping2D(amounts, name=name)(x)


def resample(x, width, stages, init, prefix, convolution):
    """``stages`` stride-2 convolutions (``convolution``: ``Conv2D`` down,
    doubling the width, or ``Conv2DTranspose`` up, halving it), each
    followed by instance norm and ReLU; layers named ``{prefix}_{i}_*``."""
    for i in range(stages):
        width = width * 2 if prefix == "down" else width // 2
        x = convolution(width, 3, strides=2, padding="same", kernel_initializer=init,
                        name=f"{prefix}_{i}_conv")(x)
        x = instance_norm(f"{prefix}_{i}_norm")(x)
        x = keras.layers.ReLU(name=f"{prefix}_{i}_relu")(x)
    return x
