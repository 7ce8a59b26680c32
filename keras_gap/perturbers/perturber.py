"""Base class of the deployable perturbers."""

import os

import keras
from keras import ops

from keras_gap import backend
from keras_gap.artifacts import check_keras_archive


class Perturber(keras.Model):
    """Generator followed by a budget projection; adds δ and clips to [0, 1].

    Subclasses implement ``perturbation(images, training)``. ``call`` returns
    the adversarial images. The perturber holds no victim, so its ``.keras``
    file is the artifact to ship.

    Args:
        generator: a Keras model emitting a raw (tanh) perturbation.
        projection: a budget projection layer (``projection_for_norm``):
            ``LinfProjection``, ``L2Projection``,
            ``StraightThroughLinfProjection`` or ``ClipProjection``. It also
            adds the perturbation and clips (``projection.add_to``); one with
            ``needs_images`` (``ClipProjection(generator_output="image")``)
            is called as ``projection(generator_output, images)``.
    """

    kind = None
    # Whether one perturbation serves every image (the universal kind: the
    # generator runs on a fixed pattern) or each image gets its own.
    shared_perturbation = False

    def __init__(self, generator, projection, **kwargs):
        # float32 whatever the global policy: under a mixed policy only the
        # generator computes in 16 bits; images, δ and the clip stay exact.
        kwargs.setdefault("dtype", "float32")
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
    def projection_method(self):
        """"scale", "straight_through_2018" or "clip" (``PROJECTION_METHODS``)."""
        return self.projection.method

    @property
    def image_shape(self):
        """``(height, width, channels)`` of the images this perturber takes."""
        return tuple(self.generator.output_shape[1:])

    def perturbation(self, images, training=False):
        raise NotImplementedError

    def fixed_perturbation(self):
        """The one perturbation ``(1, H, W, C)`` every image gets, as NumPy,
        or None when each image gets its own."""
        return None

    def project(self, generator_output, images):
        """``generator_output`` projected into the budget (relative to
        ``images`` for projections that need them)."""
        if self.projection.needs_images:
            return self.projection(generator_output, images)
        return self.projection(generator_output)

    def check_images(self, images):
        """Raises ``ValueError`` for images this perturber cannot take.

        The shape is checked always (also while tracing a graph); the [0, 1]
        range only where values are known (not while a graph is traced).
        """
        shape = tuple(images.shape)
        if len(shape) != 4 or any(
            known is not None and known != wanted
            for known, wanted in zip(shape[1:], self.image_shape)
        ):
            raise ValueError(
                f"images must have shape (batch,) + {self.image_shape}, got {shape}"
            )
        if not backend.is_traced(images):
            backend.check_unit_range(images)

    def call(self, images, training=False):
        images = ops.convert_to_tensor(images, dtype="float32")
        self.check_images(images)
        delta = self.perturbation(images, training=training)
        return self.projection.add_to(images, delta)

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


def load_perturber(path, safe_mode=True):
    """Loads a perturber saved as ``.keras``, with a clear error otherwise.

    ``safe_mode=False`` lets ``Lambda`` layers run the Python code stored in
    the file: only for files you trust.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise ValueError(f"perturber {path!r} is a directory, expected a .keras file")
    if not os.path.isfile(path):
        raise ValueError(f"perturber file not found: {path!r}")
    check_keras_archive(path, "perturber")
    try:
        model = keras.saving.load_model(path, safe_mode=safe_mode)
    except Exception as error:  # Keras raises many types for corrupt files.
        hint = ""
        if safe_mode and "safe_mode" in str(error):
            hint = ("; if you trust this file, pass --unsafe-deserialization (it runs "
                    "Python code stored in the file)")
        raise ValueError(
            f"{path!r} is not a readable .keras perturber: {error}{hint}"
        ) from None
    if not isinstance(model, Perturber):
        raise ValueError(
            f"{path!r} holds a {type(model).__name__}, not a keras_gap perturber"
        )
    return model
