"""The two places keras_gap reaches inside Keras, each one function.

Everything else uses Keras' public API. These two have no public
equivalent; ``tests/test_keras_internals.py`` checks each against what it
stands for, so a Keras upgrade that changes them fails there, loudly, and
not in a user's run:

* ``weights_file_bytes(model)``: what ``model.save_weights`` writes, built
  in memory (Keras' public ``save_weights`` only takes a path, and HDF5
  writing straight to a disk that fills up leaves h5py objects that crash
  at exit).
* ``graph_nodes(model)``: every call of a layer in a functional or
  Sequential model, in graph order, with its input and output shapes (the
  public ``layer.input`` / ``layer.output`` refuse shared layers).
"""

import io

import keras


class KerasInternalsError(RuntimeError):
    """The installed Keras lacks an internal keras_gap relies on."""


def _missing(what):
    return KerasInternalsError(
        f"keras {keras.__version__} has no {what}, which keras_gap relies on; install a "
        "Keras version listed in requirements.txt")


def weights_file_bytes(model):
    """The bytes of the ``.weights.h5`` file ``model.save_weights`` writes
    (every variable of ``model``, its optimizer's included), made in memory."""
    try:
        from keras.src.saving import saving_lib
        store_class, save_state = saving_lib.H5IOStore, saving_lib._save_state
    except (ImportError, AttributeError):
        raise _missing("keras.src.saving.saving_lib.H5IOStore / _save_state") from None
    buffer = io.BytesIO()
    store = store_class(buffer, mode="w")
    save_state(model, weights_store=store, assets_store=None, inner_path="",
               visited_saveables=set())
    store.close()
    return buffer.getvalue()


def graph_nodes(model):
    """``[(layer, input shapes, output shapes)]`` for every layer call of the
    functional or Sequential ``model``, inputs first; shapes leave out the
    batch axis. ``ValueError`` for a model without a layer graph."""
    graph = getattr(model, "_functional", None) or model
    nodes_by_depth = getattr(graph, "_nodes_by_depth", None)
    if nodes_by_depth is None:
        raise ValueError(
            f"cannot read the layer graph of {type(model).__name__} {model.name!r}: only "
            "functional and Sequential Keras models have one")
    calls = []
    for depth in sorted(nodes_by_depth, reverse=True):
        for node in nodes_by_depth[depth]:
            calls.append((node.operation, _shapes(node.arguments.keras_tensors),
                          _shapes(node.outputs)))
    return calls


def _shapes(tensors):
    return [tuple(tensor.shape[1:]) for tensor in keras.tree.flatten(tensors)]
