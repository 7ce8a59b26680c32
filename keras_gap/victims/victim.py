"""The frozen-victim wrapper: any Keras classifier or segmenter, frozen."""

import keras
from keras import ops

from keras_gap.victims.checks import check_victim_model
from keras_gap.victims.features import SEPARATOR
from keras_gap.victims.features import default_feature_layer
from keras_gap.victims.features import feature_layer_names
from keras_gap.victims.features import feature_model
from keras_gap.victims.features import resolve_layer
from keras_gap.victims.features import single_tensor

# The smallest normal float32: log(p) keeps a gradient for every p above it.
_PROBABILITY_FLOOR = 1.1754944e-38


def _is_softmax(layer):
    if isinstance(layer, keras.layers.Softmax):
        return True
    return getattr(layer, "activation", None) is keras.activations.softmax


def _ends_in_softmax(model):
    layer = model.layers[-1]
    while isinstance(layer, keras.Model) and layer.layers:
        layer = layer.layers[-1]
    return _is_softmax(layer)


def _without_softmax(layer, inputs):
    """``layer`` applied to ``inputs`` with its final softmax left out."""
    if isinstance(layer, keras.Model):
        inner = logits_model(layer)
        if inner is None:
            raise ValueError(f"{layer.name} does not end in a removable softmax")
        return inner(inputs)
    if isinstance(layer, keras.layers.Softmax):
        return inputs
    config = {**layer.get_config(), "activation": "linear"}
    twin = type(layer).from_config(config)
    outputs = twin(inputs)
    twin.set_weights(layer.get_weights())
    twin.trainable = False
    return outputs


def _input_of_last_layer(model):
    """The tensor ``model``'s graph feeds its last layer, and the graph's
    inputs. A Sequential model is replayed on a fresh input, since a nested
    model's ``input`` is its own, not the one it was called on."""
    if isinstance(model, keras.Sequential):
        inputs = keras.Input(model.input_shape[1:])
        tensor = inputs
        for layer in model.layers[:-1]:
            tensor = layer(tensor)
        return tensor, inputs
    return model.layers[-1].input, single_tensor(model.inputs)


def logits_model(model):
    """A frozen model returning the scores ``model`` feeds its final softmax
    (a ``Softmax`` layer or a layer with ``activation="softmax"``, also
    inside a nested model), or None when its graph does not allow it.

    Logits keep the attack's gradient alive for any margin; ``log(p)`` dies
    where float32 rounds ``p`` to 0 (margins above ~87).
    """
    if not model.layers or not _ends_in_softmax(model):
        return None
    try:
        tensor, inputs = _input_of_last_layer(model)
        outputs = _without_softmax(model.layers[-1], tensor)
        logits = keras.Model(inputs, outputs, name=f"{model.name}_logits")
    except (ValueError, AttributeError, TypeError):
        return None
    logits.trainable = False
    return logits


class Victim:
    """A frozen classifier or segmenter: images in [0, 1] → class scores.

    The wrapped model owns its preprocessing. It is frozen
    (``trainable = False``) and always called with ``training=False``, so
    neither its weights nor its batch-norm statistics ever change.

    Args:
        model: a Keras model with input ``(batch, H, W, C)`` and output
            ``(batch, num_classes)`` (``task`` "classifier") or
            ``(batch, H, W, num_classes)`` (``task`` "segmenter").
        name: a short name used in metric names (defaults to ``model.name``).
        output: "logits", "probabilities", or "auto" (probabilities when the
            model ends in a softmax).
        weights: where the weights came from, for the reports: "imagenet",
            "random", or the path of the ``.weights.h5`` / ``.keras`` file
            (None: not known, e.g. a model built in the caller's script).

    ``logits(images)`` returns logits either way: for a probability victim
    the scores before its final softmax when the graph allows removing it
    (``logits_model``), else ``log(p)`` floored at the smallest normal float.
    They are float32 whatever the model computes in (a victim built under a
    mixed-precision policy), so every objective and metric is computed in
    float32.
    """

    def __init__(self, model, name=None, output="auto", weights=None):
        if not isinstance(model, keras.Model):
            raise ValueError(f"a victim must be a keras.Model, got {type(model).__name__}")
        if output not in ("auto", "logits", "probabilities"):
            raise ValueError(
                f"output must be 'auto', 'logits' or 'probabilities', got {output!r}"
            )
        check_victim_model(model, name or model.name)
        # "classifier": one score vector per image; "segmenter": one per pixel.
        self.task = "segmenter" if len(model.output_shape) == 4 else "classifier"
        model.trainable = False
        self.model = model
        self.name = name or model.name
        if output == "auto":
            output = "probabilities" if _ends_in_softmax(model) else "logits"
        self.output = output
        self._logits_model = logits_model(model) if output == "probabilities" else None
        self._feature_models = {}  # tuple of layer paths -> feature model
        self.weights = weights

    @property
    def input_shape(self):
        return tuple(self.model.input_shape[1:])

    @property
    def num_classes(self):
        return int(self.model.output_shape[-1])

    def _as_logits(self, scores):
        """Scores of ``self.model`` as float32 logits: log-probabilities for
        softmax outputs the graph hides (floored at the smallest normal float)."""
        scores = ops.cast(scores, "float32")
        if self.output == "probabilities":
            return ops.log(ops.clip(scores, _PROBABILITY_FLOOR, 1.0))
        return scores

    def logits(self, images):
        if self._logits_model is not None:
            return ops.cast(self._logits_model(images, training=False), "float32")
        return self._as_logits(self.model(images, training=False))

    @property
    def feature_layer_names(self):
        """The layer names ``features`` accepts, in graph order (layers of
        a nested model by their own name, or ``outer/inner`` if shared)."""
        return feature_layer_names(self.model)

    @property
    def default_feature_layer(self):
        """A mid-level block: the last layer at the middle one of the
        network's spatial scales (see ``victims.features``)."""
        return default_feature_layer(self.model)

    def resolve_feature_layers(self, layers=None):
        """``layers`` (None, a name or a list of names) as a tuple of full
        names; None means ``default_feature_layer``. Raises ``ValueError``
        listing the available names for an unknown one."""
        if layers is None:
            layers = [self.default_feature_layer]
        elif isinstance(layers, str):
            layers = [layers]
        return tuple(SEPARATOR.join(resolve_layer(self.model, name)) for name in layers)

    def feature_model(self, layers=None):
        """The cached functional model ``images → [*features, scores]``
        built from this victim's own (frozen) layers."""
        names = self.resolve_feature_layers(layers)
        if names not in self._feature_models:
            paths = [tuple(name.split(SEPARATOR)) for name in names]
            self._feature_models[names] = feature_model(self.model, paths)
        return self._feature_models[names]

    def features_and_logits(self, images, layers=None):
        """``(features, logits)`` from one forward pass: ``features`` is a
        list with one map per layer of ``layers`` (default: the mid-level
        block); the victim stays frozen, preprocessing included."""
        *features, scores = self.feature_model(layers)(images, training=False)
        return features, self._as_logits(scores)

    def features(self, images, layers=None):
        """Feature maps of ``images`` (in [0, 1]) at ``layers``: a tensor for
        None (the mid-level default) or one name, a list for a list."""
        features, _ = self.features_and_logits(images, layers)
        if layers is None or isinstance(layers, str):
            return features[0]
        return features

    def __repr__(self):
        return (
            f"Victim(name={self.name!r}, input_shape={self.input_shape}, "
            f"num_classes={self.num_classes}, output={self.output!r}, task={self.task!r}, "
            f"weights={self.weights!r})"
        )
