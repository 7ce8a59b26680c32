"""PyTorch classifiers as frozen victims (``KERAS_BACKEND=torch``).

Most public classifiers are PyTorch modules (torchvision, timm, Hugging
Face). Under Keras' torch backend a ``torch.nn.Module`` runs as a Keras
layer (``keras.layers.TorchModuleWrapper``), so GAP trains its generator
against it like against any Keras victim: ``from_torch(module,
input_shape)`` wraps it, and ``--victim torchscript:PATH.pt`` loads a
TorchScript file on the command line.

The wrapped victim takes images in [0, 1], channels last, like every
victim; it applies ``preprocessing`` (e.g. torchvision's mean and standard
deviation), moves the channels first (``NCHW``, PyTorch's layout) and calls
the module in evaluation mode with its parameters frozen: its weights and
batch-norm statistics never change. Feature objectives (LTP, BIA) need a
Keras layer graph and do not reach inside a PyTorch module.
"""

import os

import keras
from keras import ops

from keras_gap.victims.victim import Victim

TORCHSCRIPT_PREFIX = "torchscript:"


def _require_torch_backend(what):
    if keras.backend.backend() != "torch":
        raise ValueError(
            f"{what} runs a PyTorch module: set KERAS_BACKEND=torch (Keras runs on "
            f"{keras.backend.backend()}), with PyTorch installed (pip install "
            "'keras_gap[torch]')")


@keras.saving.register_keras_serializable(package="keras_gap")
class ChannelStandardisation(keras.layers.Layer):
    """``(x − mean) / std`` per channel, torchvision's ``Normalize``."""

    def __init__(self, mean, std, **kwargs):
        super().__init__(**kwargs)
        self.mean = [float(m) for m in mean]
        self.std = [float(s) for s in std]
        if len(self.mean) != len(self.std) or not all(s > 0 for s in self.std):
            raise ValueError(
                f"preprocessing needs one mean and one std > 0 per channel, got mean "
                f"{self.mean} and std {self.std}")

    def call(self, images):
        mean = ops.convert_to_tensor(self.mean, self.compute_dtype)
        std = ops.convert_to_tensor(self.std, self.compute_dtype)
        return (images - mean) / std

    def get_config(self):
        return {**super().get_config(), "mean": self.mean, "std": self.std}


def _preprocessing_layer(preprocessing, channels):
    if preprocessing is None:
        return None
    if isinstance(preprocessing, dict):
        if set(preprocessing) != {"mean", "std"}:
            raise ValueError(f"preprocessing must be {{'mean': [...], 'std': [...]}}, a Keras "
                             f"layer or None, got keys {sorted(preprocessing)}")
        layer = ChannelStandardisation(preprocessing["mean"], preprocessing["std"])
        if len(layer.mean) != channels:
            raise ValueError(f"preprocessing gives {len(layer.mean)} channel means for "
                             f"{channels}-channel images")
        return layer
    if isinstance(preprocessing, keras.layers.Layer):
        return preprocessing
    raise ValueError(f"preprocessing must be a dict of mean and std, a Keras layer or None, "
                     f"got {type(preprocessing).__name__}")


def from_torch(module, input_shape, preprocessing=None, name=None, output="logits",
               weights=None):
    """A frozen ``Victim`` running the ``torch.nn.Module`` ``module``.

    Args:
        module: a PyTorch classifier taking float ``(batch, C, H, W)`` images
            (after ``preprocessing``) and returning ``(batch, classes)``
            scores; set to evaluation mode and frozen here.
        input_shape: ``(H, W, C)`` of the images in [0, 1] it is attacked on.
        preprocessing: None (the module takes [0, 1] images), ``{"mean":
            [...], "std": [...]}`` per channel (torchvision's ``Normalize``;
            e.g. ImageNet's ``(0.485, 0.456, 0.406)`` and ``(0.229, 0.224,
            0.225)``), or a Keras layer applied to the channels-last images.
        name: the victim's name in metrics (default: the module's class).
        output: "logits" or "probabilities" (``Victim``'s ``output``).
        weights: what the reports say the weights are (e.g. the file).
    """
    _require_torch_backend("from_torch")
    import torch

    if not isinstance(module, torch.nn.Module):
        raise ValueError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    input_shape = tuple(int(d) for d in input_shape)
    if len(input_shape) != 3 or min(input_shape) < 1:
        raise ValueError(f"input_shape must be (height, width, channels), got {input_shape}")
    module.eval()
    for parameter in module.parameters():
        parameter.requires_grad_(False)
    name = name or type(module).__name__.lower()
    inputs = keras.Input(input_shape, name="images")
    images = inputs
    layer = _preprocessing_layer(preprocessing, input_shape[-1])
    if layer is not None:
        images = layer(images)
    channels_first = keras.layers.Permute((3, 1, 2), name="to_channels_first")(images)
    device = next(iter(module.parameters()), torch.zeros(())).device
    try:
        with torch.no_grad():  # the module tells its output shape on one black image
            probe = module(torch.zeros((1, input_shape[2]) + input_shape[:2], device=device))
    except Exception as error:  # PyTorch raises many types for shape mismatches
        first = next((line for line in str(error).splitlines() if line.strip()), "")
        raise ValueError(f"the PyTorch module {name!r} cannot take {input_shape} images "
                         f"(channels first: {(input_shape[2],) + input_shape[:2]}): "
                         f"{first}") from None
    wrapper = keras.layers.TorchModuleWrapper(
        module, name=f"{name}_module", output_shape=(None, *probe.shape[1:]))
    scores = wrapper(channels_first)
    model = keras.Model(inputs, scores, name=name)
    return Victim(model, name=name, output=output, weights=weights)


def is_torchscript(spec):
    return isinstance(spec, (str, os.PathLike)) and os.fspath(spec).startswith(
        TORCHSCRIPT_PREFIX)


def load_torchscript(spec, input_shape, preprocessing=None):
    """The victim of ``torchscript:PATH.pt`` (``torch.jit.save``), for
    ``input_shape`` images."""
    path = os.fspath(spec)[len(TORCHSCRIPT_PREFIX):]
    _require_torch_backend(f"victim {spec!r}")
    if input_shape is None:
        raise ValueError(f"victim {spec!r} needs the image shape it takes: give --image-size "
                         "or a data set of one image size")
    if not os.path.isfile(path):
        raise ValueError(f"TorchScript victim file not found: {path!r}")
    import torch

    try:
        module = torch.jit.load(path, map_location="cpu")
    except Exception as error:  # TorchScript raises RuntimeError and others
        first = next((line for line in str(error).splitlines() if line.strip()), "")
        raise ValueError(f"{path!r} is not a readable TorchScript file: {first}") from None
    stem = os.path.splitext(os.path.basename(path))[0]
    return from_torch(module, input_shape, preprocessing, name=stem,
                      weights=os.path.abspath(path))
