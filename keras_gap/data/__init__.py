"""Image data sets as ``tf.data`` pipelines of (image in [0, 1], label).

``load_image_data(spec, split, ...)`` understands ``fashion_mnist``,
``folder:PATH`` and ``tfds:NAME``. Add a new source as a module here and a
branch in ``sources.py``.
"""

from keras_gap.data.fashion_mnist import FASHION_MNIST_CLASSES
from keras_gap.data.fashion_mnist import load_fashion_mnist
from keras_gap.data.image_data import ImageData
from keras_gap.data.sources import load_image_data

__all__ = [
    "FASHION_MNIST_CLASSES",
    "ImageData",
    "load_fashion_mnist",
    "load_image_data",
]
