"""Scale a perturbation into its L∞ or L2 budget: ``δ · min(1, ε / ‖δ‖)``.

Two scalings (``SCALINGS``), chosen with ``--scaling``:

* ``detached`` (default): the scale is computed per image (every axis but
  the batch axis) and treated as a constant for the gradient, as in the
  original GAP code after its 2019 fix: gradients flow through ``δ``
  itself, not through the norm. The clip of ``x + δ`` to [0, 1] passes no
  gradient where it clips.
* ``straight_through_2018`` (L∞ only): what produced the paper's numbers.
  The 2018 code scaled *per image and per channel* and did it, and the
  clip, on ``.data``: the forward pass is scaled and clipped, the backward
  pass is the identity (a straight-through estimator).

Epsilon is in pixel units of images in [0, 1].
"""

import math

import keras
from keras import ops

# Guards the division when a generator emits an all-zero perturbation.
_NORM_FLOOR = 1e-12


def check_epsilon(epsilon):
    """Returns ``epsilon`` as a float; raises ``ValueError`` unless finite and > 0."""
    try:
        value = float(epsilon)
    except (TypeError, ValueError):
        raise ValueError(f"epsilon must be a number, got {epsilon!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"epsilon must be finite and > 0, got {epsilon!r}")
    return value


class _BudgetProjection(keras.layers.Layer):
    norm_name = None
    scaling_name = "detached"

    def __init__(self, epsilon, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = check_epsilon(epsilon)

    def norm(self, perturbation):
        raise NotImplementedError

    def call(self, perturbation):
        norm = ops.stop_gradient(self.norm(perturbation))
        scale = ops.minimum(1.0, self.epsilon / ops.maximum(norm, _NORM_FLOOR))
        return perturbation * ops.reshape(scale, (-1, 1, 1, 1))

    def add_to(self, images, perturbation):
        """``clip(images + perturbation, 0, 1)``: the adversarial images."""
        return ops.clip(images + perturbation, 0.0, 1.0)

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


def _straight_through(forward, backward):
    """``forward``'s value with ``backward``'s gradient (``x − x`` is exactly
    0, so the value is ``forward`` to the last bit)."""
    return ops.stop_gradient(forward) + (backward - ops.stop_gradient(backward))


@keras.saving.register_keras_serializable(package="keras_gap")
class StraightThroughLinfProjection(_BudgetProjection):
    """The 2018 code's L∞ scaling: ``max |δ| <= epsilon`` per image *and per
    channel*, with straight-through gradients through the scale and through
    the clip of ``x + δ`` to [0, 1] (``add_to``)."""

    norm_name = "linf"
    scaling_name = "straight_through_2018"

    def norm(self, perturbation):
        return ops.max(ops.abs(perturbation), axis=(1, 2))

    def call(self, perturbation):
        norm = self.norm(perturbation)
        scale = ops.minimum(1.0, self.epsilon / ops.maximum(norm, _NORM_FLOOR))
        scaled = perturbation * ops.expand_dims(ops.expand_dims(scale, 1), 1)
        return _straight_through(scaled, perturbation)

    def add_to(self, images, perturbation):
        total = images + perturbation
        return _straight_through(ops.clip(total, 0.0, 1.0), total)


# {scaling: {norm: projection class}}; PROJECTIONS holds the default scaling's.
SCALINGS = {}
for _class in (LinfProjection, L2Projection, StraightThroughLinfProjection):
    SCALINGS.setdefault(_class.scaling_name, {})[_class.norm_name] = _class
PROJECTIONS = SCALINGS["detached"]
DEFAULT_SCALING = "detached"


def projection_for_norm(norm, epsilon, scaling=DEFAULT_SCALING):
    """Returns the projection layer for ``norm`` ("linf" or "l2") and
    ``scaling`` ("detached" or "straight_through_2018", L∞ only)."""
    if norm not in PROJECTIONS:
        raise ValueError(f"norm must be one of {sorted(PROJECTIONS)}, got {norm!r}")
    if scaling not in SCALINGS:
        raise ValueError(f"scaling must be one of {sorted(SCALINGS)}, got {scaling!r}")
    if norm not in SCALINGS[scaling]:
        raise ValueError(
            f"scaling {scaling!r} supports the norms {sorted(SCALINGS[scaling])}, not {norm!r}"
        )
    return SCALINGS[scaling][norm](epsilon)
