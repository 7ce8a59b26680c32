"""The dense targeted objective of GAP (the original code's tasks 0–3).

The untargeted one is ``Untargeted``, which takes dense logits as well.

Logits are ``(batch, H, W, classes)`` and labels ``(batch, H, W)`` maps.
Each image's cross-entropy is the mean over its *valid* pixels (label ≠
``IGNORE_LABEL``); its log is computed stably from the per-pixel log-CEs
(``log mean exp``), and reduced over the batch like the classification
objectives (``reduction``). An image with no valid pixel has weight 0: it
adds nothing to the loss.
"""

import numpy as np
from keras import ops

from keras_gap.objectives.classification import LogCrossEntropyObjective
from keras_gap.objectives.classification import Untargeted
from keras_gap.objectives.cross_entropy import IGNORE_LABEL
from keras_gap.objectives.cross_entropy import masked_log_cross_entropy


def check_label_map(target_map, num_classes=None, shape=None):
    """Returns ``target_map`` as int32 (H, W) or raises a clear ``ValueError``."""
    target_map = np.asarray(target_map)
    if target_map.ndim != 2:
        raise ValueError(f"a target map must be a 2-D label map, got shape {target_map.shape}")
    if not np.issubdtype(target_map.dtype, np.integer):
        raise ValueError(f"a target map must hold integer class ids, got {target_map.dtype}")
    target_map = target_map.astype(np.int32)
    if shape is not None and tuple(target_map.shape) != tuple(shape):
        raise ValueError(
            f"the target map is {target_map.shape[0]}x{target_map.shape[1]} but the "
            f"victim predicts {shape[0]}x{shape[1]} label maps"
        )
    valid = target_map[target_map != IGNORE_LABEL]
    if valid.size == 0:
        raise ValueError("the target map has no pixel outside the ignore label 255")
    if num_classes is not None:
        bad = sorted(int(c) for c in np.unique(valid) if not 0 <= c < num_classes)
        if bad:
            raise ValueError(
                f"the target map holds classes {bad} that the victim lacks "
                f"(it predicts 0..{num_classes - 1}; 255 means ignore)"
            )
    return target_map


class SegmentationObjective(LogCrossEntropyObjective):
    """Base class of the dense objectives."""

    task = "segmenter"


class SegmentationTargeted(SegmentationObjective):
    """``log CE(k(x̂), T)`` over the valid pixels of one fixed target map ``T``
    (the paper's static target segmentation).

    Args:
        target_map: (H, W) integer label map; 255 marks pixels left free.
        reduction: "per_image", "batch_mean" or "ce"; None: the default.
    """

    targeted = True
    # Measured on fashion_scenes (docs/segmentation.md, reductions table):
    # per_image and batch_mean within half a point of each other, ce below.
    default_reduction = "per_image"

    def __init__(self, target_map, reduction=None):
        super().__init__(reduction)
        self.target_map = check_label_map(target_map)

    def validate(self, num_classes):
        check_label_map(self.target_map, num_classes)

    def _targets(self, adversarial_logits):
        shape = tuple(adversarial_logits.shape[1:3])
        if None not in shape and shape != self.target_map.shape:
            check_label_map(self.target_map, shape=shape)
        targets = ops.convert_to_tensor(self.target_map)[None]
        return ops.broadcast_to(targets, ops.shape(adversarial_logits)[:3])

    def log_cross_entropy(self, clean_logits, adversarial_logits, labels):
        return masked_log_cross_entropy(adversarial_logits, self._targets(adversarial_logits))

    def target_hits(self, adversarial_logits):
        """Per-pixel hits of the target map and their weights (0 where ignored)."""
        targets = self._targets(adversarial_logits)
        predictions = ops.cast(ops.argmax(adversarial_logits, axis=-1), "int32")
        hits = ops.cast(ops.equal(predictions, targets), "float32")
        return hits, ops.cast(ops.not_equal(targets, IGNORE_LABEL), "float32")

    def get_config(self):
        return {"target_map": self.target_map.tolist(), **super().get_config()}

    def __repr__(self):
        return (f"SegmentationTargeted(target_map of shape {self.target_map.shape}, "
                f"reduction={self.reduction!r})")


def dense_objective(name, target_map=None, reduction=None):
    """The objective ``name`` for a segmenter: "targeted"
    (``SegmentationTargeted`` to ``target_map``) or "untargeted"
    (``Untargeted`` from the label maps, as the paper); ``reduction`` None
    for the objective's default. Called by ``build_objective``."""
    if name not in SEGMENTATION_OBJECTIVES:
        raise ValueError(
            f"segmentation victims support the objectives {sorted(SEGMENTATION_OBJECTIVES)}, "
            f"got {name!r}"
        )
    if name == "targeted":
        if target_map is None:
            raise ValueError("the targeted objective on a segmenter needs --target-map")
        return SegmentationTargeted(target_map, reduction=reduction)
    if target_map is not None:
        raise ValueError(f"--target-map only applies to --objective targeted, not {name!r}")
    return Untargeted(reference="label", reduction=reduction)


SEGMENTATION_OBJECTIVES = {"untargeted": Untargeted, "targeted": SegmentationTargeted}
