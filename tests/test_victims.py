import keras
import numpy as np
import pytest

from keras_gap.victims import Victim
from keras_gap.victims import application_classifier
from keras_gap.victims import build_classifier
from keras_gap.victims import load_victim


@pytest.mark.parametrize("architecture", ["small_cnn", "small_resnet", "small_strided_cnn",
                                          "mobilenet_v2"])
def test_classifiers_take_fashion_mnist_images_and_return_logits(architecture):
    model = build_classifier(architecture, (28, 28, 1), 10)
    out = model(np.random.default_rng(0).random((2, 28, 28, 1)).astype(np.float32))
    assert out.shape == (2, 10)
    assert Victim(model).output == "logits"


def test_application_victim_resizes_and_tiles_inside_the_model():
    model = application_classifier("inception_v3", input_shape=(28, 28, 1), num_classes=10)
    assert model.input_shape == (None, 28, 28, 1)
    assert model.get_layer("resize_to_minimum").output.shape[1:3] == (75, 75)
    assert model.get_layer("grey_to_rgb") is not None


def test_application_victim_loads_a_local_weights_file(tmp_path):
    # The code path of --victim vgg16 --victim-weights PATH, on a file made here.
    shape = (32, 32, 3)
    original = keras.applications.VGG16(
        include_top=True, weights=None, input_shape=shape, classes=10,
        classifier_activation=None,
    )
    path = tmp_path / "vgg16.weights.h5"
    original.save_weights(path)
    victim = load_victim("vgg16", weights=str(path), input_shape=shape, num_classes=10)
    images = np.random.default_rng(0).random((2,) + shape).astype(np.float32)
    preprocessed = keras.applications.vgg16.preprocess_input(images * 255.0)
    np.testing.assert_allclose(
        victim.logits(images).numpy(), original(preprocessed).numpy(), rtol=1e-4, atol=1e-4
    )


def test_victims_are_frozen(tiny_victim_path):
    victim = load_victim(tiny_victim_path)
    assert victim.model.trainable is False
    assert victim.model.trainable_weights == []
    assert victim.name == "tiny_victim"


def test_load_victim_errors_name_the_bad_value(tmp_path):
    with pytest.raises(ValueError, match="unknown victim 'alexnet'"):
        load_victim("alexnet")
    with pytest.raises(ValueError, match="not found: '.*missing.keras'"):
        load_victim(str(tmp_path / "missing.keras"))
    with pytest.raises(ValueError, match="is a directory"):
        load_victim(str(tmp_path))
    corrupt = tmp_path / "corrupt.keras"
    corrupt.write_text("garbage")
    with pytest.raises(ValueError, match="not a readable .keras model"):
        load_victim(str(corrupt))
    with pytest.raises(ValueError, match="weights must be 'imagenet'"):
        load_victim("vgg16", weights=str(tmp_path / "nothing.weights.h5"))


def test_victim_must_be_a_classifier_or_a_same_size_segmenter():
    inputs = keras.Input((8, 8, 3))
    coarse_output = keras.Model(inputs, keras.layers.Conv2D(4, 1, strides=2)(inputs))
    with pytest.raises(ValueError, match=r"\(batch, classes\)"):
        Victim(coarse_output)
    dense_output = keras.Model(inputs, keras.layers.Conv2D(4, 1)(inputs))
    assert Victim(dense_output).task == "segmenter"


def _victim_shapes():
    inputs = keras.Input((28, 28, 1))
    flat = keras.layers.Flatten()(inputs)
    small, free = keras.Input((4, 4, 1)), keras.Input((None, None, 1))
    other = keras.Input((28, 28, 1))
    return {
        "2 outputs": keras.Model(inputs, [keras.layers.Dense(10)(flat),
                                          keras.layers.Dense(10)(flat)]),
        "2 inputs": keras.Model([inputs, other], keras.layers.Dense(10)(
            keras.layers.Flatten()(keras.layers.Add()([inputs, other])))),
        "unbuilt Sequential": keras.Sequential([keras.layers.Dense(10)]),
        "no fixed input shape": keras.Model(free, keras.layers.Dense(10)(
            keras.layers.GlobalAveragePooling2D()(free))),
        "4x4 images": keras.Model(small, keras.layers.Dense(10)(keras.layers.Flatten()(small))),
        "1 output class": keras.Model(inputs, keras.layers.Dense(1)(flat)),
        "ends in a sigmoid": keras.Model(
            inputs, keras.layers.Activation("sigmoid")(keras.layers.Dense(10)(flat))),
    }


@pytest.mark.parametrize("problem", sorted(_victim_shapes()))
def test_models_no_attack_can_use_are_refused_as_victims(problem):
    with pytest.raises(ValueError, match=f"victim 'v' .*{problem}|{problem}.*victim 'v'"):
        Victim(_victim_shapes()[problem], name="v")


def test_a_softmax_head_and_a_two_class_head_are_victims():
    inputs = keras.Input((5, 5, 1))
    flat = keras.layers.Flatten()(inputs)
    assert Victim(keras.Model(inputs, keras.layers.Dense(2)(flat))).num_classes == 2
    softmax = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(flat))
    assert Victim(softmax).output == "probabilities"
