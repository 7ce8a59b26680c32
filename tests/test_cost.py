"""The FLOPs counter against layers whose cost is computed by hand."""

import keras
import pytest

from keras_gap.cost.flops import attack_flops
from keras_gap.cost.flops import flops_per_image
from keras_gap.cost.flops import model_cost
from keras_gap.layers import ReflectionPadding2D


def _single(layer, input_shape):
    inputs = keras.Input(input_shape)
    return keras.Model(inputs, layer(inputs))


@pytest.mark.parametrize("layer,input_shape,expected", [
    # 8·8 outputs · 4 filters · (3·3·2 multiply-adds · 2) + 8·8·4 biases
    (keras.layers.Conv2D(4, 3, padding="same"), (8, 8, 2), 2 * 64 * 4 * 18 + 256),
    (keras.layers.Conv2D(4, 3, use_bias=False, strides=2), (9, 9, 2), 2 * 16 * 4 * 18),
    # 6·6 positions · 6 channels (3 × multiplier 2) · 9 taps
    (keras.layers.DepthwiseConv2D(3, depth_multiplier=2), (8, 8, 3), 2 * 36 * 6 * 9 + 216),
    # depthwise 36·3·9, pointwise 36·3·5, bias 36·5
    (keras.layers.SeparableConv2D(5, 3), (8, 8, 3), 2 * 36 * 27 + 2 * 36 * 15 + 180),
    # every one of the 4·4·3 inputs is scattered through 3·3 taps into 2 channels
    (keras.layers.Conv2DTranspose(2, 3, strides=2, padding="same"), (4, 4, 3),
     2 * 48 * 9 * 2 + 8 * 8 * 2),
    (keras.layers.Dense(10), (20,), 2 * 20 * 10 + 10),
    (keras.layers.Dense(3, use_bias=False), (4, 20), 2 * 4 * 20 * 3),
    (keras.layers.GroupNormalization(groups=-1), (6, 6, 6), 7 * 216),
    (keras.layers.BatchNormalization(), (6, 6, 6), 4 * 216),
    (keras.layers.ReLU(), (5, 5, 2), 50),
    (keras.layers.MaxPooling2D(2), (8, 8, 3), 4 * 4 * 3 * 4),
    (keras.layers.GlobalAveragePooling2D(), (8, 8, 3), 192),
    (ReflectionPadding2D(2), (8, 8, 3), 0),
    (keras.layers.Flatten(), (8, 8, 3), 0),
])
def test_layer_flops_match_hand_counts(layer, input_shape, expected):
    cost = model_cost(_single(layer, input_shape))
    assert cost.flops == expected
    assert cost.uncounted == []


def test_merges_nested_models_and_sequential_models_add_up():
    inner = keras.Sequential([keras.Input((4, 4, 2)), keras.layers.Conv2D(2, 1, use_bias=False)],
                             name="inner")
    inputs = keras.Input((4, 4, 2))
    x = keras.layers.Add()([inputs, inner(inputs), inputs])
    outer = keras.Model(inputs, keras.layers.Dense(1, use_bias=False)(x))
    cost = model_cost(outer)
    conv = 2 * 16 * 2 * 2
    add = 2 * 32  # two additions per element for three inputs
    dense = 2 * 16 * 2
    assert cost.by_layer["inner"] == conv
    assert cost.flops == conv + add + dense
    assert flops_per_image(inner) == conv


def test_a_shared_layer_is_counted_once_per_call():
    inputs = keras.Input((5,))
    twice = keras.layers.Dense(5, use_bias=False)
    cost = model_cost(keras.Model(inputs, twice(twice(inputs))))
    assert cost.by_layer[twice.name] == 2 * (2 * 5 * 5)
    assert cost.flops == 100


class _Unknown(keras.layers.Layer):
    def call(self, x):
        return x * 2.0


def test_unknown_layers_are_listed_not_guessed():
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2)(_Unknown(name="mystery")(inputs)))
    cost = model_cost(model)
    assert cost.uncounted == ["mystery"]
    assert cost.flops == 2 * 3 * 2 + 2


def test_a_subclassed_model_is_refused_with_its_name():
    class Free(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(ValueError, match="Free 'free_model'"):
        model_cost(Free(name="free_model"))


def test_attack_flops_count_forward_and_backward_per_step():
    assert attack_flops(100, steps=10) == 3000
    assert attack_flops(100, steps=1) == 300
    assert attack_flops(100, steps=0, generator_flops=42) == 42
