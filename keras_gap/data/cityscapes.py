"""Cityscapes semantic segmentation from a prepared TFDS data set.

TFDS ``cityscapes/semantic_segmentation`` stores ``image_left`` (RGB) and
``segmentation_label`` holding Cityscapes **labelIds** (0–33). Segmenters
are trained and evaluated on the 19 **train ids**; every other labelId
becomes ``IGNORE_LABEL`` (255), which no loss or metric counts. Images are
resized bilinearly and label maps with nearest neighbour to the victim's
input shape (the original GAP code used 1024 × 512).
"""

import os

import numpy as np
import tensorflow as tf
from PIL import Image

from keras_gap.data.image_data import resize_pair
from keras_gap.objectives.segmentation import IGNORE_LABEL

CITYSCAPES_CLASSES = [
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light",
    "traffic sign", "vegetation", "terrain", "sky", "person", "rider", "car",
    "truck", "bus", "train", "motorcycle", "bicycle",
]

# labelId -> trainId, from cityscapesScripts/helpers/labels.py.
LABEL_ID_TO_TRAIN_ID = {
    7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10,
    24: 11, 25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18,
}


def train_id_table():
    """A 256-entry lookup table: labelId (any uint8) -> trainId or 255."""
    table = np.full(256, IGNORE_LABEL, np.int32)
    for label_id, train_id in LABEL_ID_TO_TRAIN_ID.items():
        table[label_id] = train_id
    return table


def to_train_ids(label_ids):
    """Maps a labelId map (tensor or array) to train ids, 255 elsewhere."""
    table = tf.constant(train_id_table())
    return tf.gather(table, tf.cast(label_ids, tf.int32))


def has_train_ids(label_map):
    """Whether any pixel of a train-id map is labelled (not ``IGNORE_LABEL``)."""
    return bool(np.any(np.asarray(label_map) != IGNORE_LABEL))


def cityscapes_decoder(features, image_shape):
    """``decode(example) -> (image in [0, 1], train-id map)`` for TFDS records
    whose ``image_left`` and ``segmentation_label`` are still encoded."""
    image_shape = tuple(int(d) for d in image_shape)
    image_feature = features["image_left"]
    label_feature = features["segmentation_label"]

    def decode(example):
        image = tf.cast(image_feature.decode_example(example["image_left"]), tf.float32) / 255.0
        label_ids = label_feature.decode_example(example["segmentation_label"])[..., 0]
        return resize_pair(image, to_train_ids(label_ids), image_shape)

    return decode


def cityscapes_target_map(path, shape=None):
    """A train-id target map from a Cityscapes ``*_gtFine_labelIds.png``.

    The paper's targeted segmentation attack moves every image's prediction
    to one fixed ground truth (e.g. ``monchengladbach_000000_026602``). Its
    labelIds become train ids (255 where Cityscapes does not evaluate), and
    the map is resized with nearest neighbour to ``shape`` = ``(H, W)``
    (the victim's output size, e.g. 512 x 1024) when given.
    """
    path = str(path)
    if not os.path.isfile(path):
        raise ValueError(f"Cityscapes label map not found: {path!r}")
    try:
        with Image.open(path) as image:
            if image.mode not in ("L", "P", "I", "I;16"):
                raise ValueError(
                    f"Cityscapes label map {path!r} is a {image.mode} image; give the "
                    "single-channel *_gtFine_labelIds.png (not *_color.png)"
                )
            label_ids = np.asarray(image).astype(np.int64)
    except OSError as error:
        raise ValueError(f"Cityscapes label map {path!r} is not a readable image: {error}") from None
    if label_ids.min() < 0 or label_ids.max() > 255:
        raise ValueError(f"{path!r} holds values outside 0..255; it is not a labelIds map")
    train_ids = train_id_table()[label_ids]
    if not has_train_ids(train_ids):
        raise ValueError(f"{path!r} has no pixel of the 19 evaluated Cityscapes classes")
    if shape is not None and tuple(shape) != train_ids.shape:
        resized = Image.fromarray(train_ids.astype(np.uint8), mode="L").resize(
            (int(shape[1]), int(shape[0])), Image.NEAREST
        )
        train_ids = np.asarray(resized).astype(np.int32)
    return train_ids.astype(np.int32)
