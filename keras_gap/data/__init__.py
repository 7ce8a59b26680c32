"""Image data sets as ``tf.data`` pipelines of (image in [0, 1], label).

``load_image_data(spec, split, ...)`` understands ``fashion_mnist``,
``fashion_scenes``, ``folder:PATH`` and ``tfds:NAME``; ``split`` is
"train", "validation", "test" or ``HELD_OUT`` (validation where the data set
has it, else test). Every source shuffles before decoding and keeps only a
few decoded images in memory; ``ImageData.sample`` draws the seeded random
sample that "evaluate on N images" means.

The names below are loaded when first used (PEP 562), so that reading a
split name or a class list (the programs' flags) does not import
TensorFlow: a program that never reads data, such as ``train.speed`` under
``KERAS_BACKEND=jax`` on a machine without TensorFlow, stays free of it.
"""

import importlib

_SOURCES = {
    "cityscapes_target_map": "cityscapes",
    "DEFAULT_SAMPLE_SEED": "examples",
    "FASHION_MNIST_CLASSES": "fashion_mnist",
    "load_fashion_mnist": "fashion_mnist",
    "ImageData": "image_data",
    "IMAGENET_WNIDS": "imagenet_classes",
    "load_image_data": "sources",
    "EXPLICIT_SPLITS": "splits",
    "HELD_OUT": "splits",
    "SPLITS": "splits",
}

__all__ = sorted(_SOURCES)


def __getattr__(name):
    if name not in _SOURCES:
        raise AttributeError(f"module 'keras_gap.data' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"keras_gap.data.{_SOURCES[name]}"), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
