"""``Victim.features``: intermediate feature maps of functional, Sequential
and nested (Keras Applications) victims, from the victim's own layers."""

import keras
import numpy as np
import pytest

from conftest import tiny_classifier
from keras_gap.victims import Victim
from keras_gap.victims import build_classifier
from keras_gap.victims import load_victim
from keras_gap.victims.features import feature_layer_names


def _images(count=3, shape=(28, 28, 1), seed=0):
    return np.random.default_rng(seed).random((count, *shape)).astype(np.float32)


def _sequential():
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(4, 3, activation="relu", name="first_conv"),
            keras.layers.MaxPooling2D(name="pool"),
            keras.layers.Conv2D(8, 3, activation="relu", name="second_conv"),
            keras.layers.Flatten(name="flatten"),
            keras.layers.Dense(10, name="logits"),
        ],
        name="sequential_victim",
    )


@pytest.mark.parametrize("build", [lambda: build_classifier("small_cnn", (28, 28, 1), 10),
                                   _sequential])
def test_features_match_the_layer_output_and_logits_come_with_them(build, tmp_path):
    path = tmp_path / "victim.keras"
    build().save(path)
    victim = load_victim(str(path))
    layer = "conv_2" if "conv_2" in victim.feature_layer_names else "second_conv"
    images = _images()
    truncated = keras.Model(victim.model.inputs, victim.model.get_layer(layer).output)
    (features,), logits = victim.features_and_logits(images, [layer])
    np.testing.assert_allclose(features, truncated(images), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(logits, victim.logits(images), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(victim.features(images, layer), features, rtol=1e-6)
    assert victim.feature_model(layer).trainable_weights == []


def test_features_reach_inside_a_keras_applications_victim():
    model = build_classifier("mobilenet_v2", (28, 28, 1), 10)
    victim = Victim(model)
    network = model.layers[-1]  # the application, wrapped by resizing + preprocessing
    assert "block_3_expand_relu" in victim.feature_layer_names
    images = _images()
    preprocessing = keras.Model(model.inputs, model.get_layer("preprocessing").output)
    inner = keras.Model(network.inputs, network.get_layer("block_3_expand_relu").output)
    expected = inner(preprocessing(images))
    first, second = victim.features(images, ["block_3_expand_relu", "Conv1"])
    np.testing.assert_allclose(first, expected, rtol=1e-4, atol=1e-5)
    assert second.shape == (3, 16, 16, 32)
    full_path = f"{network.name}/block_3_expand_relu"
    np.testing.assert_allclose(victim.features(images, full_path), first, rtol=1e-6)
    _, logits = victim.features_and_logits(images)
    np.testing.assert_allclose(logits, victim.logits(images), rtol=1e-4, atol=1e-5)


def test_the_default_is_a_mid_level_block():
    assert Victim(build_classifier("small_cnn", (28, 28, 1), 10)).default_feature_layer == (
        "conv_3")
    assert Victim(build_classifier("small_resnet", (28, 28, 1), 10)).default_feature_layer == (
        "stage_1_relu_2")
    victim = Victim(build_classifier("mobilenet_v2", (28, 28, 1), 10))
    # 32 px inside: scales 16, 8, 4, 2, 1 -> the last layer at 4 x 4.
    assert victim.features(_images()).shape[1:3] == (4, 4)
    resnet = Victim(keras.applications.ResNet50(weights=None, input_shape=(224, 224, 3)))
    assert resnet.default_feature_layer == "conv3_block4_out"  # end of the 28 x 28 stage


def test_a_wrong_layer_name_lists_the_available_ones():
    victim = Victim(build_classifier("small_cnn", (28, 28, 1), 10))
    with pytest.raises(ValueError, match=r"no layer 'conv_9'.*conv_0, conv_1, pool_1, conv_2"):
        victim.features(_images(), "conv_9")


class _Subclassed(keras.Model):
    def call(self, images):
        return images


def test_a_subclassed_model_has_no_graph_to_tap():
    with pytest.raises(ValueError, match="no symbolic inputs and outputs"):
        feature_layer_names(_Subclassed())


def test_features_leave_a_batch_norm_victim_unchanged():
    keras.utils.set_random_seed(0)
    model = tiny_classifier(batch_norm=True)
    victim = Victim(model)
    before = [w.copy() for w in model.get_weights()]
    victim.features(_images(8), victim.default_feature_layer)
    for old, new in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, new)
