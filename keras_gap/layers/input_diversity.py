"""Input diversity (DI, Xie et al., CVPR 2019), as transfer attacks train with it.

During training each adversarial image is, with probability ``probability``,
shrunk by a random factor in ``[min_scale, 1]`` and placed at a random
position on a black canvas of its own size (DI's random resize-and-pad, for
victims of a fixed input size, as TTP and later generative attacks use it)
before the victim sees it. The generator then cannot rely on a pattern the
victim only reads at one scale and position, which is what helps it transfer
to victims it never saw. At inference the layer is the identity; it is a
training-time transform of the victims' input, never part of a saved
perturber.
"""

import keras
from keras import ops
from keras import random

from keras_gap import checks

PROBABILITY = checks.Number(minimum=0, maximum=1)
MIN_SCALE = checks.Number(above=0, maximum=1)


@keras.saving.register_keras_serializable(package="keras_gap")
class InputDiversity(keras.layers.Layer):
    """Random resize-and-pad of each image in training; identity otherwise.

    Args:
        probability: the chance that an image is transformed (DI: 0.5).
        min_scale: the smallest shrink factor (0.8: at most 20 % smaller).
        seed: seed of the draws.
    """

    def __init__(self, probability=0.5, min_scale=0.8, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.probability = PROBABILITY.check(probability, "input diversity probability")
        self.min_scale = MIN_SCALE.check(min_scale, "input diversity min_scale")
        self.seed = checks.check_seed(seed)
        self.seed_generator = random.SeedGenerator(self.seed)

    def call(self, images, training=False):
        if not training or self.probability == 0:
            return images
        images = ops.convert_to_tensor(images)
        batch = ops.shape(images)[0]
        height, width = images.shape[1], images.shape[2]
        scale = random.uniform((batch,), self.min_scale, 1.0, seed=self.seed_generator)
        chosen = random.uniform((batch,), seed=self.seed_generator) < self.probability
        scale = ops.where(chosen, scale, ops.ones_like(scale))
        # The shrunk image's top-left corner, anywhere it still fits.
        left = random.uniform((batch,), seed=self.seed_generator) * (1.0 - scale) * width
        top = random.uniform((batch,), seed=self.seed_generator) * (1.0 - scale) * height
        zeros = ops.zeros_like(scale)
        # Output pixel (x, y) reads input ((x - left) / s, (y - top) / s).
        transform = ops.stack([1.0 / scale, zeros, -left / scale,
                               zeros, 1.0 / scale, -top / scale, zeros, zeros], axis=1)
        return ops.image.affine_transform(images, transform, interpolation="bilinear",
                                          fill_mode="constant", fill_value=0.0)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "probability": self.probability,
                "min_scale": self.min_scale, "seed": self.seed}
