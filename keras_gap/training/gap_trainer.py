"""``GAPTrainer``: trains a perturber's generator against frozen victims.

A ``keras.Model`` with a custom ``train_step``: ``compile`` then ``fit`` on
a ``tf.data`` pipeline of images in [0, 1] (optionally with labels). Only
the perturber's generator is updated; the victims are frozen and called with
``training=False``. Several victims are fooled at once with the weighted sum
``Σ λᵢ · lossᵢ`` of the paper's multi-model objective.
"""

import keras
import tensorflow as tf

from keras_gap.checks import check_loss_weights
from keras_gap.objectives.feature_space import FeatureObjective
from keras_gap.training.optimizer import gap_optimizer
from keras_gap.training.precision import computes_in_float16
from keras_gap.victims import Victim
from keras_gap.victims import check_victims_agree


def _gather_global_batch(values):
    """Concatenates a per-image tensor over every replica of the global
    batch, so that objectives coupling a batch's images (the batch-mean log)
    see the same batch as on one device."""
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return values
    return context.all_gather(values, axis=0)


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

    The progress bar shows ``loss`` and, per victim, ``fooling_rate`` (the
    share of the batch's images, or pixels for segmenters, whose adversarial
    prediction differs from the clean one) and, for targeted objectives,
    ``target_success_rate`` (the objective's ``target_hits``). With several
    victims the names get the victim's name as a suffix.
    """

    def __init__(self, perturber, victims, objective, loss_weights=None, **kwargs):
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
        self.loss_weights = loss_weights
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
        underflow. ``jit_compile`` (XLA) is Keras' ``"auto"`` by default:
        on where a GPU is visible, off on CPU-only machines.
        """
        if optimizer is None:
            optimizer = gap_optimizer(2e-4)
        optimizer = keras.optimizers.get(optimizer)
        models = [self.perturber, *(v.model for v in self._victims)]
        if computes_in_float16(*models) and not isinstance(
                optimizer, keras.optimizers.LossScaleOptimizer):
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        super().compile(optimizer=optimizer, **kwargs)

    def call(self, images, training=False):
        return self.perturber(images, training=training)

    def _unpack(self, data):
        if isinstance(data, (tuple, list)):
            images = data[0]
            labels = data[1] if len(data) > 1 else None
        else:
            images, labels = data, None
        if self.objective.needs_labels and labels is None:
            raise ValueError(f"{self.objective!r} needs (images, labels) data")
        images = tf.cast(images, tf.float32)
        tf.debugging.assert_greater_equal(
            tf.reduce_min(images), 0.0, message="images must lie in [0, 1]"
        )
        tf.debugging.assert_less_equal(
            tf.reduce_max(images), 1.0, message="images must lie in [0, 1]"
        )
        return images, labels

    def _victim_loss(self, victim, layer, images, adversarial_images, labels, training):
        """``(per-example loss, clean logits, adversarial logits)`` of one
        victim; a feature objective gets features and logits from one pass."""
        if layer is None:
            clean, adversarial = victim.logits(images), victim.logits(adversarial_images)
            loss = self.objective.batch_losses(clean, adversarial, labels, _gather_global_batch)
            return loss, clean, adversarial
        images, adversarial_images = self.objective.victim_inputs(
            images, adversarial_images, training=training)
        (clean_features,), clean = victim.features_and_logits(images, layer)
        (adversarial_features,), adversarial = victim.features_and_logits(
            adversarial_images, layer)
        loss = self.objective.per_example_feature_loss(clean_features, adversarial_features)
        return loss, clean, adversarial

    def _losses_and_logits(self, images, labels, training):
        adversarial_images = self.perturber(images, training=training)
        losses, clean, adversarial = zip(*(
            self._victim_loss(victim, layer, images, adversarial_images, labels, training)
            for victim, layer in zip(self._victims, self._feature_layers)
        ))
        per_example = tf.add_n(
            [weight * loss for weight, loss in zip(self.loss_weights, losses)]
        )
        return per_example, list(clean), list(adversarial)

    def _update_metrics(self, per_example, clean, adversarial):
        self.loss_tracker.update_state(per_example)
        for tracker, c, a in zip(self.fooling_trackers, clean, adversarial):
            changed = tf.not_equal(tf.argmax(a, -1), tf.argmax(c, -1))
            tracker.update_state(tf.cast(changed, tf.float32))
        for tracker, a in zip(self.target_trackers, adversarial):
            hits, weights = self.objective.target_hits(a)
            tracker.update_state(hits, sample_weight=weights)
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data):
        images, labels = self._unpack(data)
        variables = self.perturber.trainable_variables
        with tf.GradientTape() as tape:
            per_example, clean, adversarial = self._losses_and_logits(
                images, labels, training=True
            )
            # Divides by the global batch, so the gradients that the
            # optimizer sums over replicas equal the one-device mean.
            loss = tf.nn.compute_average_loss(per_example)
            # Scaled up by a LossScaleOptimizer (float16), unchanged otherwise;
            # ``apply`` unscales the gradients and skips non-finite steps.
            scaled_loss = self.optimizer.scale_loss(loss)
        gradients = tape.gradient(scaled_loss, variables)
        self.optimizer.apply(gradients, variables)
        return self._update_metrics(per_example, clean, adversarial)

    def test_step(self, data):
        images, labels = self._unpack(data)
        per_example, clean, adversarial = self._losses_and_logits(
            images, labels, training=False
        )
        return self._update_metrics(per_example, clean, adversarial)
