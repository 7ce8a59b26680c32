"""Image data sets as ``tf.data`` pipelines of (image in [0, 1], label).

``load_image_data(spec, split, ...)`` understands ``fashion_mnist``,
``fashion_scenes``, ``folder:PATH`` and ``tfds:NAME``; ``split`` is
"train", "validation", "test" or ``HELD_OUT`` (validation where the data set
has it, else test). Every source shuffles before decoding and keeps only a
few decoded images in memory; ``ImageData.sample`` draws the seeded random
sample that "evaluate on N images" means.
"""

from keras_gap.data.cityscapes import cityscapes_target_map
from keras_gap.data.examples import DEFAULT_SAMPLE_SEED
from keras_gap.data.fashion_mnist import FASHION_MNIST_CLASSES
from keras_gap.data.fashion_mnist import load_fashion_mnist
from keras_gap.data.image_data import ImageData
from keras_gap.data.imagenet_classes import IMAGENET_WNIDS
from keras_gap.data.sources import load_image_data
from keras_gap.data.splits import EXPLICIT_SPLITS
from keras_gap.data.splits import HELD_OUT
from keras_gap.data.splits import SPLITS

__all__ = [
    "DEFAULT_SAMPLE_SEED",
    "EXPLICIT_SPLITS",
    "FASHION_MNIST_CLASSES",
    "HELD_OUT",
    "IMAGENET_WNIDS",
    "ImageData",
    "SPLITS",
    "cityscapes_target_map",
    "load_fashion_mnist",
    "load_image_data",
]
