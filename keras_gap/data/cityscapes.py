"""Cityscapes semantic segmentation from a prepared TFDS data set.

TFDS ``cityscapes/semantic_segmentation`` stores ``image_left`` (RGB) and
``segmentation_label`` holding Cityscapes **labelIds** (0–33). Segmenters
are trained and evaluated on the 19 **train ids**; every other labelId
becomes ``IGNORE_LABEL`` (255), which no loss or metric counts. Images are
resized bilinearly and label maps with nearest neighbour to the victim's
input shape (the original GAP code used 1024 × 512).
"""

import numpy as np
import tensorflow as tf

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


def cityscapes_data(builder, tfds_split, split, spec, image_shape):
    """``ImageData`` of (image in [0, 1], train-id map) from a TFDS builder whose
    features are Cityscapes' ``image_left`` and ``segmentation_label``."""
    from keras_gap.data.fashion_scenes import resize_pair
    from keras_gap.data.image_data import ImageData

    if image_shape is None:
        raise ValueError(f"{spec} needs an image shape (taken from the victim)")
    image_shape = tuple(int(d) for d in image_shape)

    def make_dataset():
        dataset = builder.as_dataset(split=tfds_split)

        def convert(example):
            image = tf.cast(example["image_left"], tf.float32) / 255.0
            label_map = to_train_ids(example["segmentation_label"][..., 0])
            return resize_pair(image, label_map, image_shape)

        return dataset.map(convert, num_parallel_calls=tf.data.AUTOTUNE)

    return ImageData(
        spec, split, image_shape, list(CITYSCAPES_CLASSES),
        builder.info.splits[tfds_split].num_examples, make_dataset,
    )
