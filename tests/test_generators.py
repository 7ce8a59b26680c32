import keras
import numpy as np
import pytest

import keras_gap  # noqa: F401  (registers the custom layers)
from keras_gap.cost.flops import flops_per_image
from keras_gap.generators import GENERATORS
from keras_gap.generators import build_generator
from keras_gap.generators import generator_arguments
from keras_gap.perturbers import load_perturber
from keras_gap.perturbers import build_perturber
from keras_gap.runs.attack_config import AttackConfig

SHAPES = [(28, 28, 1), (32, 32, 3), (224, 224, 3), (299, 299, 3)]
ODD_SHAPES = [(31, 17, 3), (5, 7, 1)]
TINY = {
    "resnet": {"filters": 4, "num_residual_blocks": 1},
    "unet": {"filters": 4, "depth": 3},
    "separable_resnet": {"filters": 4, "num_residual_blocks": 1},
}


def test_every_registered_design_has_tiny_test_settings():
    assert sorted(TINY) == sorted(GENERATORS)


@pytest.mark.parametrize("shape", SHAPES + ODD_SHAPES)
@pytest.mark.parametrize("kind", sorted(TINY))
def test_generator_output_matches_input_shape_and_tanh_range(kind, shape):
    generator = build_generator(kind, shape, **TINY[kind])
    x = np.random.default_rng(0).random((2,) + shape).astype(np.float32)
    y = generator(x).numpy()
    assert y.shape == (2,) + shape
    assert np.all(np.abs(y) <= 1.0)
    assert np.std(y) > 0


def test_unet_with_the_original_depth_eight_on_imagenet_sizes():
    generator = build_generator("unet", (224, 224, 3), filters=2, depth=8)
    assert generator(np.zeros((1, 224, 224, 3), np.float32)).shape == (1, 224, 224, 3)


def test_separable_design_runs_no_wide_layer_at_full_resolution():
    """Only the head writes full-resolution maps, and only the output channels."""
    generator = build_generator("separable_resnet", (64, 64, 3), filters=8,
                                num_residual_blocks=2)
    full_resolution = [
        layer.name for layer in generator.layers
        if layer.output.shape[1:3] == (64, 64) and layer.output.shape[-1] > 3
    ]
    assert full_resolution == []
    names = [layer.name for layer in generator.layers]
    assert "residual_block_1_separable_conv_2" in names
    assert generator.get_layer("residual_block_0_add").output.shape[1:] == (16, 16, 16)
    with pytest.raises(ValueError, match="num_downsampling=0"):
        build_generator("separable_resnet", (28, 28, 1), num_downsampling=0)


def test_the_image_dependent_default_for_large_images_is_far_cheaper_than_the_papers():
    shape = (299, 299, 3)
    paper = flops_per_image(build_generator("resnet", shape, filters=64,
                                            num_residual_blocks=6))
    design = AttackConfig(kind="image_dependent").generator
    assert design == "separable_resnet"
    lean = flops_per_image(build_generator(design, shape, **generator_arguments(design, shape)))
    assert 95e9 < paper < 98e9  # the "96 GFLOP" of the issue
    assert lean <= paper / 4


@pytest.mark.parametrize("kind", sorted(TINY))
def test_generator_keras_round_trip(kind, tmp_path):
    generator = build_generator(kind, (28, 28, 1), seed=3, **TINY[kind])
    path = tmp_path / "generator.keras"
    generator.save(path)
    restored = keras.saving.load_model(path)
    x = np.random.default_rng(0).random((2, 28, 28, 1)).astype(np.float32)
    np.testing.assert_array_equal(generator(x).numpy(), restored(x).numpy())


@pytest.mark.parametrize("perturber_kind", ["universal", "image_dependent"])
def test_separable_design_round_trips_through_a_perturber_file(perturber_kind, tmp_path):
    perturber = build_perturber(perturber_kind, "separable_resnet", (29, 29, 3), "linf", 0.1,
                                seed=2, **TINY["separable_resnet"])
    images = np.random.default_rng(0).random((3, 29, 29, 3)).astype(np.float32)
    before = perturber(images).numpy()
    assert np.abs(before - images).max() <= 0.1 + 1e-6
    assert np.abs(before - images).max() > 0.09  # the untrained output is projected
    perturber.save(tmp_path / "perturber.keras")
    restored = load_perturber(tmp_path / "perturber.keras")
    assert restored.generator.name == "separable_resnet_generator"
    np.testing.assert_array_equal(restored(images).numpy(), before)


@pytest.mark.parametrize("kind,image_shape,expected", [
    ("separable_resnet", (28, 28, 1), {"filters": 32, "num_residual_blocks": 4}),
    ("separable_resnet", (299, 299, 3), {"filters": 64, "num_residual_blocks": 6}),
    ("resnet", (28, 28, 1), {"filters": 32, "num_residual_blocks": 3}),
    ("resnet", (224, 224, 3), {"filters": 64, "num_residual_blocks": 6}),
    ("unet", (28, 28, 1), {"filters": 32, "depth": 4}),
    ("unet", (299, 299, 3), {"filters": 64, "depth": 8}),
])
def test_default_sizes_depend_on_the_image_size(kind, image_shape, expected):
    assert generator_arguments(kind, image_shape) == expected


def test_given_sizes_override_the_defaults():
    assert generator_arguments("resnet", (28, 28, 1), filters=8, blocks=0) == {
        "filters": 8, "num_residual_blocks": 0}
    assert generator_arguments("unet", (28, 28, 1), blocks=2) == {"filters": 32, "depth": 2}


def test_unknown_generator_is_rejected():
    with pytest.raises(ValueError, match="'gan'"):
        build_generator("gan", (28, 28, 1))
    with pytest.raises(ValueError, match="'gan'"):
        generator_arguments("gan", (28, 28, 1))


@pytest.mark.parametrize("kind", sorted(TINY))
@pytest.mark.parametrize("shape", [(28, 28), (None, 28, 1), (0, 28, 1)])
def test_generator_needs_a_fixed_image_shape(kind, shape):
    with pytest.raises(ValueError, match="input shape"):
        build_generator(kind, shape)
