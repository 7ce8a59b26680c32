"""Training segmentation victims (FCN-8s, DeepLabV3+) on a segmentation data set."""

import os
import sys
import time

import keras
import numpy as np

from keras_gap.artifacts import save_keras
from keras_gap.data import load_image_data
from keras_gap.objectives.segmentation import IGNORE_LABEL
from keras_gap.victims.segmenters import build_segmenter

# fashion_scenes is grey; Cityscapes-style sets are RGB at the victim's size.
DEFAULT_SHAPES = {"fashion_scenes": (64, 128, 1)}


def evaluate_segmenter(model, data, batch_size=32, limit=None):
    """``{"pixel_accuracy", "miou"}`` of ``model`` on ``data`` (ignore label excluded)."""
    from keras_gap.evaluation.segmentation import confusion_matrix
    from keras_gap.evaluation.segmentation import mean_iou
    from keras_gap.evaluation.segmentation import pixel_accuracy

    num_classes = int(model.output_shape[-1])
    confusion = np.zeros((num_classes, num_classes), np.int64)
    for images, labels in data.dataset(batch_size, limit=limit):
        predictions = np.argmax(model(images, training=False).numpy(), -1)
        confusion += confusion_matrix(labels.numpy(), predictions, num_classes)
    return {"pixel_accuracy": pixel_accuracy(confusion), "miou": mean_iou(confusion)}


def train_segmenter(architecture, dataset, output, width=1.0, backbone_weights=None,
                    epochs=2, batch_size=32, learning_rate=1e-3, seed=0, limit=None,
                    image_shape=None, tfds_data_dir=None, eval_images=500,
                    verbose=None, log=print):
    """Trains ``architecture`` on ``dataset``'s train split and saves it.

    Returns ``{"test_pixel_accuracy", "test_miou", "seconds", "parameters"}``.
    The saved model takes images in [0, 1] and returns per-pixel logits.
    """
    if not os.fspath(output).endswith(".keras"):
        raise ValueError(f"output must end in .keras, got {output!r}")
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch size must be >= 1, got {epochs}, {batch_size}")
    image_shape = tuple(image_shape or DEFAULT_SHAPES.get(dataset) or ())
    if not image_shape:
        raise ValueError(f"{dataset} needs --image-height and --image-width")
    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2
    keras.utils.set_random_seed(seed)
    train = load_image_data(dataset, "train", image_shape, tfds_data_dir)
    test = load_image_data(dataset, "test", image_shape, tfds_data_dir)
    if train.make_dataset().element_spec[1].shape.rank != 2:
        raise ValueError(f"{dataset} has no label maps; segmenters need a segmentation data set")
    num_classes = len(train.class_names)
    model = build_segmenter(architecture, image_shape, num_classes, width=width,
                            backbone_weights=backbone_weights)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(
            from_logits=True, ignore_class=IGNORE_LABEL),
    )
    log(f"Training segmenter {architecture} (width {width:g}, {model.count_params():,} "
        f"parameters) on {dataset} for {epochs} epoch(s)")
    start = time.perf_counter()
    model.fit(train.dataset(batch_size, shuffle_seed=seed, limit=limit),
              epochs=epochs, verbose=verbose, shuffle=False)
    seconds = time.perf_counter() - start
    scores = evaluate_segmenter(model, test, limit=eval_images)
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    save_keras(model, output)
    log(f"Segmenter test pixel accuracy {scores['pixel_accuracy']:.4f}, mIoU "
        f"{scores['miou']:.4f} (first {eval_images} test images) after {seconds:.0f} s; "
        f"saved to {output}")
    return {"test_pixel_accuracy": scores["pixel_accuracy"], "test_miou": scores["miou"],
            "seconds": seconds, "parameters": int(model.count_params())}
