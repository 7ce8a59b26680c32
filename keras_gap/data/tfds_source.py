"""``tfds:NAME``: a TFDS data set prepared on this machine (nothing is downloaded).

Image features are read still encoded (``tfds.decode.SkipDecoding``): a
shuffled pipeline shuffles the files (seeded, a fresh order every epoch) and
then the encoded records in a buffer of at most ``RECORD_BUFFER_BYTES``, and
decodes only after that. Classification sets need ``image`` and ``label``
features; Cityscapes-style sets (``image_left``, ``segmentation_label``)
give train-id label maps (``keras_gap.data.cityscapes``).

Evaluation splits are checked for labels: one whose first examples are all
unlabelled (ImageNet's test labels are -1; every pixel of Cityscapes' test
label maps is "unlabeled") is refused instead of being scored into 0 or NaN.
"""

import tensorflow as tf
import tensorflow_datasets as tfds

from keras_gap.data.cityscapes import CITYSCAPES_CLASSES
from keras_gap.data.cityscapes import cityscapes_decoder
from keras_gap.data.cityscapes import has_train_ids
from keras_gap.data.examples import StreamedExamples
from keras_gap.data.image_data import ImageData
from keras_gap.data.image_data import fit_to_shape
from keras_gap.data.splits import TRAIN
from keras_gap.data.splits import VALIDATION
from keras_gap.data.splits import resolve_split

# Memory the example shuffle may fill with encoded records (ImageNet's JPEGs
# average ~110 kB: ~2,400 records; Cityscapes' PNG pairs ~2.5 MB: ~100).
RECORD_BUFFER_BYTES = 256 * 2**20
SHUFFLE_BUFFER_RANGE = (16, 10_000)
# Examples looked at to decide that a split has no labels.
LABEL_PEEK = {"classification": 32, "segmentation": 2}


def _prepared_builder(name, data_dir):
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
    return builder


def _classification_decoder(features, image_shape):
    image_feature = features["image"]

    def decode(example):
        image = tf.cast(image_feature.decode_example(example["image"]), tf.float32) / 255.0
        return fit_to_shape(image, image_shape), tf.cast(example["label"], tf.int32)

    return decode


def _task(name, features):
    if "image_left" in features and "segmentation_label" in features:
        return "segmentation"
    if "image" in features and "label" in features:
        return "classification"
    raise ValueError(
        f"TFDS data set {name!r} has neither 'image' and 'label' features nor "
        "Cityscapes' 'image_left' and 'segmentation_label'"
    )


def _shuffle_buffer(split_info):
    average = split_info.num_bytes / max(1, split_info.num_examples)
    records = RECORD_BUFFER_BYTES // max(1.0, average or 100_000.0)
    low, high = SHUFFLE_BUFFER_RANGE
    return int(min(high, max(low, records)))


def _check_labelled(source, task, class_count, where, split):
    """Raises unless the first examples of an evaluation split have labels."""
    peek = LABEL_PEEK[task]
    labels = [label for _, label in source.examples().take(peek)]
    if task == "segmentation":
        labelled = [bool(has_train_ids(label)) for label in labels]
    else:
        labelled = [0 <= int(label) < class_count for label in labels]
    if labels and not any(labelled):
        advice = ("evaluate on the validation split (--split validation)"
                  if split != VALIDATION else "choose a labelled split with --split")
        raise ValueError(
            f"{where} has no labels (its first {len(labels)} examples are all "
            f"unlabelled; ImageNet's test labels are -1 and Cityscapes' test label "
            f"maps are all 'unlabeled'): {advice}"
        )


def tfds_data(name, split, image_shape, data_dir=None):
    """``split`` of the prepared TFDS data set ``name`` as an ``ImageData``."""
    if image_shape is None:
        raise ValueError(f"tfds:{name} needs an image shape (taken from the victim)")
    builder = _prepared_builder(name, data_dir)
    resolved = resolve_split(split, builder.info.splits.keys(), f"TFDS data set {name!r}")
    features = builder.info.features
    task = _task(name, features)
    decoders = {key: tfds.decode.SkipDecoding() for key, feature in features.items()
                if isinstance(feature, tfds.features.Image)}

    def records(shuffle_files, seed):
        read_config = tfds.ReadConfig(shuffle_seed=seed, shuffle_reshuffle_each_iteration=True)
        return builder.as_dataset(split=resolved, shuffle_files=shuffle_files,
                                  decoders=decoders, read_config=read_config)

    if task == "segmentation":
        decode, class_names = cityscapes_decoder(features, image_shape), CITYSCAPES_CLASSES
    else:
        decode = _classification_decoder(features, image_shape)
        label_feature = features["label"]
        class_names = list(getattr(label_feature, "names", None) or
                           [str(i) for i in range(label_feature.num_classes)])
    split_info = builder.info.splits[resolved]
    source = StreamedExamples(split_info.num_examples, records, decode,
                              _shuffle_buffer(split_info))
    if resolved != TRAIN:
        _check_labelled(source, task, len(class_names), f"tfds:{name} {resolved}", resolved)
    return ImageData(f"tfds:{name}", resolved, tuple(image_shape), list(class_names), source)

