"""Keras Applications classifiers as victims, preprocessing included.

Every model built here takes RGB (or grey, tiled to RGB) images in [0, 1],
resizes them up to the architecture's minimum side when needed, applies the
architecture's own preprocessing, and returns logits
(``classifier_activation=None``).
"""

import dataclasses
import os

import keras

from keras_gap.layers import ImagenetPreprocessing


@dataclasses.dataclass(frozen=True)
class ApplicationSpec:
    constructor: str  # attribute of keras.applications
    preprocessing: str  # ImagenetPreprocessing mode
    default_size: int
    min_size: int


APPLICATIONS = {
    "vgg16": ApplicationSpec("VGG16", "caffe", 224, 32),
    "vgg19": ApplicationSpec("VGG19", "caffe", 224, 32),
    "resnet50": ApplicationSpec("ResNet50", "caffe", 224, 32),
    "resnet101": ApplicationSpec("ResNet101", "caffe", 224, 32),
    "resnet152": ApplicationSpec("ResNet152", "caffe", 224, 32),
    "resnet50_v2": ApplicationSpec("ResNet50V2", "tf", 224, 32),
    "resnet152_v2": ApplicationSpec("ResNet152V2", "tf", 224, 32),
    "inception_v3": ApplicationSpec("InceptionV3", "tf", 299, 75),
    "inception_resnet_v2": ApplicationSpec("InceptionResNetV2", "tf", 299, 75),
    "xception": ApplicationSpec("Xception", "tf", 299, 71),
    "mobilenet": ApplicationSpec("MobileNet", "tf", 224, 32),
    "mobilenet_v2": ApplicationSpec("MobileNetV2", "tf", 224, 32),
    "densenet121": ApplicationSpec("DenseNet121", "torch", 224, 32),
    "efficientnet_b0": ApplicationSpec("EfficientNetB0", "raw255", 224, 32),
}


def check_weights(weights, what="victim weights"):
    """Returns ``weights`` ("imagenet", None or a local ``.weights.h5`` file,
    made a plain path); raises ``ValueError`` naming ``what`` otherwise."""
    if weights in (None, "imagenet"):
        return weights
    weights = os.fspath(weights)
    if not os.path.isfile(weights):
        raise ValueError(
            f"{what} must be 'imagenet', none or an existing .weights.h5 file, "
            f"got {weights!r}"
        )
    return weights


def application_classifier(
    name, input_shape=None, num_classes=1000, weights=None, batch_norm_momentum=None
):
    """Builds the Keras Applications network ``name`` as a victim model.

    Args:
        name: a key of ``APPLICATIONS`` (e.g. "vgg16", "inception_v3").
        input_shape: ``(H, W, C)`` of the images in [0, 1]; ``C`` may be 1
            (tiled to RGB). Defaults to the architecture's ImageNet size.
        num_classes: number of classes of the classification head.
        weights: None (random), "imagenet" (downloads from Keras' servers,
            the only network access in the package) or a local
            ``.weights.h5`` file of the bare application.
        batch_norm_momentum: if given, overrides the batch-norm momentum
            (0.9 lets a network trained from scratch for a few epochs settle
            its running statistics; the Keras default of 0.99/0.999 does not).
    """
    if name not in APPLICATIONS:
        raise ValueError(
            f"unknown Keras Applications victim {name!r}; choose one of "
            f"{sorted(APPLICATIONS)}"
        )
    spec = APPLICATIONS[name]
    weights = check_weights(weights)
    if input_shape is None:
        input_shape = (spec.default_size, spec.default_size, 3)
    height, width, channels = input_shape
    if channels not in (1, 3):
        raise ValueError(f"{name} needs 1 or 3 channels, got input_shape {input_shape}")

    inputs = keras.Input(tuple(input_shape), name="images")
    x = inputs
    if channels == 1:
        x = keras.layers.Concatenate(name="grey_to_rgb")([x, x, x])
    if min(height, width) < spec.min_size:
        scale = spec.min_size / min(height, width)
        height, width = round(height * scale), round(width * scale)
        x = keras.layers.Resizing(height, width, name="resize_to_minimum")(x)
    x = ImagenetPreprocessing(spec.preprocessing, name="preprocessing")(x)
    network = getattr(keras.applications, spec.constructor)(
        include_top=True,
        weights=weights,
        input_shape=(height, width, 3),
        classes=num_classes,
        classifier_activation=None,
    )
    if batch_norm_momentum is not None:
        for layer in network.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.momentum = batch_norm_momentum
    outputs = network(x)
    return keras.Model(inputs, outputs, name=name)
