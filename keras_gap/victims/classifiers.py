"""Classifiers this project trains as victims (no pretrained weights here).

``build_classifier`` knows the three small networks below and every
``APPLICATIONS`` name (built with random weights and resized inside).
All take images in [0, 1] and return logits.
"""

import keras

from keras_gap.victims.applications import APPLICATIONS
from keras_gap.victims.applications import application_classifier


def small_cnn(input_shape, num_classes):
    """Four 3×3 convolutions and a dense head (≈91 % on Fashion-MNIST)."""
    inputs = keras.Input(input_shape, name="images")
    x = inputs
    for i, filters in enumerate((32, 32, 64, 64)):
        x = keras.layers.Conv2D(
            filters, 3, padding="same", activation="relu", name=f"conv_{i}"
        )(x)
        if i % 2 == 1:
            x = keras.layers.MaxPooling2D(name=f"pool_{i}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(128, activation="relu", name="dense")(x)
    x = keras.layers.Dropout(0.3, name="dropout")(x)
    outputs = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name="small_cnn")


def _residual_unit(x, filters, stride, name):
    shortcut = x
    y = keras.layers.Conv2D(
        filters, 3, strides=stride, padding="same", use_bias=False, name=f"{name}_conv_1"
    )(x)
    y = keras.layers.BatchNormalization(momentum=0.9, name=f"{name}_bn_1")(y)
    y = keras.layers.ReLU(name=f"{name}_relu_1")(y)
    y = keras.layers.Conv2D(
        filters, 3, padding="same", use_bias=False, name=f"{name}_conv_2"
    )(y)
    y = keras.layers.BatchNormalization(momentum=0.9, name=f"{name}_bn_2")(y)
    if stride != 1 or shortcut.shape[-1] != filters:
        shortcut = keras.layers.Conv2D(
            filters, 1, strides=stride, use_bias=False, name=f"{name}_projection"
        )(shortcut)
    y = keras.layers.Add(name=f"{name}_add")([shortcut, y])
    return keras.layers.ReLU(name=f"{name}_relu_2")(y)


def small_resnet(input_shape, num_classes):
    """Three residual stages (16, 32, 64 filters) with batch norm."""
    inputs = keras.Input(input_shape, name="images")
    x = keras.layers.Conv2D(16, 3, padding="same", use_bias=False, name="stem_conv")(
        inputs
    )
    x = keras.layers.BatchNormalization(momentum=0.9, name="stem_bn")(x)
    x = keras.layers.ReLU(name="stem_relu")(x)
    for i, (filters, stride) in enumerate(((16, 1), (32, 2), (64, 2))):
        x = _residual_unit(x, filters, stride, name=f"stage_{i}")
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name="small_resnet")


def small_strided_cnn(input_shape, num_classes):
    """Strided 5×5 convolutions (no pooling), batch norm, ELU and global
    average pooling: a third small family, for transfer tables."""
    inputs = keras.Input(input_shape, name="images")
    x = inputs
    for i, (filters, stride) in enumerate(((24, 1), (48, 2), (48, 1), (96, 2))):
        x = keras.layers.Conv2D(
            filters, 5, strides=stride, padding="same", use_bias=False, name=f"conv_{i}"
        )(x)
        x = keras.layers.BatchNormalization(momentum=0.9, name=f"bn_{i}")(x)
        x = keras.layers.ELU(name=f"elu_{i}")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name="small_strided_cnn")


SMALL_ARCHITECTURES = {
    "small_cnn": small_cnn,
    "small_resnet": small_resnet,
    "small_strided_cnn": small_strided_cnn,
}
ARCHITECTURES = sorted(SMALL_ARCHITECTURES) + sorted(APPLICATIONS)


def build_classifier(architecture, input_shape, num_classes):
    """Builds an untrained classifier ``architecture`` for ``input_shape``."""
    if architecture in SMALL_ARCHITECTURES:
        return SMALL_ARCHITECTURES[architecture](tuple(input_shape), num_classes)
    if architecture in APPLICATIONS:
        return application_classifier(
            architecture,
            input_shape=tuple(input_shape),
            num_classes=num_classes,
            weights=None,
            batch_norm_momentum=0.9,
        )
    raise ValueError(
        f"unknown architecture {architecture!r}; choose one of {ARCHITECTURES}"
    )
