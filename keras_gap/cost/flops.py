"""What one image costs, counted from a Keras model's layers (no device needed).

``flops_per_image(model)`` walks a functional or Sequential model (nested
models included) and adds up each layer's floating-point operations for one
image, from the layer's configuration and its input and output shapes:

- one multiply-add counts 2 FLOPs (the convention of the "96 GFLOP" of the
  paper's generator at 299×299): ``Conv*``, ``DepthwiseConv2D``,
  ``SeparableConv2D``, ``Conv2DTranspose``, ``Dense``; a bias adds one FLOP
  per output element;
- element-wise layers cost a few FLOPs per element (``ELEMENTWISE_COST``):
  activations 1, ``Add``-like merges one per extra input, batch norm at
  inference 4, instance / group / layer norm 7 (statistics, normalisation,
  affine), ``Rescaling`` 2, pooling one per window element;
- layers that only move data (padding, cropping, reshaping, concatenation,
  dropout at inference) cost 0.

Layers the counter does not know are listed in ``uncounted`` rather than
guessed. An attack's cost per image follows from the models it runs:
``attack_flops`` counts a forward and backward pass of the victim as
``FORWARD_BACKWARD_FACTOR`` (3) forward passes, the usual convention (the
input gradient of InceptionV3 measured 2.8× its forward time on an H100).

Only Keras is imported, so this runs on any Keras backend.
"""

import dataclasses
import math

import keras

from keras_gap.keras_internals import graph_nodes
from keras_gap.layers import ImagenetPreprocessing
from keras_gap.layers import ReflectionPadding2D

FORWARD_BACKWARD_FACTOR = 3

_layers = keras.layers
_NORMALISATION = (_layers.GroupNormalization, _layers.LayerNormalization)
_ACTIVATIONS = (_layers.ReLU, _layers.LeakyReLU, _layers.Activation, _layers.Softmax,
                _layers.ELU, _layers.PReLU)
_MERGES = (_layers.Add, _layers.Subtract, _layers.Multiply, _layers.Average,
           _layers.Maximum, _layers.Minimum)
_POOLING = (_layers.MaxPooling2D, _layers.AveragePooling2D, _layers.MaxPooling1D,
            _layers.AveragePooling1D)
_GLOBAL_POOLING = (_layers.GlobalAveragePooling2D, _layers.GlobalMaxPooling2D,
                   _layers.GlobalAveragePooling1D, _layers.GlobalMaxPooling1D)
_DATA_MOVEMENT = (_layers.InputLayer, _layers.ZeroPadding2D, _layers.Cropping2D,
                  _layers.Reshape, _layers.Flatten, _layers.Concatenate, _layers.Dropout,
                  _layers.Permute, _layers.Identity, _layers.SpatialDropout2D,
                  _layers.GaussianNoise, _layers.RepeatVector, ReflectionPadding2D)

# FLOPs per output element of the element-wise layers.
ELEMENTWISE_COST = {
    _NORMALISATION: 7,
    (_layers.BatchNormalization,): 4,
    _ACTIVATIONS: 1,
    (_layers.Rescaling, ImagenetPreprocessing): 2,
    (_layers.Resizing,): 8,  # bilinear: four weighted taps
}


def _elements(shape):
    """Elements of one image's tensor (``shape`` without the batch axis)."""
    return math.prod(int(d) for d in shape)


def _bias(layer, output_shape):
    return _elements(output_shape) if getattr(layer, "use_bias", False) else 0


def _convolution(layer, input_shape, output_shape):
    kernel = math.prod(layer.kernel_size)
    channels_in = input_shape[-1] // getattr(layer, "groups", 1)
    return 2 * _elements(output_shape) * kernel * channels_in + _bias(layer, output_shape)


def _depthwise(layer, input_shape, output_shape):
    kernel = math.prod(layer.kernel_size)
    return 2 * _elements(output_shape) * kernel + _bias(layer, output_shape)


def _separable(layer, input_shape, output_shape):
    kernel = math.prod(layer.kernel_size)
    spatial = _elements(output_shape[:-1])
    middle = input_shape[-1] * layer.depth_multiplier
    depthwise = 2 * spatial * middle * kernel
    pointwise = 2 * spatial * middle * output_shape[-1]
    return depthwise + pointwise + _bias(layer, output_shape)


def _transposed(layer, input_shape, output_shape):
    # Every input element is scattered through the whole kernel.
    kernel = math.prod(layer.kernel_size)
    return 2 * _elements(input_shape) * kernel * output_shape[-1] + _bias(layer, output_shape)


def _dense(layer, input_shape, output_shape):
    return 2 * _elements(input_shape) * output_shape[-1] + _bias(layer, output_shape)


def _merge(layer, input_shapes, output_shape):
    return (len(input_shapes) - 1) * _elements(output_shape)


def _pooling(layer, input_shape, output_shape):
    return _elements(output_shape) * math.prod(layer.pool_size)


def _global_pooling(layer, input_shape, output_shape):
    return _elements(input_shape)


# Checked in order; the first matching class decides (subclasses first).
_LAYER_FLOPS = (
    (_layers.SeparableConv2D, _separable),
    (_layers.DepthwiseConv2D, _depthwise),
    ((_layers.Conv2DTranspose, _layers.Conv1DTranspose, _layers.Conv3DTranspose),
     _transposed),
    ((_layers.Conv1D, _layers.Conv2D, _layers.Conv3D), _convolution),
    (_layers.Dense, _dense),
    (_POOLING, _pooling),
    (_GLOBAL_POOLING, _global_pooling),
)


@dataclasses.dataclass
class ModelCost:
    """``flops`` per image; ``by_layer`` maps layer names to their FLOPs;
    ``uncounted`` names layers of unknown kind (counted as 0)."""

    flops: int
    by_layer: dict
    uncounted: list


def _layer_flops(layer, input_shapes, output_shapes):
    """FLOPs of one call of ``layer``, or None when its kind is unknown."""
    output_shape = output_shapes[0]
    if isinstance(layer, _MERGES):
        return _merge(layer, input_shapes, output_shape)
    for classes, count in _LAYER_FLOPS:
        if isinstance(layer, classes):
            return count(layer, input_shapes[0], output_shape)
    for classes, cost in ELEMENTWISE_COST.items():
        if isinstance(layer, classes):
            return cost * sum(_elements(shape) for shape in output_shapes)
    if isinstance(layer, _DATA_MOVEMENT):
        return 0
    return None


def model_cost(model):
    """Counts the FLOPs per image of a functional or Sequential ``model``."""
    by_layer, uncounted = {}, []
    for layer, inputs, outputs in graph_nodes(model):
        if isinstance(layer, keras.Model):
            inner = model_cost(layer)
            flops = inner.flops
            uncounted += [f"{layer.name}/{name}" for name in inner.uncounted]
        else:
            flops = _layer_flops(layer, inputs, outputs)
            if flops is None:
                uncounted.append(layer.name)
                flops = 0
        by_layer[layer.name] = by_layer.get(layer.name, 0) + int(flops)
    return ModelCost(sum(by_layer.values()), by_layer, uncounted)


def flops_per_image(model):
    """FLOPs of one forward pass of ``model`` on one image (an int)."""
    return model_cost(model).flops


# FLOPs per pixel of adding a ready perturbation and clipping to [0, 1].
ADD_AND_CLIP_FLOPS = 3


def perturber_flops_per_image(perturber):
    """FLOPs of perturbing one image with ``perturber``: adding its ready
    perturbation and clipping when one perturbation serves every image (a
    universal one is computed once), else one forward pass of its generator."""
    if perturber.shared_perturbation:
        return ADD_AND_CLIP_FLOPS * math.prod(perturber.image_shape)
    return flops_per_image(perturber.generator)


def attack_flops(victim_forward_flops, steps, generator_flops=0):
    """FLOPs per image of an attack: ``steps`` forward+backward passes of the
    victim (an iterative attack; FGSM is one step) plus one generator pass."""
    return int(steps * FORWARD_BACKWARD_FACTOR * victim_forward_flops + generator_flops)
