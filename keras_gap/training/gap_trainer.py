"""``GAPTrainer``: trains a perturber's generator against frozen victims.

A ``keras.Model`` whose forward pass is the perturber and whose
``compute_loss`` is the fooling objective against the victims, as Keras'
own ``Distiller`` wraps a frozen teacher: ``compile`` then ``fit`` on images
in [0, 1] (optionally with labels), on any Keras backend (TensorFlow, JAX,
PyTorch), Keras' own training step computing the gradients, scaling losses
for mixed precision and distributing the batch. Only the perturber's
generator is updated; the victims are frozen and called with
``training=False``. Several victims are fooled at once with the weighted
sum ``Σ λᵢ · lossᵢ`` of the paper's multi-model objective.
"""

import keras
import numpy as np
from keras import ops

from keras_gap import backend

from keras_gap.checks import check_loss_weights
from keras_gap.objectives.feature_space import FeatureObjective
from keras_gap.training.optimizer import gap_optimizer
from keras_gap.training.precision import check_trainable_precision
from keras_gap.training.precision import computes_in_float16
from keras_gap.victims import Victim
from keras_gap.victims import check_victims_agree


def _as_victims(victims):
    if isinstance(victims, (Victim, keras.Model)):
        victims = [victims]
    victims = [v if isinstance(v, Victim) else Victim(v) for v in victims]
    if not victims:
        raise ValueError("at least one victim is needed")
    return victims


class GAPTrainer(keras.Model):
    """Trains ``perturber`` to fool ``victims`` under ``objective``.

    Args:
        perturber: a ``UniversalPerturber`` or ``ImageDependentPerturber``.
        victims: a ``Victim``, a Keras classifier, or a list of either.
        objective: an ``Objective`` (e.g. ``Untargeted()``, ``Targeted(3)``,
            ``RelativisticCrossEntropy()``), or a ``FeatureObjective``
            (``FeatureDistance()``, ``FeatureSimilarity()``), which is given
            each victim's feature maps at its ``layers_for`` layer.
        loss_weights: one λ per victim (default 1 each).
        input_diversity: an ``InputDiversity`` layer, or None: in training
            the victims see the adversarial images through it (DI's random
            resize-and-pad, for transfer); the clean images stay as they are.

    The progress bar shows ``loss`` and, per victim, ``fooling_rate`` (the
    share of the batch's images, or pixels for segmenters, whose adversarial
    prediction differs from the clean one) and, for targeted objectives,
    ``target_success_rate`` (the objective's ``target_hits``). With several
    victims the names get the victim's name as a suffix.
    """

    def __init__(self, perturber, victims, objective, loss_weights=None,
                 input_diversity=None, **kwargs):
        # float32 under a mixed policy too: calling the trainer must not
        # round the images to 16 bits before the perturber adds δ.
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        victims = _as_victims(victims)
        check_victims_agree(victims, perturber.image_shape)
        if loss_weights is None:
            loss_weights = [1.0] * len(victims)
        loss_weights = check_loss_weights(loss_weights, len(victims))
        if objective.task is not None and objective.task != victims[0].task:
            raise ValueError(
                f"{objective!r} is an objective for a {objective.task}, but victim "
                f"{victims[0].name} is a {victims[0].task}"
            )
        objective.validate(victims[0].num_classes)
        # Feature objectives (LTP, BIA): one resolved layer per victim, else None.
        self._feature_layers = (
            objective.layers_for(victims) if isinstance(objective, FeatureObjective)
            else [None] * len(victims)
        )
        for victim, layer in zip(victims, self._feature_layers):
            if layer is not None:
                victim.feature_model(layer)  # built here, not while tracing a step
        self.perturber = perturber
        # A tuple of plain objects: Keras does not track the victims, so
        # their weights stay out of the trainer's checkpoints.
        self._victims = tuple(victims)
        self.objective = objective
        # An objective's random draws (BIA's input normalisation) advance a
        # seed generator: tracked here, so a compiled step carries its state.
        self.objective_seed_generator = getattr(objective, "seed_generator", None)
        self.loss_weights = loss_weights
        # A layer: Keras tracks its seed generator, so a compiled step carries it.
        self.input_diversity = input_diversity
        self.loss_tracker = keras.metrics.Mean(name="loss")
        suffixes = [""] if len(victims) == 1 else [f"_{v.name}" for v in victims]
        self.fooling_trackers = [
            keras.metrics.Mean(name=f"fooling_rate{s}") for s in suffixes
        ]
        self.target_trackers = (
            [keras.metrics.Mean(name=f"target_success_rate{s}") for s in suffixes]
            if objective.targeted
            else []
        )

    @property
    def victims(self):
        return self._victims

    @property
    def metrics(self):
        return [self.loss_tracker, *self.fooling_trackers, *self.target_trackers]

    def compile(self, optimizer=None, **kwargs):
        """Defaults to Adam(2e-4, β₁ = 0.5), the original GAP optimiser.

        When the perturber or a victim computes in float16 (a
        ``mixed_float16`` policy), the optimizer is wrapped in
        ``keras.optimizers.LossScaleOptimizer`` so small gradients do not
        underflow; under PyTorch without a CUDA GPU, where float16
        convolutions cannot train, it raises a ``ValueError`` instead.
        ``jit_compile`` (XLA) is Keras' ``"auto"`` by default: on where a GPU
        is visible, off on CPU-only machines.
        """
        if optimizer is None:
            optimizer = gap_optimizer(2e-4)
        optimizer = keras.optimizers.get(optimizer)
        models = [self.perturber, *(v.model for v in self._victims)]
        if computes_in_float16(*models):
            check_trainable_precision("float16")
            if not isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
                optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        super().compile(optimizer=optimizer, **kwargs)

    def call(self, images, training=False):
        return self.perturber(images, training=training)

    def fit(self, x=None, *args, **kwargs):
        """Keras' ``fit``, with the images' range checked where the data
        enters (a compiled JAX step cannot look at values): a ``tf.data``
        pipeline gets a check of every batch, arrays are checked at once. A
        ``tf.data`` pipeline shuffles itself, so ``shuffle`` defaults to False
        for it (Keras would warn that it ignores True)."""
        if type(x).__module__.startswith("tensorflow") and len(args) < 8:
            kwargs.setdefault("shuffle", False)
        return super().fit(_checked_images(x), *args, **kwargs)

    def _victim_loss(self, victim, layer, images, adversarial_images, labels, training):
        """``(per-example loss, clean logits, adversarial logits)`` of one
        victim; a feature objective gets features and logits from one pass."""
        if layer is None:
            clean, adversarial = victim.logits(images), victim.logits(adversarial_images)
            loss = self.objective.batch_losses(clean, adversarial, labels,
                                               backend.gather_global_batch)
            return loss, clean, adversarial
        images, adversarial_images = self.objective.victim_inputs(
            images, adversarial_images, training=training)
        (clean_features,), clean = victim.features_and_logits(images, layer)
        (adversarial_features,), adversarial = victim.features_and_logits(
            adversarial_images, layer)
        loss = self.objective.per_example_feature_loss(clean_features, adversarial_features)
        return loss, clean, adversarial

    def losses_and_logits(self, images, labels=None, adversarial_images=None,
                          training=False):
        """``(per-example loss, [clean logits], [adversarial logits])`` over
        the victims: the weighted sum ``Σ λᵢ · lossᵢ`` per image, and each
        victim's logits. ``adversarial_images`` default to the perturber's."""
        images = ops.cast(images, "float32")
        if adversarial_images is None:
            adversarial_images = self.perturber(images, training=training)
        if training and self.input_diversity is not None:
            adversarial_images = self.input_diversity(adversarial_images, training=True)
        losses, clean, adversarial = zip(*(
            self._victim_loss(victim, layer, images, adversarial_images, labels, training)
            for victim, layer in zip(self._victims, self._feature_layers)
        ))
        per_example = sum(weight * ops.cast(loss, "float32")
                          for weight, loss in zip(self.loss_weights, losses))
        return per_example, list(clean), list(adversarial)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The objective against every victim, weighted: ``x`` the clean
        images, ``y`` their labels (None for image-only data), ``y_pred`` the
        adversarial images. Updates the fooling and target trackers and
        returns the loss divided by the global batch size."""
        images = ops.cast(x, "float32")
        backend.check_unit_range(images)
        if self.objective.needs_labels and y is None:
            raise ValueError(f"{self.objective!r} needs (images, labels) data")
        per_example, clean, adversarial = self.losses_and_logits(images, y, y_pred, training)
        self.loss_tracker.update_state(per_example)
        for tracker, c, a in zip(self.fooling_trackers, clean, adversarial):
            changed = ops.not_equal(ops.argmax(a, axis=-1), ops.argmax(c, axis=-1))
            tracker.update_state(ops.cast(changed, "float32"))
        for tracker, a in zip(self.target_trackers, adversarial):
            hits, weights = self.objective.target_hits(a)
            tracker.update_state(hits, sample_weight=weights)
        return backend.mean_over_global_batch(per_example)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        """The trackers ``compute_loss`` updated: loss, fooling and target rates."""
        return {metric.name: metric.result() for metric in self.metrics}


def _checked_images(data):
    """``data`` whose images are checked to lie in [0, 1]: arrays now, a
    ``tf.data`` pipeline batch by batch; other inputs (generators, PyTorch
    data loaders) are checked by the step where the backend runs eagerly."""
    if isinstance(data, (np.ndarray, list)) or (
            isinstance(data, tuple) and data and isinstance(data[0], np.ndarray)):
        images = np.asarray(data[0] if isinstance(data, tuple) else data, np.float32)
        if images.size and not (0.0 <= images.min() and images.max() <= 1.0):
            raise ValueError(f"images must be float values in [0, 1], got values in "
                             f"[{images.min()}, {images.max()}]")
        return data
    if type(data).__module__.startswith("tensorflow"):
        import tensorflow as tf

        if isinstance(data, tf.data.Dataset):
            return data.map(_assert_unit_range)
    return data


def _assert_unit_range(*batch):
    """A ``tf.data`` map: fails the pipeline on images outside [0, 1]."""
    import tensorflow as tf

    images = batch[0]
    checks = [tf.debugging.assert_greater_equal(tf.reduce_min(tf.cast(images, tf.float32)),
                                                0.0, message="images must lie in [0, 1]"),
              tf.debugging.assert_less_equal(tf.reduce_max(tf.cast(images, tf.float32)), 1.0,
                                             message="images must lie in [0, 1]")]
    with tf.control_dependencies(checks):
        return tuple(tf.identity(item) for item in batch) if len(batch) > 1 else tf.identity(
            images)
