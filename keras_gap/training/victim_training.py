"""Training the victims this project needs (no pretrained weights here).

``train_classifier`` and ``train_segmenter`` build a network and hand it to
one skeleton, ``train_victim``: compile with Adam, fit on the train split,
score on the test split, save atomically. ``ensure_default_victim`` trains
and caches the default Fashion-MNIST victim on first use.
"""

import math
import os
import sys
import time

import keras
import numpy as np
from keras import ops

from keras_gap import checks
from keras_gap.artifacts import save_keras
from keras_gap.data import HELD_OUT
from keras_gap.artifacts import check_writable_directory
from keras_gap.data import load_image_data
from keras_gap.data.native_size import native_image_shape
from keras_gap.metrics.segmentation import confusion_matrix
from keras_gap.metrics.segmentation import mean_iou
from keras_gap.metrics.segmentation import pixel_accuracy
from keras_gap.objectives.segmentation import IGNORE_LABEL
from keras_gap.training.memory import COPIES_OF_TRAINABLE_WEIGHTS
from keras_gap.training.memory import check_batch_memory
from keras_gap.training.memory import layer_values
from keras_gap.victims.classifiers import build_classifier
from keras_gap.victims.features import single_tensor
from keras_gap.victims.segmenters import build_segmenter

DEFAULT_VICTIM_ARCHITECTURE = "small_cnn"
DEFAULT_VICTIM_EPOCHS = 2
# fashion_scenes is grey; Cityscapes-style sets are RGB at the victim's size.
DEFAULT_SEGMENTATION_SHAPES = {"fashion_scenes": (64, 128, 1)}


def _check_output(output, epochs, batch_size, seed, overwrite=False):
    """Everything about a victim's training run checked before data loads."""
    if not os.fspath(output).endswith(".keras"):
        raise ValueError(f"--output must end in .keras, got {output!r}")
    if os.path.isdir(output):
        raise ValueError(f"--output {output!r} is a directory; give the .keras file to write")
    if os.path.lexists(output) and not overwrite:
        raise ValueError(f"--output {output!r} already exists; pass --overwrite to replace it")
    check_writable_directory(os.path.dirname(os.path.abspath(output)), "--output folder")
    checks.POSITIVE_INTEGER.check(epochs, "epochs")
    checks.POSITIVE_INTEGER.check(batch_size, "batch size")
    checks.check_seed(seed)


def _training_batches(train, batch_size, seed, limit):
    """The training batches and the steps of an epoch (``None``: the data's end).

    A folder's pipeline leaves out the files that fail to decode as it reads
    them, so Keras cannot know its length and would stop the first epoch at
    the data's end with a warning ("Your input ran out of data"). Such a
    pipeline is repeated instead, and an epoch is the split's own number of
    batches.
    """
    batches = train.dataset(batch_size, shuffle_seed=seed, limit=limit)
    if int(batches.cardinality()) >= 0:
        return batches, None
    examples = (train if limit is None else train.sample(limit)).num_examples
    repeated = train.dataset(batch_size, shuffle_seed=seed, repeat=True, limit=limit)
    return repeated, math.ceil(examples / batch_size)


def train_victim(model, loss, train, test, output, score, epochs=2, batch_size=128,
                 learning_rate=1e-3, seed=0, limit=None, verbose=None, metrics=()):
    """Fits ``model`` on ``train`` and saves it to ``output`` (atomically).

    Args:
        model: an untrained Keras model taking images in [0, 1].
        loss: the Keras loss to minimise.
        train, test: ``ImageData`` splits.
        output: the ``.keras`` file to write.
        score: ``score(model, test)`` → a dict of test scores.
        limit: train on a seeded random sample of ``limit`` images only.
        metrics: Keras metrics shown while training.

    Returns ``{**scores, "seconds", "parameters"}``.
    """
    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2
    check_batch_memory(batch_size, layer_values(model),
                       COPIES_OF_TRAINABLE_WEIGHTS * model.count_params())
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss,
                  metrics=list(metrics))
    batches, steps_per_epoch = _training_batches(train, batch_size, seed, limit)
    start = time.perf_counter()
    model.fit(batches, epochs=epochs, steps_per_epoch=steps_per_epoch, verbose=verbose,
              shuffle=False)
    seconds = time.perf_counter() - start
    scores = score(model, test)
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    save_keras(model, output)
    return {**scores, "seconds": seconds, "parameters": int(model.count_params())}


def _score_classifier(model, test, batch_size=512):
    correct = total = 0
    for images, labels in test.dataset(batch_size):
        predictions = np.argmax(ops.convert_to_numpy(model(images, training=False)), -1)
        correct += int(np.sum(predictions == labels.numpy()))
        total += len(predictions)
    return {"test_accuracy": correct / max(total, 1)}


def score_segmenter(model, data, batch_size=32, limit=None):
    """``{"test_pixel_accuracy", "test_miou"}`` of ``model`` on ``data``
    (pixels labelled 255 excluded)."""
    num_classes = int(model.output_shape[-1])
    confusion = np.zeros((num_classes, num_classes), np.int64)
    for images, labels in data.dataset(batch_size, limit=limit):
        predictions = np.argmax(ops.convert_to_numpy(model(images, training=False)), -1)
        confusion += confusion_matrix(labels.numpy(), predictions, num_classes)
    return {"test_pixel_accuracy": pixel_accuracy(confusion), "test_miou": mean_iou(confusion)}


# What a trained classifier returns: its logits, or their softmax (a final
# ``Softmax`` layer, which ``Victim`` takes off again for the attacks).
OUTPUT_ACTIVATIONS = ("logits", "softmax")


def with_output_activation(model, output_activation):
    """``model`` as is ("logits") or with a final ``Softmax`` layer ("softmax")."""
    checks.OneOf(OUTPUT_ACTIVATIONS).check(output_activation, "output activation")
    if output_activation == "logits":
        return model
    outputs = keras.layers.Softmax(name="probabilities")(model.outputs[0])
    return keras.Model(single_tensor(model.inputs), outputs, name=f"{model.name}_softmax")


def train_classifier(architecture, dataset, output, epochs=2, batch_size=128,
                     learning_rate=1e-3, seed=0, limit=None, verbose=None, log=print,
                     image_size=None, tfds_data_dir=None, overwrite=False,
                     output_activation="logits"):
    """Trains ``architecture`` on ``dataset``'s train split and saves it.

    ``image_size`` is the side of the square images the model is built for;
    by default the data's own size (``native_image_shape``). An existing
    ``output`` is replaced only with ``overwrite``. Returns
    ``{"test_accuracy", "seconds", "parameters"}``; the model takes images
    in [0, 1], like every victim, and returns logits, or with
    ``output_activation="softmax"`` their softmax.
    """
    checks.OneOf(OUTPUT_ACTIVATIONS).check(output_activation, "output activation")
    _check_output(output, epochs, batch_size, seed, overwrite)
    image_shape = native_image_shape(dataset, tfds_data_dir)
    if image_size is not None:
        image_shape = (image_size, image_size, image_shape[-1] if image_shape else
                       (1 if dataset == "fashion_mnist" else 3))
    keras.utils.set_random_seed(seed)
    train = load_image_data(dataset, "train", image_shape, tfds_data_dir)
    if len(train.class_names) < 2:
        raise ValueError(f"{dataset} has {len(train.class_names)} class; a classifier "
                         "needs at least 2")
    test = load_image_data(dataset, HELD_OUT, train.image_shape, tfds_data_dir)
    model = with_output_activation(
        build_classifier(architecture, train.image_shape, len(train.class_names)),
        output_activation)
    log(f"Training victim {architecture} ({model.count_params():,} parameters, "
        f"{output_activation} output) on {dataset} for {epochs} epoch(s)")
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=output_activation == "logits")
    result = train_victim(
        model, loss, train, test,
        output, _score_classifier, epochs, batch_size, learning_rate, seed, limit, verbose,
        metrics=["accuracy"])
    log(f"Victim test accuracy {result['test_accuracy']:.4f} after {result['seconds']:.0f} s; "
        f"saved to {output}")
    return result


def train_segmenter(architecture, dataset, output, width=1.0, backbone_weights=None,
                    epochs=2, batch_size=32, learning_rate=1e-3, seed=0, limit=None,
                    image_shape=None, tfds_data_dir=None, eval_images=500,
                    verbose=None, log=print, overwrite=False):
    """Trains the segmenter ``architecture`` on ``dataset``'s train split and saves it.

    Returns ``{"test_pixel_accuracy", "test_miou", "seconds", "parameters"}``
    (scored on a seeded random sample of ``eval_images`` held-out images). The saved model takes
    images in [0, 1] and returns per-pixel logits.
    """
    _check_output(output, epochs, batch_size, seed, overwrite)
    image_shape = tuple(image_shape or DEFAULT_SEGMENTATION_SHAPES.get(dataset) or ())
    if not image_shape:
        raise ValueError(f"{dataset} needs --image-height and --image-width")
    keras.utils.set_random_seed(seed)
    train = load_image_data(dataset, "train", image_shape, tfds_data_dir)
    test = load_image_data(dataset, HELD_OUT, image_shape, tfds_data_dir)
    if train.make_dataset().element_spec[1].shape.rank != 2:
        raise ValueError(f"{dataset} has no label maps; segmenters need a segmentation data set")
    model = build_segmenter(architecture, image_shape, len(train.class_names), width=width,
                            backbone_weights=backbone_weights)
    log(f"Training segmenter {architecture} (width {width:g}, {model.count_params():,} "
        f"parameters) on {dataset} for {epochs} epoch(s)")
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True,
                                                      ignore_class=IGNORE_LABEL)
    result = train_victim(
        model, loss, train, test, output,
        lambda trained, data: score_segmenter(trained, data, limit=eval_images),
        epochs, batch_size, learning_rate, seed, limit, verbose)
    log(f"Segmenter test pixel accuracy {result['test_pixel_accuracy']:.4f}, mIoU "
        f"{result['test_miou']:.4f} ({eval_images} sampled held-out images) after "
        f"{result['seconds']:.0f} s; saved to {output}")
    return result


def cache_directory():
    """Where default victims are cached: ``$KERAS_GAP_CACHE`` or
    ``~/.cache/keras_gap``."""
    return os.environ.get(
        "KERAS_GAP_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "keras_gap")
    )


def default_victim_path(dataset="fashion_mnist"):
    return os.path.join(
        cache_directory(), "victims", f"{dataset}_{DEFAULT_VICTIM_ARCHITECTURE}.keras"
    )


def ensure_default_victim(dataset="fashion_mnist", log=print):
    """Returns the cached default victim's path, training it on first use."""
    if dataset != "fashion_mnist":
        raise ValueError(f"there is no default victim for {dataset!r}; pass --victim")
    path = default_victim_path(dataset)
    if os.path.isfile(path):
        log(f"Using the cached default victim {path}")
        return path
    log(
        f"No --victim given and no cached default victim: training "
        f"{DEFAULT_VICTIM_ARCHITECTURE} on {dataset} once (about a minute per "
        f"epoch on 2 CPU cores), cached at {path}"
    )
    train_classifier(DEFAULT_VICTIM_ARCHITECTURE, dataset, path,
                     epochs=DEFAULT_VICTIM_EPOCHS, log=log)
    return path
