"""Budget projections: the generator's raw output → a perturbation within ε.

Three methods (``PROJECTION_METHODS``), chosen with ``--projection``:

* ``scale`` (GAP's, the default): ``δ · min(1, ε / ‖δ‖)`` for L∞ or L2
  (``LinfProjection``, ``L2Projection``). The scale is computed per image
  (every axis but the batch axis) and treated as a constant for the
  gradient, as in the original GAP code after its 2019 fix: gradients flow
  through ``δ`` itself, not through the norm. The clip of ``x + δ`` to
  [0, 1] passes no gradient where it clips.
* ``straight_through_2018`` (L∞ only, ``StraightThroughLinfProjection``):
  what produced the paper's numbers. The 2018 code scaled *per image and per
  channel* and did it, and the clip, on ``.data``: the forward pass is
  scaled and clipped, the backward pass is the identity (a straight-through
  estimator).
* ``clip`` (L∞ only, ``ClipProjection``): CDA, LTP and BIA clip the
  adversarial image into ``[x − ε, x + ε] ∩ [0, 1]`` instead.

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
    norm_name = None
    method = "scale"
    # True for projections that need the clean images: ``call(output, images)``.
    needs_images = False

    def __init__(self, epsilon, **kwargs):
        # float32 under a mixed policy too: a 16-bit generator's output is
        # cast up, so the norm, the scale and the budget are exact.
        kwargs.setdefault("dtype", "float32")
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
    method = "straight_through_2018"

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


@keras.saving.register_keras_serializable(package="keras_gap")
class ClipProjection(_BudgetProjection):
    """CDA's projection: clip the adversarial image into ``[x − ε, x + ε]``.

    The perturber then clips ``x + δ`` to [0, 1], so the adversarial image
    is the projection of the generator's unrestricted one onto
    ``[x − ε, x + ε] ∩ [0, 1]``, element by element, as in CDA, LTP and BIA.
    Unlike scaling, saturated elements get no gradient, and every element
    can use the whole budget.

    Args:
        epsilon: the L∞ budget.
        generator_output: "perturbation" (the generator's tanh output ``g``
            is an unrestricted perturbation: ``δ = clip(g, ±ε)``; works for
            universal and image-dependent perturbers) or "image" (as in CDA's
            code: ``(g + 1) / 2`` is an unrestricted image ``u`` and
            ``δ = clip(u − x, ±ε)``; image-dependent perturbers only, as it
            needs the clean images ``x``).
    """

    norm_name = "linf"
    method = "clip"
    OUTPUTS = ("perturbation", "image")

    def __init__(self, epsilon, generator_output="perturbation", **kwargs):
        super().__init__(epsilon, **kwargs)
        if generator_output not in self.OUTPUTS:
            raise ValueError(
                f"generator_output must be one of {self.OUTPUTS}, got {generator_output!r}"
            )
        self.generator_output = generator_output
        self.needs_images = generator_output == "image"

    def norm(self, perturbation):
        return ops.max(ops.abs(perturbation), axis=(1, 2, 3))

    def call(self, generator_output, images=None):
        if self.needs_images:
            if images is None:
                raise ValueError("ClipProjection(generator_output='image') needs the images")
            generator_output = (generator_output + 1.0) * 0.5 - images
        return ops.clip(generator_output, -self.epsilon, self.epsilon)

    def get_config(self):
        return {**super().get_config(), "generator_output": self.generator_output}


# {method: {norm: projection class}}; PROJECTIONS holds GAP's scaling.
PROJECTION_METHODS = {}
for _class in (LinfProjection, L2Projection, StraightThroughLinfProjection, ClipProjection):
    PROJECTION_METHODS.setdefault(_class.method, {})[_class.norm_name] = _class
PROJECTIONS = PROJECTION_METHODS["scale"]
DEFAULT_METHOD = "scale"


def projection_for_norm(norm, epsilon, method=DEFAULT_METHOD, generator_output="perturbation"):
    """Returns the projection layer for ``norm`` ("linf" or "l2") and
    ``method`` ("scale", "straight_through_2018" or "clip", the last two L∞
    only); ``generator_output`` is ``ClipProjection``'s."""
    if norm not in PROJECTIONS:
        raise ValueError(f"norm must be one of {sorted(PROJECTIONS)}, got {norm!r}")
    if method not in PROJECTION_METHODS:
        raise ValueError(
            f"projection must be one of {sorted(PROJECTION_METHODS)}, got {method!r}")
    if norm not in PROJECTION_METHODS[method]:
        raise ValueError(
            f"projection {method!r} supports the norms {sorted(PROJECTION_METHODS[method])}, "
            f"not {norm!r}"
        )
    if method == "clip":
        return ClipProjection(epsilon, generator_output=generator_output)
    return PROJECTION_METHODS[method][norm](epsilon)
