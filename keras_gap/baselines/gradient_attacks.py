"""Gradient attacks: FGSM and PGD (iterative FGSM), L∞ and L2.

Every attack works on a batch of images in [0, 1] and returns adversarial
images in [0, 1] within the budget ``ε`` (pixel units). The victim is a
``Victim`` (its ``logits``) or any Keras model returning logits, including
segmenters with ``(batch, H, W, classes)`` logits. The loss is computed per
example by ``loss(logits, references)``: ``cross_entropy`` for classifiers
(the default) or ``DenseCrossEntropy`` for segmenters.

Objectives:

* "untargeted": ascend the loss of the clean prediction (or of ``labels``);
* "targeted": descend the loss of ``target`` (a class id or one per example);
* "least_likely": descend the loss of each input's least-likely clean class
  (the iterative least-likely class method of Kurakin et al. 2017).
"""

import functools

import numpy as np
from keras import ops

from keras_gap import backend
from keras_gap import checks
from keras_gap.layers.budget_projection import PROJECTIONS
from keras_gap.layers.budget_projection import check_epsilon
from keras_gap.objectives.classification import cross_entropy
from keras_gap.objectives.segmentation import IGNORE_LABEL
from keras_gap.objectives.cross_entropy import masked_cross_entropy

NORMS = tuple(PROJECTIONS)
OBJECTIVES = ("untargeted", "targeted", "least_likely")
# The steps of the PGD-10 that reports compare GAP with (benchmark, sweeps, costs).
PGD_STEPS = 10

# Guards divisions by the norm of an all-zero gradient or perturbation.
_NORM_FLOOR = 1e-12


class DenseCrossEntropy:
    """Per-example mean pixel cross-entropy for segmenters.

    Takes ``(batch, H, W, classes)`` logits and ``(batch, H, W)`` label maps;
    pixels labelled ``ignore_label`` add nothing to the loss.
    """

    def __init__(self, ignore_label=IGNORE_LABEL):
        self.ignore_label = int(ignore_label)

    def __call__(self, logits, references):
        return masked_cross_entropy(logits, references, self.ignore_label)

    # Equal losses share one compiled attack (see ``compiled``).
    def __eq__(self, other):
        return isinstance(other, DenseCrossEntropy) and other.ignore_label == self.ignore_label

    def __hash__(self):
        return hash((DenseCrossEntropy, self.ignore_label))

    def __repr__(self):
        return f"DenseCrossEntropy(ignore_label={self.ignore_label})"


def check_budget(norm, epsilon):
    """Returns ``epsilon`` as a float; raises ``ValueError`` for a bad budget."""
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {list(NORMS)}, got {norm!r}")
    return check_epsilon(epsilon)


def check_images(images):
    """Returns ``images`` as a float32 tensor; raises unless they lie in [0, 1]."""
    images = ops.convert_to_tensor(images, "float32")
    if len(images.shape) != 4:
        raise ValueError(f"images must have shape (batch, H, W, C), got {tuple(images.shape)}")
    if images.shape[0]:
        values = ops.convert_to_numpy(images)
        if values.min() < 0.0 or values.max() > 1.0:
            raise ValueError("images must lie in [0, 1]")
    return images


@functools.lru_cache(maxsize=32)
def compiled(function, *static_arguments):
    """``function`` with its leading Python arguments bound, compiled by the
    backend (``backend.compiled``).

    Cached on those arguments (victim, loss, norm, step count), which are
    compared with ``==``: repeated attacks on the same victim reuse one trace.
    """
    return backend.compiled(functools.partial(function, *static_arguments))


def logits_function(victim):
    """The victim's images → logits function: ``Victim.logits`` or a model call."""
    if hasattr(victim, "logits"):
        return victim.logits
    if callable(victim):
        return _ModelLogits(victim)
    raise ValueError(f"a victim must be a Victim or a Keras model, got {type(victim).__name__}")


class _ModelLogits:
    """Calls a Keras model in inference mode; equal for the same model."""

    def __init__(self, model):
        self.model = model

    def __call__(self, images):
        return self.model(images, training=False)

    def __eq__(self, other):
        return isinstance(other, _ModelLogits) and other.model is self.model

    def __hash__(self):
        return id(self.model)


def _per_image(values):
    """``values`` of shape (batch,) broadcast against images (batch, H, W, C)."""
    return ops.reshape(values, (-1, 1, 1, 1))


def _image_norms(values):
    flat = ops.reshape(values, (ops.shape(values)[0], -1))
    return ops.sqrt(ops.sum(ops.square(flat), axis=1))


def project_to_budget(delta, norm, epsilon):
    """Projects each perturbation of the batch onto its L∞ or L2 ball."""
    delta = ops.convert_to_tensor(delta, "float32")
    if norm == "linf":
        return ops.clip(delta, -epsilon, epsilon)
    scale = ops.minimum(1.0, epsilon / ops.maximum(_image_norms(delta), _NORM_FLOOR))
    return delta * _per_image(scale)


def steepest_direction(gradient, norm):
    """The unit-norm step that increases the loss most: sign (L∞) or g/‖g‖₂ (L2)."""
    if norm == "linf":
        return ops.sign(gradient)
    return gradient / _per_image(ops.maximum(_image_norms(gradient), _NORM_FLOOR))


def attack_references(victim, images, objective="untargeted", target=None, labels=None):
    """The classes (or label maps) an attack works on, and its direction.

    Returns ``(references, direction)``: direction +1 ascends the loss of the
    references (untargeted), −1 descends it (targeted, least-likely).
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {list(OBJECTIVES)}, got {objective!r}")
    if objective == "targeted":
        if target is None:
            raise ValueError("the targeted objective needs a target class")
        if labels is not None:
            raise ValueError("labels only apply to the untargeted objective")
    elif target is not None:
        raise ValueError(f"target only applies to the targeted objective, not {objective!r}")
    if objective == "untargeted" and labels is not None:
        return ops.convert_to_tensor(np.asarray(labels), "int32"), 1.0
    logits_of = logits_function(victim)
    logits = compiled(_call, logits_of)(images)
    if objective == "untargeted":
        return ops.cast(ops.argmax(logits, axis=-1), "int32"), 1.0
    if objective == "least_likely":
        return ops.cast(ops.argmin(logits, axis=-1), "int32"), -1.0
    num_classes = int(logits.shape[-1])
    target = np.asarray(target)
    if target.dtype.kind not in "iu" or np.any(target < 0) or np.any(target >= num_classes):
        raise ValueError(
            f"target must be class ids in 0..{num_classes - 1}, got {target.tolist()!r}"
        )
    return ops.broadcast_to(ops.cast(target, "int32"), ops.shape(logits)[:-1]), -1.0


def _call(function, images):
    return function(images)


def loss_gradient(logits_of, loss, images, references, direction):
    """The gradient of ``direction · Σ loss(logits(images), references)``."""
    return backend.input_gradient(
        lambda x: direction * loss(logits_of(x), references), images)[1]


def _iterate(logits_of, loss, norm, steps, images, references, direction, epsilon,
             step_size):
    adversarial = images
    for _ in range(steps):
        gradient = loss_gradient(logits_of, loss, adversarial, references, direction)
        adversarial = adversarial + step_size * steepest_direction(gradient, norm)
        delta = project_to_budget(adversarial - images, norm, epsilon)
        adversarial = ops.clip(images + delta, 0.0, 1.0)
    return adversarial


def pgd(victim, images, epsilon, norm="linf", steps=10, step_size=None,
        objective="untargeted", target=None, labels=None, loss=cross_entropy):
    """Projected gradient descent (iterative FGSM, no random start).

    Args:
        victim: a ``Victim`` or a Keras model returning logits.
        images: a batch ``(batch, H, W, C)`` in [0, 1].
        epsilon: the budget in pixel units; norm: "linf" or "l2".
        steps: gradient steps; step_size: defaults to ``2.5 ε / steps``.
        objective: "untargeted", "targeted" or "least_likely".
        target: for "targeted", a class id or one per example.
        labels: for "untargeted", the classes to move away from (default:
            the clean predictions).
        loss: per-example ``loss(logits, references)``.

    Returns:
        The adversarial images, a float32 tensor.
    """
    epsilon = check_budget(norm, epsilon)
    checks.POSITIVE_INTEGER.check(steps, "steps")
    step_size = 2.5 * epsilon / steps if step_size is None else checks.POSITIVE_NUMBER.check(
        step_size, "step size")
    images = check_images(images)
    references, direction = attack_references(victim, images, objective, target, labels)
    return compiled(_iterate, logits_function(victim), loss, norm, steps)(
        images, references, ops.convert_to_tensor(direction, "float32"),
        ops.convert_to_tensor(epsilon, "float32"), ops.convert_to_tensor(step_size, "float32"))


def fgsm(victim, images, epsilon, norm="linf", objective="untargeted", target=None,
         labels=None, loss=cross_entropy):
    """The fast gradient sign method: one step of size ε (see ``pgd``)."""
    return pgd(victim, images, epsilon, norm=norm, steps=1, step_size=epsilon,
               objective=objective, target=target, labels=labels, loss=loss)
