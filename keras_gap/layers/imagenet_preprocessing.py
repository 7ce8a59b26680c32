"""The Keras Applications preprocessing conventions, for inputs in [0, 1]."""

import keras
from keras import ops

# Per-channel statistics of ImageNet, RGB order.
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
_TORCH_MEAN = (0.485, 0.456, 0.406)
_TORCH_STD = (0.229, 0.224, 0.225)

MODES = ("caffe", "tf", "torch", "raw255")


@keras.saving.register_keras_serializable(package="keras_gap")
class ImagenetPreprocessing(keras.layers.Layer):
    """Maps RGB images in [0, 1] to what a Keras Applications network expects.

    Modes (as ``keras.applications.imagenet_utils.preprocess_input``):
    ``caffe`` (VGG, ResNet v1: BGR, mean-subtracted 0–255), ``tf``
    (Inception, MobileNet, ResNet v2: [-1, 1]), ``torch`` (DenseNet:
    mean/std normalised), ``raw255`` (EfficientNet, ConvNeXt: 0–255, the
    network normalises itself).
    """

    def __init__(self, mode, **kwargs):
        super().__init__(**kwargs)
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.mode = mode

    def call(self, images):
        if self.mode == "caffe":
            bgr = ops.flip(images, axis=-1) * 255.0
            return bgr - ops.convert_to_tensor(_CAFFE_MEAN_BGR, dtype=bgr.dtype)
        if self.mode == "tf":
            return images * 2.0 - 1.0
        if self.mode == "torch":
            mean = ops.convert_to_tensor(_TORCH_MEAN, dtype=images.dtype)
            std = ops.convert_to_tensor(_TORCH_STD, dtype=images.dtype)
            return (images - mean) / std
        return images * 255.0

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}
