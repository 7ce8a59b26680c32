"""Shared fixtures: real Fashion-MNIST slices and small, really trained victims.

Victims are trained once per session in a few seconds; every other model in
the tests is tiny (4–8 generator filters) so the suite runs in minutes on two
CPU cores.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Beside other pytest-xdist workers, one OpenMP thread each: PyTorch's default of a
# thread per core oversubscribes the cores (on 2 cores the PyTorch run of the neutral
# tests took 172 s instead of 58 s, and the PyTorch victim test 3 minutes instead of
# 40 s). The subprocesses that tests start inherit it. TensorFlow's time is unchanged.
if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
    os.environ.setdefault("OMP_NUM_THREADS", "1")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from keras_gap.data import load_fashion_mnist  # noqa: E402

# ART's logging set-up (run when it is first imported) binds a handler to
# the sys.stderr of that moment. Imported inside a test using capsys, that is
# capsys's buffer, closed after the test: the next log record (a tf.function
# retrace warning) then fails with "I/O operation on closed file" and takes
# the session's output with it. Import it here, outside any test.
try:
    import art  # noqa: E402,F401
except ImportError:  # the benchmark's optional extra
    pass


@pytest.fixture(scope="session")
def fashion_train():
    images, labels = load_fashion_mnist("train")
    return images.astype(np.float32) / 255.0, labels


@pytest.fixture(scope="session")
def fashion_test():
    images, labels = load_fashion_mnist("test")
    return images.astype(np.float32) / 255.0, labels


def tiny_classifier(input_shape=(28, 28, 1), num_classes=10, batch_norm=False, name="tiny"):
    inputs = keras.Input(input_shape)
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(inputs)
    if batch_norm:
        x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Conv2D(16, 3, strides=2, activation="relu")(x)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(num_classes)(x)
    return keras.Model(inputs, outputs, name=name)


def train_briefly(model, images, labels, epochs=1, batch_size=64):
    model.compile(
        optimizer=keras.optimizers.Adam(2e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.fit(images, labels, epochs=epochs, batch_size=batch_size, verbose=0)
    return model


@pytest.fixture(scope="session")
def tiny_victim_model(fashion_train):
    """A tiny conv net trained for a few seconds on 6,000 real images."""
    keras.utils.set_random_seed(1)
    images, labels = fashion_train
    return train_briefly(tiny_classifier(), images[:6000], labels[:6000])


@pytest.fixture(scope="session")
def tiny_victim_path(tiny_victim_model, tmp_path_factory):
    path = tmp_path_factory.mktemp("victims") / "tiny_victim.keras"
    tiny_victim_model.save(path)
    return str(path)


@pytest.fixture(scope="session")
def exports(tmp_path_factory):
    """A tiny universal and image-dependent perturber, each exported as a SavedModel."""
    from keras_gap.serving.export import export_savedmodel
    from serving_helpers import KINDS
    from serving_helpers import Export
    from serving_helpers import tiny_perturber

    output = tmp_path_factory.mktemp("serving")
    result = {}
    for kind in KINDS:
        perturber = tiny_perturber(kind)
        result[kind] = Export(perturber, export_savedmodel(perturber, output, kind))
    return result
