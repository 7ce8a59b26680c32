"""The two Keras internals keras_gap uses (``keras_gap.keras_internals``),
checked against what they stand for: a Keras upgrade that changes either
fails here, naming it, rather than in a user's run."""

import h5py
import keras
import numpy as np

from keras_gap.keras_internals import graph_nodes
from keras_gap.keras_internals import weights_file_bytes


def _model():
    inputs = keras.Input((6, 6, 2))
    shared = keras.layers.Conv2D(3, 3, padding="same", name="shared")
    x = shared(inputs)
    x = keras.layers.Add(name="add")([x, shared(inputs)])
    outputs = keras.layers.Dense(4, name="head")(keras.layers.Flatten(name="flat")(x))
    return keras.Model(inputs, outputs)


def _datasets(path_or_file):
    names = {}
    with h5py.File(path_or_file, "r") as handle:
        handle.visititems(lambda name, item: names.__setitem__(name, np.asarray(item))
                          if isinstance(item, h5py.Dataset) else None)
    return names


def test_weights_file_bytes_is_what_save_weights_writes(tmp_path):
    model = _model()
    model.compile(keras.optimizers.Adam(), "mse")
    model.fit(np.ones((4, 6, 6, 2)), np.ones((4, 4)), verbose=0)  # optimizer state too
    path = tmp_path / "public.weights.h5"
    model.save_weights(path)
    ours = tmp_path / "ours.weights.h5"
    ours.write_bytes(weights_file_bytes(model))
    public, private = _datasets(path), _datasets(ours)
    assert sorted(public) == sorted(private) and any("optimizer" in n for n in public)
    for name in public:
        np.testing.assert_array_equal(public[name], private[name])
    restored = _model()
    restored.compile(keras.optimizers.Adam(), "mse")
    restored.optimizer.build(restored.trainable_variables)
    restored.load_weights(ours)
    for a, b in zip(model.weights, restored.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_graph_nodes_lists_every_layer_call_with_its_shapes():
    calls = [(layer.name, inputs, outputs) for layer, inputs, outputs in graph_nodes(_model())]
    names = [name for name, _, _ in calls]
    assert names.count("shared") == 2  # a shared layer: one entry per call
    assert names.index("shared") < names.index("add") < names.index("flat") < names.index(
        "head")
    assert ("add", [(6, 6, 3), (6, 6, 3)], [(6, 6, 3)]) in calls
    assert ("head", [(108,)], [(4,)]) in calls
    sequential = keras.Sequential([keras.Input((5,)), keras.layers.Dense(2, name="only")])
    assert [(layer.name, i, o) for layer, i, o in graph_nodes(sequential)
            if layer.name == "only"] == [("only", [(5,)], [(2,)])]


def test_graph_nodes_refuses_a_model_without_a_graph():
    class Subclassed(keras.Model):
        def call(self, x):
            return x

    try:
        graph_nodes(Subclassed(name="sub"))
    except ValueError as error:
        assert "Subclassed 'sub'" in str(error)
    else:
        raise AssertionError("a subclassed model has no layer graph")
