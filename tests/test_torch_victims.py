"""PyTorch victims, the parts that run on any backend: the errors a user
gets without the torch backend and the torchvision-style standardisation
layer. The attack itself runs in tests/test_backends.py (torch backend)."""

import keras
import numpy as np
import pytest

from keras_gap.victims import from_torch
from keras_gap.victims import load_victim
from keras_gap.victims.torch_victims import ChannelStandardisation


def test_from_torch_asks_for_the_torch_backend():
    with pytest.raises(ValueError, match=f"set KERAS_BACKEND=torch .Keras runs on "
                                         f"{keras.backend.backend()}"):
        from_torch(object(), (28, 28, 1))


def test_a_torchscript_victim_asks_for_the_torch_backend(tmp_path):
    spec = f"torchscript:{tmp_path / 'net.pt'}"
    with pytest.raises(ValueError, match="victim 'torchscript:.*net.pt' runs a PyTorch "
                                         "module: set KERAS_BACKEND=torch"):
        load_victim(spec, input_shape=(28, 28, 1))


def test_channel_standardisation_is_torchvisions_normalize_and_round_trips():
    layer = ChannelStandardisation((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    images = np.random.default_rng(0).random((2, 4, 4, 3)).astype("float32")
    expected = (images - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(images)), expected,
                               rtol=1e-5, atol=1e-6)
    again = ChannelStandardisation.from_config(layer.get_config())
    assert (again.mean, again.std) == (layer.mean, layer.std)


@pytest.mark.parametrize("mean, std, message", [
    ((0.5,), (0.5, 0.5), "one mean and one std > 0 per channel"),
    ((0.5, 0.5), (0.5, 0.0), r"std \[0.5, 0.0\]"),
])
def test_channel_standardisation_refuses_bad_statistics(mean, std, message):
    with pytest.raises(ValueError, match=message):
        ChannelStandardisation(mean, std)
