"""Classification objectives of GAP (Poursaeed et al., equations 1–3).

The paper's losses are logarithms of a cross-entropy. They are applied per
image here (log of each image's CE, then the mean over the batch), which
fooled 0.80 of Fashion-MNIST test images against 0.70 for the log of the
batch-mean CE in the reference measurements: images already fooled stop
dominating the gradient.
"""

import keras
from keras import ops

# Keeps log(CE) finite for images the victim classifies with certainty.
_CE_FLOOR = 1e-12


def cross_entropy(logits, labels):
    """Cross-entropy per image, from logits and integer labels."""
    labels = ops.cast(labels, "int32")
    return keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)


def log_cross_entropy(logits, labels):
    return ops.log(ops.maximum(cross_entropy(logits, labels), _CE_FLOOR))


class Objective:
    """Base class. ``target_class`` is None for untargeted objectives."""

    target_class = None
    needs_labels = False
    task = "classifier"  # the Victim.task this objective applies to

    def validate(self, num_classes):
        """Raises ``ValueError`` if the objective does not fit the victim."""

    def per_example_loss(self, clean_logits, adversarial_logits, labels=None):
        raise NotImplementedError

    @property
    def targeted(self):
        """Whether ``target_hits`` is defined (the trainer then reports
        ``target_success_rate``)."""
        return self.target_class is not None

    def target_hits(self, adversarial_logits):
        """``(hits, weights)``: 1.0 where the prediction is the target, and
        the weight of each hit (None: all count)."""
        predictions = ops.argmax(adversarial_logits, axis=-1)
        hits = ops.cast(ops.equal(predictions, self.target_class), "float32")
        return hits, None

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        arguments = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({arguments})"


class Untargeted(Objective):
    """``−log CE(k(x̂), y)``: push the prediction away from ``y`` (eq. 1).

    Args:
        reference: "prediction" (y = the victim's clean prediction, the
            quantity the fooling rate measures) or "label" (y = the true
            label, as the paper writes it; the data must carry labels).
    """

    def __init__(self, reference="prediction"):
        if reference not in ("prediction", "label"):
            raise ValueError(
                f"reference must be 'prediction' or 'label', got {reference!r}"
            )
        self.reference = reference
        self.needs_labels = reference == "label"

    def per_example_loss(self, clean_logits, adversarial_logits, labels=None):
        if self.reference == "label":
            if labels is None:
                raise ValueError("Untargeted(reference='label') needs labelled data")
            reference = labels
        else:
            reference = ops.argmax(clean_logits, axis=-1)
        return -log_cross_entropy(adversarial_logits, reference)

    def get_config(self):
        return {"reference": self.reference}


class LeastLikely(Objective):
    """``log CE(k(x̂), argmin k(x))``: move to the least-likely class (eq. 2).

    This is what the original code runs for its "non-targeted" mode.
    """

    def per_example_loss(self, clean_logits, adversarial_logits, labels=None):
        least_likely = ops.argmin(clean_logits, axis=-1)
        return log_cross_entropy(adversarial_logits, least_likely)


class Targeted(Objective):
    """``log CE(k(x̂), t)``: move every image to the class ``t`` (eq. 3)."""

    def __init__(self, target_class):
        if isinstance(target_class, bool) or not isinstance(target_class, int):
            raise ValueError(f"target_class must be an int, got {target_class!r}")
        self.target_class = target_class

    def validate(self, num_classes):
        if not 0 <= self.target_class < num_classes:
            raise ValueError(
                f"target class {self.target_class} is outside the victim's "
                f"classes 0..{num_classes - 1}"
            )

    def per_example_loss(self, clean_logits, adversarial_logits, labels=None):
        targets = ops.full(ops.shape(adversarial_logits)[:1], self.target_class, "int32")
        return log_cross_entropy(adversarial_logits, targets)

    def get_config(self):
        return {"target_class": self.target_class}
