"""``ImageData``: a split of a data set, ready for training or evaluation."""

import dataclasses

import tensorflow as tf

from keras_gap.data.examples import DEFAULT_SAMPLE_SEED
from keras_gap.data.examples import sample_indices

# Decoded batches a pipeline keeps ready ahead of the consumer.
PREFETCH_BATCHES = 2
# Bad files named in a report; the rest are counted.
_NAMED_FILES = 3


@dataclasses.dataclass
class ImageData:
    """One split of a data set.

    Attributes:
        name: the data set spec it came from (e.g. "fashion_mnist").
        split: the split it holds: "train", "validation" or "test".
        image_shape: ``(H, W, C)`` of every image.
        class_names: names of the label ids (for an ImageNet folder, all
            1,000 WordNet ids, whatever classes the folder holds).
        source: an ``IndexedExamples`` or ``StreamedExamples`` that reads
            ``(float32 image in [0, 1], int32 label or label map)`` pairs.
        skipped_files: ``(path, reason)`` of each file of a ``folder:`` split
            left out because it is not a readable image.
    """

    name: str
    split: str
    image_shape: tuple
    class_names: list
    source: object
    skipped_files: tuple = ()

    @property
    def num_examples(self):
        return self.source.num_examples

    def make_dataset(self):
        """The unbatched examples in the split's own order."""
        return self.source.examples()

    def sample(self, count, seed=DEFAULT_SAMPLE_SEED):
        """A seeded uniform random sample of ``count`` examples across the
        whole split (all of it when ``count`` is not smaller). The same
        ``(count, seed)`` gives the same examples, in the same order, to every
        method that evaluates on it."""
        positions = sample_indices(self.num_examples, count, seed)
        if len(positions) == self.num_examples:
            return self
        return dataclasses.replace(self, source=self.source.subset(positions))

    def dataset(self, batch_size, shuffle_seed=None, repeat=False, limit=None,
                sample_seed=DEFAULT_SAMPLE_SEED):
        """Batched pipeline.

        Args:
            batch_size: images per batch.
            shuffle_seed: shuffle (before decoding) with this seed, a fresh
                order every epoch; ``None`` keeps the split's own order.
            repeat: repeat without end.
            limit: use only a seeded random sample of ``limit`` examples
                drawn across the whole split (``sample``), not the first ones.
            sample_seed: the seed of that sample.
        """
        data = self if limit is None else self.sample(limit, sample_seed)
        dataset = data.source.examples(shuffle_seed, repeat)
        return dataset.batch(batch_size).prefetch(PREFETCH_BATCHES)

    def skipped_report(self):
        """One line on the files left out, for programs to print; ``None``
        when none were."""
        if not self.skipped_files:
            return None
        named = "; ".join(f"{path}: {reason}" for path, reason in self.skipped_files[:_NAMED_FILES])
        more = len(self.skipped_files) - _NAMED_FILES
        return (
            f"{self.name} {self.split}: skipped {len(self.skipped_files)} file(s) that are "
            f"not readable images ({named}{f'; and {more} more' if more > 0 else ''})"
        )


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


def resize_pair(image, label_map, image_shape):
    """Fits an image (bilinear) and its label map (nearest) to ``image_shape``;
    grey images are tiled to RGB when three channels are asked for."""
    height, width, channels = image_shape
    if image.shape[-1] != channels:
        if channels == 3:
            image = tf.image.grayscale_to_rgb(image)
        else:
            image = tf.reduce_mean(image, axis=-1, keepdims=True)
    if tuple(image.shape[:2]) != (height, width):
        image = tf.clip_by_value(tf.image.resize(image, (height, width)), 0.0, 1.0)
        label_map = tf.image.resize(
            label_map[..., None], (height, width), method="nearest"
        )[..., 0]
    return image, tf.cast(label_map, tf.int32)
