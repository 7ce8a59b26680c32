"""``load_image_data``: from a data set spec to an ``ImageData`` split."""

import tensorflow as tf

from keras_gap.data.examples import IndexedExamples
from keras_gap.data.fashion_mnist import FASHION_MNIST_CLASSES
from keras_gap.data.fashion_mnist import load_fashion_mnist
from keras_gap.data.fashion_scenes import fashion_scenes_data
from keras_gap.data.folder import folder_data
from keras_gap.data.image_data import ImageData
from keras_gap.data.image_data import fit_to_shape
from keras_gap.data.splits import HELD_OUT
from keras_gap.data.splits import TEST
from keras_gap.data.splits import check_split
from keras_gap.data.tfds_source import tfds_data


def fashion_mnist_data(split, image_shape=None):
    """Fashion-MNIST's train or test split (held-out: test)."""
    if split == HELD_OUT:
        split = TEST
    if split not in ("train", "test"):
        raise ValueError(f"fashion_mnist has no {split} split (it has train, test)")
    images, labels = load_fashion_mnist(split)
    native = images.shape[1:]
    image_tensor, label_tensor = tf.constant(images), tf.constant(labels)

    def load(index):
        image = tf.cast(tf.gather(image_tensor, index), tf.float32) / 255.0
        if image_shape is not None and tuple(image_shape) != native:
            image = fit_to_shape(image, image_shape)
        return image, tf.gather(label_tensor, index)

    return ImageData(
        "fashion_mnist", split, tuple(image_shape or native),
        list(FASHION_MNIST_CLASSES), IndexedExamples(len(labels), load),
    )


# Data sets named in full; families are named "folder:PATH" and "tfds:NAME".
_NAMED = {"fashion_mnist": fashion_mnist_data, "fashion_scenes": fashion_scenes_data}


def load_image_data(spec, split, image_shape=None, tfds_data_dir=None,
                    refuse_bad_files=False):
    """Loads ``split`` of the data set ``spec``.

    Args:
        spec: "fashion_mnist", "fashion_scenes" (segmentation), "folder:PATH"
            or "tfds:NAME" (Cityscapes-style TFDS sets give label maps).
        split: "train", "validation", "test", or "held_out": validation where
            the data set has it, else test (see ``keras_gap.data.splits``).
        image_shape: ``(H, W, C)`` the images must have (usually the
            victim's input shape); images are resized and cropped to it.
        tfds_data_dir: TFDS data directory for "tfds:NAME".
        refuse_bad_files: for "folder:PATH", raise a ``ValueError`` naming
            the files that are not readable images instead of leaving them
            out (``ImageData.skipped_files``).
    """
    check_split(split)
    if image_shape is not None:
        image_shape = tuple(int(d) for d in image_shape)
    spec = str(spec)
    if spec in _NAMED:
        return _NAMED[spec](split, image_shape)
    prefix, _, argument = spec.partition(":")
    if prefix == "folder" and argument:
        return folder_data(argument, split, image_shape, refuse_bad_files)
    if prefix == "tfds" and argument:
        return tfds_data(argument, split, image_shape, tfds_data_dir)
    raise ValueError(
        f"unknown dataset {spec!r}: use fashion_mnist, fashion_scenes, folder:PATH "
        "or tfds:NAME"
    )
