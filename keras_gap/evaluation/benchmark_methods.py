"""The methods ``train.benchmark`` compares, each built under the same budget.

Every builder takes the shared ``Bench`` and an ε and returns a ``Built``:
the wall-clock seconds it spent building (training a generator, fitting a
universal perturbation; 0 for per-image attacks), the attack to apply to a
batch, its FLOPs per image (``evaluation.cost``) and what it used of its
budget. The data-driven methods (GAP universal and image-dependent, UAP,
ART's UAP) all learn from ``bench.train_images``, the same seeded sample,
and with ``time_budget`` all stop after the same number of seconds.
"""

import dataclasses
import functools
import math
import time

import keras
import numpy as np
import tensorflow as tf

from keras_gap import baselines
from keras_gap.baselines import art_reference
from keras_gap.evaluation.cost import attack_flops
from keras_gap.evaluation.cost import flops_per_image
from keras_gap.generators import generator_arguments
from keras_gap.perturbers import build_perturber
from keras_gap.training.gap_trainer import GAPTrainer
from keras_gap.training.gap_trainer import gap_optimizer

PGD_STEPS = 10
# FLOPs per pixel of adding a ready perturbation and clipping to [0, 1].
ADD_AND_CLIP_FLOPS = 3
# The step cap of a GAP run under a time budget (the budget ends it).
_UNLIMITED_STEPS = 10**9


@dataclasses.dataclass
class Built:
    """One method, built: see the module docstring."""

    build_seconds: float
    attack: object  # attack(batch, batch_index) -> adversarial batch
    flops_per_image: int
    budget_used: str


class Bench:
    """The victim, the images and the compiled pieces shared by all methods."""

    def __init__(self, config, victim, task, train_images, test_images, test_labels,
                 test_split="test"):
        self.config = config
        self.test_split = test_split
        self.victim = victim
        self.task = task
        self.train_images = train_images
        self.test_images = test_images
        self.predict = tf.function(
            lambda images: tf.argmax(victim.logits(images), -1, output_type=tf.int32),
            reduce_retracing=True,
        )
        self.clean = self._predictions(test_images)
        self.clean_accuracy = float(np.mean(self.clean == test_labels))
        self.pixels = math.prod(victim.input_shape)
        self.victim_flops = _victim_flops(victim)

    def _batches(self, images):
        size = self.config.eval_batch_size
        return [images[start:start + size] for start in range(0, len(images), size)]

    def _predictions(self, images):
        return np.concatenate([self.predict(batch).numpy() for batch in self._batches(images)])

    def measure(self, attack):
        """Applies ``attack(batch, index)`` to the test images (after one
        untimed call per batch shape). Returns ``(fooling_rate, ms_per_image)``."""
        batches = self._batches(self.test_images)
        for index in sorted({0, len(batches) - 1}):
            attack(batches[index], index)
        start = time.perf_counter()
        adversarial = [np.asarray(attack(batch, index)) for index, batch in enumerate(batches)]
        seconds = time.perf_counter() - start
        adversarial = np.concatenate(adversarial)
        fooled = self._predictions(adversarial) != self.clean
        return float(np.mean(fooled)), 1000.0 * seconds / len(self.test_images)


def _victim_flops(victim):
    """FLOPs of one forward pass, or None for a model without a layer graph."""
    try:
        return flops_per_image(victim.model)
    except ValueError:
        return None


class StopAfter(keras.callbacks.Callback):
    """Stops ``fit`` after the batch during which ``seconds`` ran out, and
    counts the steps taken."""

    def __init__(self, seconds):
        super().__init__()
        self.seconds = seconds
        self.start = None
        self.steps = 0

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        if self.seconds is not None and time.perf_counter() - self.start >= self.seconds:
            self.model.stop_training = True


def _gap(bench, epsilon, kind):
    config = bench.config
    generator, train_steps, learning_rate, ema_momentum = config.gap_settings(kind)
    image_shape = bench.victim.input_shape
    keras.utils.set_random_seed(config.seed)
    perturber = build_perturber(
        kind, generator, image_shape, config.norm, epsilon, seed=config.seed,
        **generator_arguments(generator, image_shape, config.generator_filters,
                              config.generator_blocks))
    trainer = GAPTrainer(perturber, [bench.victim], bench.task.objective("untargeted"))
    trainer.compile(gap_optimizer(learning_rate, ema_momentum))
    images = tf.data.Dataset.from_tensor_slices(bench.train_images).shuffle(
        len(bench.train_images), seed=config.seed, reshuffle_each_iteration=True)
    counter = StopAfter(config.time_budget)
    steps = _UNLIMITED_STEPS if config.time_budget else train_steps
    start = time.perf_counter()
    trainer.fit(images.repeat().batch(config.batch_size).prefetch(2), epochs=1,
                steps_per_epoch=steps, shuffle=False, verbose=0, callbacks=[counter])
    build_seconds = time.perf_counter() - start
    apply = tf.function(functools.partial(perturber, training=False), reduce_retracing=True)
    flops = (ADD_AND_CLIP_FLOPS * bench.pixels if kind == "universal"
             else flops_per_image(perturber.generator))
    return Built(build_seconds, lambda batch, index: apply(batch), flops,
                 f"{counter.steps} steps of {config.batch_size}")


def _universal(build, bench, epsilon):
    start = time.perf_counter()
    delta = tf.constant(build(bench.victim, bench.train_images, epsilon,
                              time_budget=bench.config.time_budget))
    build_seconds = time.perf_counter() - start
    apply = tf.function(lambda images: baselines.apply_universal(images, delta),
                        reduce_retracing=True)
    passes = ("until the time budget or its target fooling rate" if bench.config.time_budget
              else f"at most {bench.config.uap_passes} passes")
    return Built(build_seconds, lambda batch, index: apply(batch),
                 ADD_AND_CLIP_FLOPS * bench.pixels, passes)


def _passes(config):
    """Passes over the training images: the cap, or unbounded under a time budget."""
    return _UNLIMITED_STEPS if config.time_budget else config.uap_passes


def _uap(bench, epsilon):
    config = bench.config
    return _universal(functools.partial(
        baselines.uap, norm=config.norm, max_passes=_passes(config), seed=config.seed),
        bench, epsilon)


def _art_uap(bench, epsilon):
    config = bench.config
    return _universal(functools.partial(
        art_reference.art_universal_perturbation, norm=config.norm,
        max_passes=_passes(config), seed=config.seed), bench, epsilon)


def _gradient(bench, steps, attack):
    flops = None if bench.victim_flops is None else attack_flops(bench.victim_flops, steps)
    return Built(0.0, attack, flops,
                 f"{steps} victim forward+backward pass{'es' if steps > 1 else ''}")


def _fgsm(bench, epsilon):
    return _gradient(bench, 1, lambda images, index: baselines.fgsm(
        bench.victim, images, epsilon, bench.config.norm))


def _pgd10(bench, epsilon):
    return _gradient(bench, PGD_STEPS, lambda images, index: baselines.pgd(
        bench.victim, images, epsilon, bench.config.norm, steps=PGD_STEPS))


def _art_pgd(bench, epsilon):
    return _gradient(bench, PGD_STEPS, lambda images, index: art_reference.art_pgd(
        bench.victim, images, epsilon, bench.config.norm, steps=PGD_STEPS,
        batch_size=bench.config.eval_batch_size))


def _random(bench, epsilon):
    """A fresh ±ε sign pattern per image: the floor to beat."""
    return Built(0.0, lambda images, index: baselines.random_noise(
        images, epsilon, bench.config.norm, seed=bench.config.seed + index),
        ADD_AND_CLIP_FLOPS * bench.pixels, "none")


METHODS = {
    "gap_universal": functools.partial(_gap, kind="universal"),
    "gap_image_dependent": functools.partial(_gap, kind="image_dependent"),
    "uap": _uap,
    "fgsm": _fgsm,
    "pgd10": _pgd10,
    "random": _random,
}
ART_METHODS = {"art_uap": _art_uap, "art_pgd": _art_pgd}
# The methods that learn from the training images (and share their budget).
DATA_DRIVEN = ("gap_universal", "gap_image_dependent", "uap", "art_uap")
# Methods that back-propagate through the victim on the attacked batches.
VICTIM_GRADIENTS = ("uap", "fgsm", "pgd10", "art_uap", "art_pgd")
