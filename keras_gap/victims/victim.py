"""The frozen-victim wrapper: any Keras classifier or segmenter, frozen."""

import keras
from keras import ops

from keras_gap.victims.checks import check_victim_model

_LOG_FLOOR = 1e-12


def _ends_in_softmax(model):
    layer = model.layers[-1]
    while isinstance(layer, keras.Model) and layer.layers:
        layer = layer.layers[-1]
    if isinstance(layer, keras.layers.Softmax):
        return True
    activation = getattr(layer, "activation", None)
    return activation is keras.activations.softmax


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
    """

    def __init__(self, model, name=None, output="auto"):
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

    @property
    def input_shape(self):
        return tuple(self.model.input_shape[1:])

    @property
    def num_classes(self):
        return int(self.model.output_shape[-1])

    def logits(self, images):
        scores = self.model(images, training=False)
        if self.output == "probabilities":
            return ops.log(ops.clip(scores, _LOG_FLOOR, 1.0))
        return scores

    def __repr__(self):
        return (
            f"Victim(name={self.name!r}, input_shape={self.input_shape}, "
            f"num_classes={self.num_classes}, output={self.output!r}, task={self.task!r})"
        )
