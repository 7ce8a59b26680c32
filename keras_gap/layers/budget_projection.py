"""Budget projections: the generator's raw output → a perturbation within ε.

GAP scales a perturbation into its L∞ or L2 budget, ``δ · min(1, ε / ‖δ‖)``
(``LinfProjection``, ``L2Projection``). The scale is computed per image
(every axis but the batch axis) and is treated as a constant for the
gradient, as in the original GAP code after its 2019 fix: gradients flow
through ``δ`` itself, not through the norm. CDA, LTP and BIA clip instead
(``ClipProjection``). Epsilon is in pixel units of images in [0, 1].
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
    method = "scale"
    # True for projections that need the clean images: ``call(output, images)``.
    needs_images = False

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


PROJECTIONS = {cls.norm_name: cls for cls in (LinfProjection, L2Projection)}
METHODS = ("scale", "clip")


def projection_for_norm(norm, epsilon, method="scale", generator_output="perturbation"):
    """Returns the projection layer for ``norm`` ("linf" or "l2").

    ``method`` "scale" is GAP's rescaling; "clip" is CDA's clipping
    (``ClipProjection``, L∞ only, with its ``generator_output``).
    """
    if norm not in PROJECTIONS:
        raise ValueError(
            f"norm must be one of {sorted(PROJECTIONS)}, got {norm!r}"
        )
    if method not in METHODS:
        raise ValueError(f"projection must be one of {METHODS}, got {method!r}")
    if method == "clip":
        if norm != "linf":
            raise ValueError(f"the clip projection bounds L∞ only, not {norm!r}")
        return ClipProjection(epsilon, generator_output=generator_output)
    return PROJECTIONS[norm](epsilon)
