"""``fashion_scenes``: a small segmentation data set made of real Fashion-MNIST items.

Each scene is a 64 × 128 canvas (the 1:2 aspect of Cityscapes) holding two
to five Fashion-MNIST items at random positions (later items cover earlier
ones). The label map is ``class + 1`` where an item's pixel is foreground
(grey value ≥ ``FOREGROUND_THRESHOLD``) and 0 (background) elsewhere: 11
classes. Train scenes use only train images, test scenes only test images.

Scenes are rendered on the fly and are fully deterministic: scene ``i`` of a
split depends only on ``(seed, split, i)``.
"""

import numpy as np
import tensorflow as tf

from keras_gap.data.fashion_mnist import FASHION_MNIST_CLASSES
from keras_gap.data.fashion_mnist import load_fashion_mnist
from keras_gap.data.examples import IndexedExamples
from keras_gap.data.image_data import ImageData
from keras_gap.data.image_data import resize_pair
from keras_gap.data.splits import HELD_OUT
from keras_gap.data.splits import TEST

SCENE_SHAPE = (64, 128)
SCENE_CLASSES = ["background", *FASHION_MNIST_CLASSES]
SCENE_COUNTS = {"train": 12_000, "test": 2_000}
ITEMS_PER_SCENE = (2, 5)  # inclusive range
FOREGROUND_THRESHOLD = 26  # grey values below this count as background
_SPLIT_IDS = {"train": 0, "test": 1}
_ITEM = 28


class FashionScenes:
    """Renders the scenes of one split from the Fashion-MNIST arrays."""

    def __init__(self, split, seed=0):
        if split not in _SPLIT_IDS:
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        self.split = split
        self.seed = int(seed)
        self.images, self.labels = load_fashion_mnist(split)
        self.num_examples = SCENE_COUNTS[split]

    def render(self, index):
        """Returns ``(image uint8 (64, 128), label map int32 (64, 128))``."""
        index = int(index)
        if not 0 <= index < self.num_examples:
            raise ValueError(
                f"fashion_scenes {self.split} has scenes 0..{self.num_examples - 1}, "
                f"got {index}"
            )
        rng = np.random.default_rng([self.seed, _SPLIT_IDS[self.split], index])
        height, width = SCENE_SHAPE
        image = np.zeros(SCENE_SHAPE, np.uint8)
        label_map = np.zeros(SCENE_SHAPE, np.int32)
        count = int(rng.integers(ITEMS_PER_SCENE[0], ITEMS_PER_SCENE[1] + 1))
        for item in rng.integers(0, len(self.labels), size=count):
            top = int(rng.integers(0, height - _ITEM + 1))
            left = int(rng.integers(0, width - _ITEM + 1))
            pixels = self.images[item, :, :, 0]
            foreground = pixels >= FOREGROUND_THRESHOLD
            window = (slice(top, top + _ITEM), slice(left, left + _ITEM))
            image[window] = np.where(foreground, pixels, image[window])
            label_map[window] = np.where(
                foreground, int(self.labels[item]) + 1, label_map[window]
            )
        return image, label_map

    def label_map(self, index):
        return self.render(index)[1]


def fashion_scenes_data(split, image_shape=None, seed=0):
    """The ``fashion_scenes`` split as an ``ImageData`` of (image, label map)."""
    if split == HELD_OUT:
        split = TEST
    if split not in _SPLIT_IDS:
        raise ValueError(f"fashion_scenes has no {split} split (it has train, test)")
    scenes = FashionScenes(split, seed)
    native = SCENE_SHAPE + (1,)
    image_shape = tuple(image_shape or native)
    if len(image_shape) != 3 or image_shape[-1] not in (1, 3):
        raise ValueError(
            f"fashion_scenes images are (H, W, 1) or (H, W, 3), asked for {image_shape}"
        )

    def render(index):
        image, label_map = scenes.render(index)
        return image[..., None], label_map

    def load(index):
        image, label_map = tf.numpy_function(
            render, [index], (tf.uint8, tf.int32), stateful=False
        )
        image = tf.cast(tf.reshape(image, native), tf.float32) / 255.0
        label_map = tf.reshape(label_map, SCENE_SHAPE)
        return resize_pair(image, label_map, image_shape)

    return ImageData(
        "fashion_scenes", split, image_shape, list(SCENE_CLASSES),
        IndexedExamples(scenes.num_examples, load),
    )
