"""``load_image_data``: from a data set spec to an ``ImageData`` split."""

import os

import tensorflow as tf

from keras_gap.data.cityscapes import cityscapes_data
from keras_gap.data.fashion_mnist import FASHION_MNIST_CLASSES
from keras_gap.data.fashion_mnist import load_fashion_mnist
from keras_gap.data.image_data import ImageData
from keras_gap.data.fashion_scenes import fashion_scenes_data
from keras_gap.data.image_data import fit_to_shape

SPLITS = ("train", "test")
_IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
# Names a held-out split goes by in common layouts (ImageNet: "val").
_TEST_FOLDER_NAMES = ("test", "val", "validation")
_TEST_TFDS_SPLITS = ("test", "validation")


def _fashion_mnist(split, image_shape):
    images, labels = load_fashion_mnist(split)
    native = images.shape[1:]

    def make_dataset():
        dataset = tf.data.Dataset.from_tensor_slices((images, labels))

        def convert(image, label):
            image = tf.cast(image, tf.float32) / 255.0
            if image_shape is not None and tuple(image_shape) != native:
                image = fit_to_shape(image, image_shape)
            return image, label

        return dataset.map(convert, num_parallel_calls=tf.data.AUTOTUNE)

    return ImageData(
        "fashion_mnist", split, tuple(image_shape or native),
        list(FASHION_MNIST_CLASSES), len(labels), make_dataset,
    )


def _folder_split(root, split):
    """Files and labels of ``split`` of an ImageNet-style folder.

    ``root/train/<class>/*`` and ``root/val|test/<class>/*`` when those exist;
    otherwise ``root/<class>/*`` is split deterministically: every fifth file
    of each class (sorted by name) is held out for "test".
    """
    subfolder_names = ("train",) if split == "train" else _TEST_FOLDER_NAMES
    split_root = next(
        (os.path.join(root, n) for n in subfolder_names
         if os.path.isdir(os.path.join(root, n))),
        None,
    )
    base = split_root or root
    classes = sorted(
        d for d in os.listdir(base) if os.path.isdir(os.path.join(base, d))
    )
    if not classes:
        raise ValueError(f"image folder {base!r} has no class sub-folders")
    files, labels = [], []
    for label, name in enumerate(classes):
        names = sorted(
            f for f in os.listdir(os.path.join(base, name))
            if f.lower().endswith(_IMAGE_EXTENSIONS)
        )
        if split_root is None:
            names = [f for i, f in enumerate(names) if (i % 5 == 4) == (split == "test")]
        files += [os.path.join(base, name, f) for f in names]
        labels += [label] * len(names)
    if not files:
        raise ValueError(f"image folder {base!r} has no {split} images")
    return files, labels, classes


def _image_folder(root, split, image_shape):
    if not os.path.isdir(root):
        raise ValueError(f"image folder not found: {root!r}")
    if image_shape is None:
        raise ValueError(f"folder:{root} needs an image shape (taken from the victim)")
    files, labels, classes = _folder_split(root, split)

    def make_dataset():
        dataset = tf.data.Dataset.from_tensor_slices((files, labels))

        def read(path, label):
            image = tf.io.decode_image(
                tf.io.read_file(path), channels=3, expand_animations=False
            )
            image = tf.cast(image, tf.float32) / 255.0
            return fit_to_shape(image, image_shape), tf.cast(label, tf.int32)

        return dataset.map(read, num_parallel_calls=tf.data.AUTOTUNE)

    return ImageData(
        f"folder:{root}", split, tuple(image_shape), classes, len(files), make_dataset
    )


def _tfds(name, split, image_shape, data_dir):
    import tensorflow_datasets as tfds

    if image_shape is None:
        raise ValueError(f"tfds:{name} needs an image shape (taken from the victim)")
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except Exception as error:  # TFDS raises its own types for unknown names.
        raise ValueError(f"unknown or unreadable TFDS data set {name!r}: {error}") from None
    if not builder.is_prepared():
        raise ValueError(
            f"TFDS data set {name!r} is not prepared in "
            f"{data_dir or '~/tensorflow_datasets'}; prepare it first (for "
            "imagenet2012, put the ILSVRC2012 tars in <data_dir>/downloads/manual "
            "and run tfds.builder('imagenet2012').download_and_prepare())"
        )
    available = builder.info.splits.keys()
    candidates = ("train",) if split == "train" else _TEST_TFDS_SPLITS
    tfds_split = next((s for s in candidates if s in available), None)
    if tfds_split is None:
        raise ValueError(
            f"TFDS data set {name!r} has no {split} split (it has {sorted(available)})"
        )
    features = builder.info.features
    if "image_left" in features and "segmentation_label" in features:
        return cityscapes_data(builder, tfds_split, split, f"tfds:{name}", image_shape)
    if "image" not in features or "label" not in features:
        raise ValueError(f"TFDS data set {name!r} has no 'image' and 'label' features")
    label_feature = features["label"]
    class_names = list(getattr(label_feature, "names", None) or [])
    if not class_names:
        class_names = [str(i) for i in range(label_feature.num_classes)]

    def make_dataset():
        dataset = builder.as_dataset(split=tfds_split, as_supervised=True)

        def convert(image, label):
            image = tf.cast(image, tf.float32) / 255.0
            return fit_to_shape(image, image_shape), tf.cast(label, tf.int32)

        return dataset.map(convert, num_parallel_calls=tf.data.AUTOTUNE)

    return ImageData(
        f"tfds:{name}", split, tuple(image_shape), class_names,
        builder.info.splits[tfds_split].num_examples, make_dataset,
    )


def load_image_data(spec, split, image_shape=None, tfds_data_dir=None):
    """Loads ``split`` ("train" or "test") of the data set ``spec``.

    Args:
        spec: "fashion_mnist", "fashion_scenes" (segmentation), "folder:PATH"
            or "tfds:NAME" (Cityscapes-style TFDS sets give label maps).
        split: "train" or "test" ("test" falls back to "val"/"validation").
        image_shape: ``(H, W, C)`` the images must have (usually the
            victim's input shape); images are resized and cropped to it.
        tfds_data_dir: TFDS data directory for "tfds:NAME".
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if image_shape is not None:
        image_shape = tuple(int(d) for d in image_shape)
    if spec == "fashion_mnist":
        return _fashion_mnist(split, image_shape)
    if spec == "fashion_scenes":
        return fashion_scenes_data(split, image_shape)
    if spec.startswith("folder:") and len(spec) > len("folder:"):
        return _image_folder(spec[len("folder:"):], split, image_shape)
    if spec.startswith("tfds:") and len(spec) > len("tfds:"):
        return _tfds(spec[len("tfds:"):], split, image_shape, tfds_data_dir)
    raise ValueError(
        f"unknown dataset {spec!r}: use fashion_mnist, fashion_scenes, folder:PATH "
        "or tfds:NAME"
    )
