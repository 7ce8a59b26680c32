"""What the tests that run on every Keras backend share.

``tests/backend_neutral.txt`` lists the test files CI also runs under
``KERAS_BACKEND=jax`` and ``torch``; they reach tensors only through these helpers and
``keras.ops``.
"""

import keras
import numpy as np

from keras_gap import backend


def numpy(tensor):
    """Any backend's tensor (or a Keras variable) as a NumPy array."""
    return np.asarray(keras.ops.convert_to_numpy(tensor))


def mean_and_gradient(function, values):
    """``(mean of function(values), its gradient with respect to values)``
    as a float and a NumPy array."""
    values = keras.ops.convert_to_tensor(np.asarray(values, np.float32))
    mean, gradient = backend.input_gradient(lambda x: keras.ops.mean(function(x)), values)
    return float(numpy(mean)), numpy(gradient)


def on_tensorflow():
    return keras.backend.backend() == "tensorflow"
