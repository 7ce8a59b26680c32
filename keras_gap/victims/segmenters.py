"""Segmentation victims: FCN-8s (the paper's) and DeepLabV3+ (keras-hub).

Every model built here takes images in [0, 1] of shape ``(H, W, 1 or 3)``
(grey images are tiled to RGB inside) and returns per-pixel logits
``(batch, H, W, num_classes)``. H and W must be multiples of 32.
"""

import zipfile

import keras
import numpy as np

from keras_gap.layers import ImagenetPreprocessing
from keras_gap.victims.applications import check_weights

_VGG16_WIDTHS = (64, 128, 256, 512, 512)
_VGG16_CONVS = (2, 2, 3, 3, 3)
_FC_WIDTH = 4096


@keras.saving.register_keras_serializable(package="keras_gap")
class BilinearUpsampling(keras.initializers.Initializer):
    """Kernel of a ``Conv2DTranspose`` that starts as bilinear upsampling of
    each channel (FCN's initialisation of its learned upsampling)."""

    def __call__(self, shape, dtype=None):
        size, _, out_channels, in_channels = shape
        factor = (size + 1) // 2
        center = factor - 1 if size % 2 == 1 else factor - 0.5
        grid = np.arange(size, dtype="float32")
        line = 1.0 - np.abs(grid - center) / factor
        kernel = np.zeros(shape, "float32")
        for channel in range(min(out_channels, in_channels)):
            kernel[:, :, channel, channel] = np.outer(line, line)
        return keras.ops.convert_to_tensor(kernel, dtype=dtype or "float32")

    def get_config(self):
        return {}


def _check_shape(input_shape):
    input_shape = tuple(int(d) for d in input_shape)
    if len(input_shape) != 3 or input_shape[-1] not in (1, 3):
        raise ValueError(f"segmenter input must be (H, W, 1 or 3), got {input_shape}")
    if input_shape[0] % 32 or input_shape[1] % 32:
        raise ValueError(
            f"segmenter input height and width must be multiples of 32, got {input_shape}"
        )
    return input_shape


def _rgb(inputs):
    if inputs.shape[-1] == 3:
        return inputs
    return keras.layers.Concatenate(name="grey_to_rgb")([inputs, inputs, inputs])


def _scaled(width, channels):
    return max(4, int(round(channels * width)))


def _vgg16_features(input_shape, width, backbone_weights):
    """A VGG16 feature extractor returning (pool3, pool4, pool5).

    Width 1 is ``keras.applications.VGG16`` itself (so ImageNet weights
    load); smaller widths build the same topology with ``width`` × the
    filters, under the same layer names.
    """
    rgb_shape = input_shape[:2] + (3,)
    if width == 1.0:
        vgg = keras.applications.VGG16(
            include_top=False, weights=backbone_weights, input_shape=rgb_shape
        )
        outputs = [vgg.get_layer(f"block{b}_pool").output for b in (3, 4, 5)]
        return keras.Model(vgg.input, outputs, name="vgg16_features")
    inputs = keras.Input(rgb_shape, name="vgg_input")
    x = inputs
    outputs = []
    for block, (filters, convs) in enumerate(zip(_VGG16_WIDTHS, _VGG16_CONVS), start=1):
        for conv in range(1, convs + 1):
            x = keras.layers.Conv2D(
                _scaled(width, filters), 3, padding="same", activation="relu",
                name=f"block{block}_conv{conv}",
            )(x)
        x = keras.layers.MaxPooling2D(2, strides=2, name=f"block{block}_pool")(x)
        if block >= 3:
            outputs.append(x)
    model = keras.Model(inputs, outputs, name="vgg16_features")
    if backbone_weights is not None:
        model.load_weights(backbone_weights)
    return model


def _check_weights(backbone_weights, width):
    backbone_weights = check_weights(
        None if backbone_weights == "none" else backbone_weights, "backbone weights")
    if backbone_weights == "imagenet" and width != 1.0:
        raise ValueError("ImageNet backbone weights need the full-width FCN-8s (--width 1)")
    return backbone_weights


def fcn8s(input_shape, num_classes, width=1.0, backbone_weights=None, dropout=0.5):
    """FCN-8s (Long et al.) on a VGG16 backbone, as the GAP paper attacks.

    Skip connections from pool3 and pool4, learned ×2, ×2, ×8 transposed
    convolutions (initialised to bilinear upsampling), fc6/fc7 as
    convolutions. ``width`` scales every layer's filters (1.0: the real
    VGG16 from ``keras.applications``; e.g. 0.125 trains on 2 CPU cores).

    Args:
        input_shape: ``(H, W, 1 or 3)``, H and W multiples of 32.
        num_classes: classes of the label maps.
        width: filter multiplier in (0, 1].
        backbone_weights: None/"none", "imagenet" (full width, RGB) or a
            local ``.weights.h5`` file of the backbone.
    """
    input_shape = _check_shape(input_shape)
    width = float(width)
    if not 0.0 < width <= 1.0:
        raise ValueError(f"width must be in (0, 1], got {width}")
    backbone_weights = _check_weights(backbone_weights, width)
    inputs = keras.Input(input_shape, name="images")
    x = ImagenetPreprocessing("caffe", name="vgg_preprocessing")(_rgb(inputs))
    pool3, pool4, pool5 = _vgg16_features(input_shape, width, backbone_weights)(x)
    fc = _scaled(width, _FC_WIDTH)
    x = keras.layers.Conv2D(fc, 7, padding="same", activation="relu", name="fc6")(pool5)
    x = keras.layers.Dropout(dropout, name="drop6")(x)
    x = keras.layers.Conv2D(fc, 1, activation="relu", name="fc7")(x)
    x = keras.layers.Dropout(dropout, name="drop7")(x)
    score = keras.layers.Conv2D(num_classes, 1, name="score_fr")(x)
    up2 = keras.layers.Conv2DTranspose(
        num_classes, 4, strides=2, padding="same", use_bias=False,
        kernel_initializer=BilinearUpsampling(), name="upscore2"
    )(score)
    score4 = keras.layers.Conv2D(
        num_classes, 1, kernel_initializer="zeros", name="score_pool4"
    )(pool4)
    fuse4 = keras.layers.Add(name="fuse_pool4")([up2, score4])
    up4 = keras.layers.Conv2DTranspose(
        num_classes, 4, strides=2, padding="same", use_bias=False,
        kernel_initializer=BilinearUpsampling(), name="upscore_pool4"
    )(fuse4)
    score3 = keras.layers.Conv2D(
        num_classes, 1, kernel_initializer="zeros", name="score_pool3"
    )(pool3)
    fuse3 = keras.layers.Add(name="fuse_pool3")([up4, score3])
    outputs = keras.layers.Conv2DTranspose(
        num_classes, 16, strides=8, padding="same", use_bias=False,
        kernel_initializer=BilinearUpsampling(), name="upscore8"
    )(fuse3)
    return keras.Model(inputs, outputs, name="fcn8s")


def keras_hub_available():
    try:
        import keras_hub  # noqa: F401
    except ImportError:
        return False
    return True


def deeplabv3plus(input_shape, num_classes, width=1.0, backbone_weights=None):
    """DeepLabV3+ from keras-hub on a ResNet-50 v1 encoder (random init).

    Built offline from a backbone config (keras-hub's only preset needs a
    download). ``width`` < 1 shrinks the encoder (one bottleneck block per
    stage, stages 2–4 with filters × width but at least 64) for CPU training. ``backbone_weights`` may be a local
    ``.weights.h5`` of the ResNet encoder. Always call the result with
    ``training=False`` once trained (``Victim`` does): keras-hub's pyramid
    pooling otherwise updates batch-norm statistics.
    """
    if not keras_hub_available():
        raise ValueError(
            "DeepLabV3+ needs keras-hub: pip install keras-hub (it is in requirements.txt)"
        )
    import keras_hub

    input_shape = _check_shape(input_shape)
    width = float(width)
    if not 0.0 < width <= 1.0:
        raise ValueError(f"width must be in (0, 1], got {width}")
    if backbone_weights == "imagenet":
        raise ValueError(
            "keras-hub ResNet ImageNet weights need a download; give a local "
            ".weights.h5 of the encoder or 'none'"
        )
    backbone_weights = _check_weights(backbone_weights, width)
    rgb_shape = input_shape[:2] + (3,)
    blocks = [3, 4, 6, 3] if width == 1.0 else [1, 1, 1, 1]
    encoder = keras_hub.models.ResNetBackbone(
        input_conv_filters=[_scaled(width, 64)], input_conv_kernel_sizes=[7],
        # keras-hub requires 64 filters in the first stage.
        stackwise_num_filters=[64] + [max(64, _scaled(width, f)) for f in (128, 256, 512)],
        stackwise_num_blocks=blocks, stackwise_num_strides=[1, 2, 2, 2],
        block_type="bottleneck_block", image_shape=rgb_shape,
    )
    if backbone_weights is not None:
        encoder.load_weights(backbone_weights)
    backbone = keras_hub.models.DeepLabV3Backbone(
        image_encoder=encoder, low_level_feature_key="P2",
        spatial_pyramid_pooling_key="P5", upsampling_size=8,
        dilation_rates=[6, 12, 18], projection_filters=_scaled(width, 48),
        image_shape=rgb_shape,
    )
    segmenter = keras_hub.models.DeepLabV3ImageSegmenter(
        backbone=backbone, num_classes=num_classes, activation=None,
    )
    inputs = keras.Input(input_shape, name="images")
    x = ImagenetPreprocessing("torch", name="imagenet_preprocessing")(_rgb(inputs))
    outputs = segmenter(x)
    return keras.Model(inputs, outputs, name="deeplabv3plus")


SEGMENTERS = {"fcn8s": fcn8s, "deeplabv3plus": deeplabv3plus}


def build_segmenter(architecture, input_shape, num_classes, width=1.0,
                    backbone_weights=None):
    """Builds an untrained segmenter ``architecture`` (a key of ``SEGMENTERS``)."""
    if architecture not in SEGMENTERS:
        raise ValueError(
            f"unknown segmenter {architecture!r}; choose one of {sorted(SEGMENTERS)}")
    return SEGMENTERS[architecture](input_shape, num_classes, width=width,
                                    backbone_weights=backbone_weights)


def import_model_packages(path):
    """Imports keras-hub when the ``.keras`` file at ``path`` uses its classes,
    so that loading registers them (keras-hub is imported lazily elsewhere)."""
    try:
        with zipfile.ZipFile(path) as archive:
            config = archive.read("config.json")
    except (OSError, KeyError, zipfile.BadZipFile):
        return
    if b"keras_hub" in config and keras_hub_available():
        import keras_hub  # noqa: F401
