"""Base class of the deployable perturbers."""

import os

import keras
from keras import ops


class Perturber(keras.Model):
    """Generator followed by a budget projection; adds δ and clips to [0, 1].

    Subclasses implement ``perturbation(images, training)``. ``call`` returns
    the adversarial images. The perturber holds no victim, so its ``.keras``
    file is the artifact to ship.

    Args:
        generator: a Keras model emitting a raw (tanh) perturbation.
        projection: a ``LinfProjection`` or ``L2Projection`` layer.
    """

    kind = None

    def __init__(self, generator, projection, **kwargs):
        super().__init__(**kwargs)
        self.generator = generator
        self.projection = projection
        # The generator is built already, so the perturber is usable and
        # savable before its first call.
        self.built = True

    @property
    def norm(self):
        return self.projection.norm_name

    @property
    def epsilon(self):
        return self.projection.epsilon

    @property
    def image_shape(self):
        """``(height, width, channels)`` of the images this perturber takes."""
        return tuple(self.generator.output_shape[1:])

    def perturbation(self, images, training=False):
        raise NotImplementedError

    def call(self, images, training=False):
        images = ops.convert_to_tensor(images, dtype="float32")
        delta = self.perturbation(images, training=training)
        return ops.clip(images + delta, 0.0, 1.0)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "generator": keras.saving.serialize_keras_object(self.generator),
            "projection": keras.saving.serialize_keras_object(self.projection),
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["generator"] = keras.saving.deserialize_keras_object(
            config["generator"]
        )
        config["projection"] = keras.saving.deserialize_keras_object(
            config["projection"]
        )
        return cls(**config)


def load_perturber(path):
    """Loads a perturber saved as ``.keras``, with a clear error otherwise."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"perturber file not found: {path!r}")
    try:
        model = keras.saving.load_model(path, safe_mode=True)
    except Exception as error:  # Keras raises many types for corrupt files.
        raise ValueError(
            f"{path!r} is not a readable .keras perturber: {error}"
        ) from None
    if not isinstance(model, Perturber):
        raise ValueError(
            f"{path!r} holds a {type(model).__name__}, not a keras_gap perturber"
        )
    return model
