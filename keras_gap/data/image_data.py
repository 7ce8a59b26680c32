"""``ImageData``: a split of a data set, ready for training or evaluation."""

import dataclasses
from typing import Callable

import tensorflow as tf


@dataclasses.dataclass
class ImageData:
    """One split of a data set.

    Attributes:
        name: the data set spec it came from (e.g. "fashion_mnist").
        split: "train" or "test".
        image_shape: ``(H, W, C)`` of every image.
        class_names: names of the label ids.
        num_examples: number of examples in the split.
        make_dataset: builds an unbatched ``tf.data.Dataset`` of
            ``(float32 image in [0, 1], int32 label)``.
    """

    name: str
    split: str
    image_shape: tuple
    class_names: list
    num_examples: int
    make_dataset: Callable[[], tf.data.Dataset]

    def dataset(self, batch_size, shuffle_seed=None, repeat=False, limit=None):
        """Batched pipeline; shuffled (with ``shuffle_seed``) and repeated on request."""
        dataset = self.make_dataset()
        if limit is not None:
            dataset = dataset.take(limit)
        if shuffle_seed is not None:
            dataset = dataset.shuffle(
                min(self.num_examples, 20_000), seed=shuffle_seed,
                reshuffle_each_iteration=True,
            )
        if repeat:
            dataset = dataset.repeat()
        return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def fit_to_shape(image, image_shape):
    """Resizes (shorter side, then central crop) and sets channels.

    Images larger than the target follow the ImageNet evaluation transform
    (shorter side to ``size / 0.875``, central crop); smaller ones are
    resized directly. Grey images are tiled to RGB and RGB images averaged
    to grey when the target asks for it.
    """
    height, width, channels = image_shape
    image = tf.convert_to_tensor(image, tf.float32)
    if image.shape[-1] != channels:
        if channels == 3:
            image = tf.image.grayscale_to_rgb(image)
        else:
            image = tf.reduce_mean(image, axis=-1, keepdims=True)
    shape = tf.shape(image)
    side = tf.cast(tf.minimum(shape[0], shape[1]), tf.float32)
    target = float(max(height, width))
    resize_side = tf.maximum(target, tf.math.ceil(target / 0.875))
    scale = tf.where(side > target, resize_side / side, target / side)
    new_size = tf.cast(
        tf.math.ceil(tf.cast(shape[:2], tf.float32) * scale), tf.int32
    )
    new_size = tf.maximum(new_size, [height, width])
    image = tf.image.resize(image, new_size, antialias=True)
    image = tf.image.resize_with_crop_or_pad(image, height, width)
    return tf.clip_by_value(image, 0.0, 1.0)
