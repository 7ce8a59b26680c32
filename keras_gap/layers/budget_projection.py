"""Scale a perturbation into its L∞ or L2 budget: ``δ · min(1, ε / ‖δ‖)``.

The scale is computed per image (every axis but the batch axis) and is
treated as a constant for the gradient, as in the original GAP code after
its 2019 fix: gradients flow through ``δ`` itself, not through the norm.
Epsilon is in pixel units of images in [0, 1].
"""

import math

import keras
from keras import ops

# Guards the division when a generator emits an all-zero perturbation.
_NORM_FLOOR = 1e-12
# Smaller budgets are effectively 0: a 4000th of one 8-bit grey level (and
# 1e-320 is not even a float32).
MIN_EPSILON = 1e-6


def check_epsilon(epsilon):
    """Returns ``epsilon`` as a float; raises ``ValueError`` unless finite and
    at least ``MIN_EPSILON``."""
    try:
        value = float(epsilon)
    except (TypeError, ValueError):
        raise ValueError(f"epsilon must be a number, got {epsilon!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"epsilon must be finite and > 0, got {epsilon!r}")
    if value < MIN_EPSILON:
        raise ValueError(
            f"epsilon {epsilon!r} is effectively 0: budgets must be at least {MIN_EPSILON:g}")
    return value


class _BudgetProjection(keras.layers.Layer):
    norm_name = None

    def __init__(self, epsilon, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = check_epsilon(epsilon)

    def norm(self, perturbation):
        raise NotImplementedError

    def call(self, perturbation):
        norm = ops.stop_gradient(self.norm(perturbation))
        scale = ops.minimum(1.0, self.epsilon / ops.maximum(norm, _NORM_FLOOR))
        return perturbation * ops.reshape(scale, (-1, 1, 1, 1))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="keras_gap")
class LinfProjection(_BudgetProjection):
    """Scales each perturbation so that ``max |δ| <= epsilon``."""

    norm_name = "linf"

    def norm(self, perturbation):
        return ops.max(ops.abs(perturbation), axis=(1, 2, 3))


@keras.saving.register_keras_serializable(package="keras_gap")
class L2Projection(_BudgetProjection):
    """Scales each perturbation so that ``sqrt(sum δ²) <= epsilon``."""

    norm_name = "l2"

    def norm(self, perturbation):
        return ops.sqrt(ops.sum(ops.square(perturbation), axis=(1, 2, 3)))


PROJECTIONS = {cls.norm_name: cls for cls in (LinfProjection, L2Projection)}


def projection_for_norm(norm, epsilon):
    """Returns the projection layer for ``norm`` ("linf" or "l2")."""
    if norm not in PROJECTIONS:
        raise ValueError(
            f"norm must be one of {sorted(PROJECTIONS)}, got {norm!r}"
        )
    return PROJECTIONS[norm](epsilon)
