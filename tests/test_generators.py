import keras
import numpy as np
import pytest

import keras_gap  # noqa: F401  (registers the custom layers)
from keras_gap.generators import build_generator

SHAPES = [(28, 28, 1), (32, 32, 3), (224, 224, 3), (299, 299, 3)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("kind,kwargs", [
    ("resnet", {"filters": 4, "num_residual_blocks": 1}),
    ("unet", {"filters": 4, "depth": 3}),
])
def test_generator_output_matches_input_shape_and_tanh_range(kind, kwargs, shape):
    generator = build_generator(kind, shape, **kwargs)
    x = np.random.default_rng(0).random((2,) + shape).astype(np.float32)
    y = generator(x).numpy()
    assert y.shape == (2,) + shape
    assert np.all(np.abs(y) <= 1.0)
    assert np.std(y) > 0


def test_unet_with_the_original_depth_eight_on_imagenet_sizes():
    generator = build_generator("unet", (224, 224, 3), filters=2, depth=8)
    assert generator(np.zeros((1, 224, 224, 3), np.float32)).shape == (1, 224, 224, 3)


@pytest.mark.parametrize("kind,kwargs", [
    ("resnet", {"filters": 4, "num_residual_blocks": 1, "dropout": 0.5}),
    ("unet", {"filters": 4, "depth": 3}),
])
def test_generator_keras_round_trip(kind, kwargs, tmp_path):
    generator = build_generator(kind, (28, 28, 1), seed=3, **kwargs)
    path = tmp_path / "generator.keras"
    generator.save(path)
    restored = keras.saving.load_model(path)
    x = np.random.default_rng(0).random((2, 28, 28, 1)).astype(np.float32)
    np.testing.assert_array_equal(generator(x).numpy(), restored(x).numpy())


def test_unknown_generator_is_rejected():
    with pytest.raises(ValueError, match="'gan'"):
        build_generator("gan", (28, 28, 1))


@pytest.mark.parametrize("shape", [(28, 28), (None, 28, 1), (0, 28, 1)])
def test_generator_needs_a_fixed_image_shape(shape):
    with pytest.raises(ValueError, match="input shape"):
        build_generator("resnet", shape)
