"""Universal perturber: one perturbation for every image."""

import keras
from keras import ops

from keras_gap.perturbers.perturber import Perturber


@keras.saving.register_keras_serializable(package="keras_gap")
class UniversalPerturber(Perturber):
    """``δ = projection(generator(Z))`` for a fixed pattern Z ~ U[0, 1].

    Z is drawn once from ``seed`` and kept as a non-trainable weight, so it is
    saved with the model and restored on resume.
    """

    kind = "universal"
    shared_perturbation = True

    def __init__(self, generator, projection, seed=0, **kwargs):
        if getattr(projection, "needs_images", False):
            raise ValueError(
                f"a universal perturber makes one perturbation for every image, so its "
                f"projection cannot depend on the image; got {projection.name!r} with "
                "generator_output='image' (use generator_output='perturbation')"
            )
        super().__init__(generator, projection, **kwargs)
        self.seed = int(seed)
        pattern_shape = (1,) + tuple(generator.input_shape[1:])
        self.pattern = self.add_weight(
            name="pattern",
            shape=pattern_shape,
            initializer=keras.initializers.RandomUniform(0.0, 1.0, seed=self.seed),
            trainable=False,
        )

    @classmethod
    def build(cls, generator, projection, seed=0):
        """A new universal perturber whose pattern Z is drawn from ``seed``."""
        return cls(generator, projection, seed=seed, name="universal_perturber")

    def universal_perturbation(self, training=False):
        """The single perturbation, shape ``(1, H, W, C)``, in pixel units."""
        return self.projection(self.generator(self.pattern, training=training))

    def fixed_perturbation(self):
        return ops.convert_to_numpy(self.universal_perturbation())

    def perturbation(self, images, training=False):
        delta = self.universal_perturbation(training=training)
        return ops.broadcast_to(delta, ops.shape(images))

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}
