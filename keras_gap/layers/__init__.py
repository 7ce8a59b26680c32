"""Serialisable Keras layers used by generators and perturbers, and the
training-time input diversity of the victims' input."""

from keras_gap.layers.budget_projection import ClipProjection
from keras_gap.layers.budget_projection import L2Projection
from keras_gap.layers.budget_projection import LinfProjection
from keras_gap.layers.budget_projection import PROJECTION_METHODS
from keras_gap.layers.budget_projection import StraightThroughLinfProjection
from keras_gap.layers.budget_projection import projection_for_norm
from keras_gap.layers.imagenet_preprocessing import ImagenetPreprocessing
from keras_gap.layers.input_diversity import InputDiversity
from keras_gap.layers.reflection_padding import ReflectionPadding2D

__all__ = [
    "ClipProjection",
    "ImagenetPreprocessing",
    "InputDiversity",
    "L2Projection",
    "LinfProjection",
    "ReflectionPadding2D",
    "PROJECTION_METHODS",
    "StraightThroughLinfProjection",
    "projection_for_norm",
]
