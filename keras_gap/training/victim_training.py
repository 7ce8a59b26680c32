"""Training the victims this project needs (no pretrained weights here)."""

import os
import sys
import time

import keras

from keras_gap.artifacts import save_keras
from keras_gap.data import load_image_data
from keras_gap.victims.classifiers import build_classifier

DEFAULT_VICTIM_ARCHITECTURE = "small_cnn"
DEFAULT_VICTIM_EPOCHS = 2


def cache_directory():
    """Where default victims are cached: ``$KERAS_GAP_CACHE`` or
    ``~/.cache/keras_gap``."""
    return os.environ.get(
        "KERAS_GAP_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "keras_gap")
    )


def train_classifier(architecture, dataset, output, epochs=2, batch_size=128,
                     learning_rate=1e-3, seed=0, limit=None, verbose=None,
                     log=print):
    """Trains ``architecture`` on ``dataset``'s train split and saves it.

    Returns ``{"test_accuracy", "seconds", "parameters"}``; the model is
    written atomically to ``output`` (a ``.keras`` path) and takes images
    in [0, 1], like every victim.
    """
    if not os.fspath(output).endswith(".keras"):
        raise ValueError(f"output must end in .keras, got {output!r}")
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch size must be >= 1, got {epochs}, {batch_size}")
    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2
    keras.utils.set_random_seed(seed)
    train = load_image_data(dataset, "train")
    test = load_image_data(dataset, "test", image_shape=train.image_shape)
    model = build_classifier(architecture, train.image_shape, len(train.class_names))
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    log(
        f"Training victim {architecture} ({model.count_params():,} parameters) "
        f"on {dataset} for {epochs} epoch(s)"
    )
    start = time.perf_counter()
    model.fit(
        train.dataset(batch_size, shuffle_seed=seed, limit=limit),
        epochs=epochs, verbose=verbose, shuffle=False,
    )
    seconds = time.perf_counter() - start
    _, accuracy = model.evaluate(test.dataset(512), verbose=0)
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    save_keras(model, output)
    log(f"Victim test accuracy {accuracy:.4f} after {seconds:.0f} s; saved to {output}")
    return {"test_accuracy": float(accuracy), "seconds": seconds,
            "parameters": int(model.count_params())}


def default_victim_path(dataset="fashion_mnist"):
    return os.path.join(
        cache_directory(), "victims", f"{dataset}_{DEFAULT_VICTIM_ARCHITECTURE}.keras"
    )


def ensure_default_victim(dataset="fashion_mnist", log=print):
    """Returns the cached default victim's path, training it on first use."""
    if dataset != "fashion_mnist":
        raise ValueError(
            f"there is no default victim for {dataset!r}; pass --victim"
        )
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
