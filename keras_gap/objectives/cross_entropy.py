"""A numerically sound log-cross-entropy and the three ways to reduce it.

GAP's losses are logarithms of a cross-entropy. Computed as
``log(max(CE, 1e-12))`` they pass no gradient once float32 rounds the CE to
0, which happens for logit margins above ~17. Here the CE is written through
the margins of the other classes over the reference class,

    L = logsumexp_{j≠y}(z_j − z_y),   CE = softplus(L),   log CE = log softplus(L),

and ``log softplus(L)`` becomes ``L`` itself when ``L`` is very negative
(the two differ by less than ``exp(L)/2``): finite, with a gradient of
about 1 per unit of margin, for any margin float32 can hold.

A *reduction* turns the per-image log-CEs ``ℓᵢ`` of a batch into its loss
(with per-image weights, e.g. 0 for a segmentation image without a valid
pixel, a weighted mean over the images that count):

* ``per_image``: ``mean ℓᵢ``. The gradient weight of an image is ``1/CEᵢ``.
* ``batch_mean``: ``log mean CEᵢ``, the original code's reading (the log of
  ``nn.CrossEntropyLoss``'s batch mean); an image's weight is ``CEᵢ / mean CE``.
* ``ce``: ``mean CEᵢ``, no log; every image has weight 1.

Each reduction returns one term per image whose mean over the *global*
batch is the loss and whose gradient is the loss's gradient, so the
trainer's division by the global batch size keeps working. The batch mean
couples the images of a batch: it takes ``gather``, which concatenates a
per-image tensor over the global batch (all replicas); the default is the
batch at hand.
"""

from keras import ops

# The label of pixels no loss or metric counts.
IGNORE_LABEL = 255

# Below this margin log(softplus(L)) is replaced by L (error < 1e-9).
_LINEAR_BELOW = -20.0
# Stands in for -inf where a class or an image must not count.
_EXCLUDED = -1e30


def log_softplus(values):
    """``log(softplus(x))`` for any finite ``x``, with its gradient."""
    values = ops.cast(values, "float32")
    linear = values < _LINEAR_BELOW
    # Both branches are evaluated: keep the unused one's input harmless.
    safe = ops.where(linear, ops.zeros_like(values), values)
    return ops.where(linear, values, ops.log(ops.softplus(safe)))


def log_cross_entropy(logits, labels):
    """``log CE(logits, labels)`` for every position of ``labels``.

    ``logits`` is ``(..., classes)`` and ``labels`` integer ``(...)``, e.g.
    ``(batch,)`` for classifiers or ``(batch, H, W)`` for segmenters.
    """
    logits = ops.cast(logits, "float32")
    chosen = ops.one_hot(ops.cast(labels, "int32"), ops.shape(logits)[-1]) > 0.5
    reference = ops.sum(ops.where(chosen, logits, ops.zeros_like(logits)), axis=-1)
    margins = logits - reference[..., None]
    margins = ops.where(chosen, ops.full_like(margins, _EXCLUDED), margins)
    return log_softplus(ops.logsumexp(margins, axis=-1))


def _global(values, gather):
    return values if gather is None else gather(values)


def _weights(log_ce, weights):
    return ops.ones_like(log_ce) if weights is None else ops.cast(weights, "float32")


def _normalised(weights, gather):
    """``wᵢ N / Σ w`` over the global batch: terms weighted by it average to
    the weighted mean over the images that count."""
    if weights is None:
        return 1.0
    weights = ops.cast(weights, "float32")
    all_weights = ops.stop_gradient(_global(weights, gather))
    size = ops.cast(ops.shape(all_weights)[0], "float32")
    return weights * size / ops.maximum(ops.sum(all_weights), 1e-12)


def per_image_log(log_ce, weights=None, gather=None):
    """``ℓᵢ``; with weights, the weighted mean over the images that count."""
    return log_ce * _normalised(weights, gather)


def plain_cross_entropy(log_ce, weights=None, gather=None):
    """``CEᵢ = exp ℓᵢ``; with weights, the weighted mean over the images
    that count."""
    counted = _weights(log_ce, weights) > 0
    safe = ops.where(counted, log_ce, ops.zeros_like(log_ce))
    return ops.where(counted, ops.exp(safe), ops.zeros_like(safe)) * _normalised(weights, gather)


def batch_mean_log(log_ce, weights=None, gather=None):
    """Terms whose mean over the global batch is ``λ = log(Σ wᵢCEᵢ / Σ wᵢ)``.

    With ``λ`` held constant, ``tᵢ = (N wᵢ / Σw)(λ + exp(ℓᵢ − λ) − 1)`` sums
    to ``N λ`` and its gradient is ``(N/Σw) wᵢ CEᵢ/m · ∂ℓᵢ`` with ``m = e^λ``,
    which is the gradient of ``N λ``. Everything runs in log space, so a
    batch whose CEs all underflow float32 still gets a gradient.
    """
    weights = _weights(log_ce, weights)
    counted = weights > 0
    all_log_ce = ops.stop_gradient(_global(log_ce, gather))
    all_weights = _global(weights, gather)
    all_counted = all_weights > 0
    weighted = ops.where(
        all_counted,
        all_log_ce + ops.log(ops.where(all_counted, all_weights, ops.ones_like(all_weights))),
        ops.full_like(all_log_ce, _EXCLUDED),
    )
    total_weight = ops.sum(all_weights)
    safe_total = ops.maximum(total_weight, 1e-12)
    log_mean = ops.logsumexp(weighted) - ops.log(safe_total)
    log_mean = ops.where(total_weight > 0, log_mean, ops.zeros_like(log_mean))
    size = ops.cast(ops.shape(all_log_ce)[0], "float32")
    relative = ops.exp(ops.where(counted, log_ce - log_mean, ops.zeros_like(log_ce)))
    terms = log_mean + relative - 1.0
    return ops.where(counted, terms * weights * size / safe_total, ops.zeros_like(terms))


REDUCTIONS = {
    "per_image": per_image_log,
    "batch_mean": batch_mean_log,
    "ce": plain_cross_entropy,
}


def check_reduction(reduction):
    """Returns ``reduction`` or raises a ``ValueError`` naming it."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {sorted(REDUCTIONS)}, got {reduction!r}")
    return reduction


__all__ = ["REDUCTIONS", "check_reduction", "log_cross_entropy", "log_softplus"]


def _valid_and_safe(label_maps, ignore_label):
    label_maps = ops.cast(label_maps, "int32")
    valid = ops.not_equal(label_maps, ignore_label)
    return valid, ops.where(valid, label_maps, ops.zeros_like(label_maps))


def masked_cross_entropy(logits, label_maps, ignore_label=IGNORE_LABEL):
    """Mean cross-entropy per image over pixels whose label is not
    ``ignore_label``. Images with no valid pixel get 0.
    """
    valid, safe = _valid_and_safe(label_maps, ignore_label)
    log_probabilities = ops.log_softmax(ops.cast(logits, "float32"), axis=-1)
    picked = ops.take_along_axis(log_probabilities, safe[..., None], axis=-1)[..., 0]
    weights = ops.cast(valid, "float32")
    total = ops.sum(-picked * weights, axis=(1, 2))
    count = ops.sum(weights, axis=(1, 2))
    return total / ops.maximum(count, 1.0)


def masked_log_cross_entropy(logits, label_maps, ignore_label=IGNORE_LABEL):
    """``(log of each image's mean CE over its valid pixels, weights)``:
    weights are 1 for images with a valid pixel and 0 otherwise (whose log
    is then 0). Finite with a gradient however confident the pixels are."""
    valid, safe = _valid_and_safe(label_maps, ignore_label)
    pixel_log_ce = log_cross_entropy(logits, safe)
    excluded = ops.full_like(pixel_log_ce, _EXCLUDED)
    batch = ops.shape(pixel_log_ce)[0]
    flat = ops.reshape(ops.where(valid, pixel_log_ce, excluded), (batch, -1))
    count = ops.sum(ops.reshape(ops.cast(valid, "float32"), (batch, -1)), axis=1)
    present = count > 0
    log_mean = ops.logsumexp(flat, axis=1) - ops.log(ops.maximum(count, 1.0))
    log_mean = ops.where(present, log_mean, ops.zeros_like(log_mean))
    return log_mean, ops.cast(present, "float32")


def image_log_cross_entropy(logits, labels):
    """``(per-image log CE, per-image weights or None)`` for class scores
    ``(batch, classes)`` with labels ``(batch,)``, or score maps
    ``(batch, H, W, classes)`` with label maps ``(batch, H, W)`` (each
    image's mean over its pixels not labelled ``IGNORE_LABEL``)."""
    if len(logits.shape) == 4:
        return masked_log_cross_entropy(logits, labels)
    return log_cross_entropy(logits, labels), None
