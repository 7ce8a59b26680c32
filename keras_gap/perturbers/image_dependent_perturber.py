"""Image-dependent perturber: the generator sees the image itself."""

import keras

from keras_gap.perturbers.perturber import Perturber


@keras.saving.register_keras_serializable(package="keras_gap")
class ImageDependentPerturber(Perturber):
    """``δ(x) = projection(generator(x))``: one perturbation per image."""

    kind = "image_dependent"

    @classmethod
    def build(cls, generator, projection, seed=0):
        """A new image-dependent perturber (``seed`` is only the generator's)."""
        return cls(generator, projection, name="image_dependent_perturber")

    def perturbation(self, images, training=False):
        return self.projection(self.generator(images, training=training))
