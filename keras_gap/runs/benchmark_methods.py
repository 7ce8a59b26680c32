"""The methods ``train.benchmark`` compares, each built under the same budget.

Each method is a small ``BenchmarkMethod`` class listed in ``METHODS``.
Its ``build(bench, epsilon)`` takes the shared ``Bench`` and an ε and
returns a ``Built``: the wall-clock seconds it spent building (training a
generator, fitting a universal perturbation; 0 for per-image attacks), the
attack to apply to a batch, its FLOPs per image (``cost.flops``) and what
it used of its budget. The data-driven methods (``learns_from_images``:
GAP universal and image-dependent, UAP, ART's UAP) all learn from
``bench.train_images``, the same seeded sample, and with ``time_budget``
all stop after the same number of seconds.

A new baseline is one class and one entry in ``METHODS`` (the example of
docs/benchmarks.md, "Adding a baseline", tested in tests/test_benchmark.py)::

    class GaussianNoise(BenchmarkMethod):
        name = "gaussian"
        description = "Gaussian noise clipped to the L∞ budget, a second floor"

        def build(self, bench, epsilon):
            def attack(images, index):
                ...
            return Built(0.0, attack, 3 * bench.pixels, "none")

``--methods``, its help text, the report's header and the memory check all
read the class.
"""

import dataclasses
import functools
import math
import time

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from keras_gap import backend
from keras_gap import baselines
from keras_gap.baselines import art_reference
from keras_gap.baselines.gradient_attacks import PGD_STEPS
from keras_gap.cost.flops import ADD_AND_CLIP_FLOPS
from keras_gap.cost.flops import attack_flops
from keras_gap.cost.flops import flops_per_image
from keras_gap.cost.flops import perturber_flops_per_image
from keras_gap.generators import generator_arguments
from keras_gap.perturbers import build_perturber
from keras_gap.training.gap_trainer import GAPTrainer
from keras_gap.training.optimizer import gap_optimizer

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
        self.predict = backend.compiled(
            lambda images: ops.argmax(victim.logits(images), axis=-1))
        self.clean = self._predictions(test_images)
        self.clean_accuracy = float(np.mean(self.clean == test_labels))
        self.pixels = math.prod(victim.input_shape)
        self.victim_flops = _victim_flops(victim)

    def _batches(self, images):
        size = self.config.eval_batch_size
        return [images[start:start + size] for start in range(0, len(images), size)]

    def _predictions(self, images):
        return np.concatenate([ops.convert_to_numpy(self.predict(batch))
                               for batch in self._batches(images)])

    def measure(self, attack):
        """Applies ``attack(batch, index)`` to the test images (after one
        untimed call per batch shape). Returns ``(fooling_rate, ms_per_image)``."""
        batches = self._batches(self.test_images)
        for index in sorted({0, len(batches) - 1}):
            attack(batches[index], index)
        start = time.perf_counter()
        adversarial = [ops.convert_to_numpy(attack(batch, index)) for index, batch in enumerate(batches)]
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


class BenchmarkMethod:
    """One attack the benchmark measures.

    Subclasses set ``name`` (the ``--methods`` value), ``description`` (one
    line for ``--help`` and the docs) and what the benchmark must know of
    them, and implement ``build(bench, epsilon)`` → ``Built``.
    """

    name = None
    description = None
    # Learns from the training images (and shares their budget).
    learns_from_images = False
    # Back-propagates through the victim on the attacked batches (memory).
    back_propagates_through_victim = False

    def available(self):
        """Whether what the method needs is installed."""
        return True

    def missing(self):
        """How to install what the method needs (when ``available`` is False)."""
        return None

    def build(self, bench, epsilon):
        raise NotImplementedError


class GapMethod(BenchmarkMethod):
    """A GAP generator trained as ``python -m train.<kind>`` trains it."""

    kind = None
    learns_from_images = True

    def build(self, bench, epsilon):
        config = bench.config
        generator, train_steps, learning_rate, ema_momentum = config.gap_settings(self.kind)
        image_shape = bench.victim.input_shape
        keras.utils.set_random_seed(config.seed)
        perturber = build_perturber(
            self.kind, generator, image_shape, config.norm, epsilon, seed=config.seed,
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
        apply = backend.compiled(functools.partial(perturber, training=False))
        flops = perturber_flops_per_image(perturber)
        return Built(build_seconds, lambda batch, index: apply(batch), flops,
                     f"{counter.steps} steps of {config.batch_size}")


class GapUniversal(GapMethod):
    name = "gap_universal"
    kind = "universal"
    description = "GAP's universal perturbation, trained as train.universal trains it"


class GapImageDependent(GapMethod):
    name = "gap_image_dependent"
    kind = "image_dependent"
    description = "GAP's image-dependent generator, trained as train.image_dependent does"


def _passes(config):
    """Passes over the training images: the cap, or unbounded under a time budget."""
    return _UNLIMITED_STEPS if config.time_budget else config.uap_passes


class UniversalBaseline(BenchmarkMethod):
    """A universal perturbation found by optimisation over the training images."""

    learns_from_images = True
    back_propagates_through_victim = True

    def find(self, bench, epsilon):
        """The perturbation δ, shape ``(1, H, W, C)``."""
        raise NotImplementedError

    def build(self, bench, epsilon):
        start = time.perf_counter()
        delta = ops.convert_to_tensor(self.find(bench, epsilon), "float32")
        build_seconds = time.perf_counter() - start
        apply = backend.compiled(lambda images: baselines.apply_universal(images, delta))
        passes = ("until the time budget or its target fooling rate"
                  if bench.config.time_budget else f"at most {bench.config.uap_passes} passes")
        return Built(build_seconds, lambda batch, index: apply(batch),
                     ADD_AND_CLIP_FLOPS * bench.pixels, passes)


class Uap(UniversalBaseline):
    name = "uap"
    description = "universal adversarial perturbation (Moosavi-Dezfooli et al., DeepFool steps)"

    def find(self, bench, epsilon):
        config = bench.config
        return baselines.uap(bench.victim, bench.train_images, epsilon, norm=config.norm,
                             max_passes=_passes(config), seed=config.seed,
                             time_budget=config.time_budget)


class ArtMethod(BenchmarkMethod):
    """A method from the Adversarial Robustness Toolbox (an optional extra)."""

    def available(self):
        return art_reference.art_available()

    def missing(self):
        if keras.backend.backend() != "tensorflow":
            return "ART's TensorFlowV2Classifier: run with KERAS_BACKEND=tensorflow"
        return "pip install 'adversarial-robustness-toolbox>=1.20'"


class ArtUap(ArtMethod, UniversalBaseline):
    name = "art_uap"
    description = "ART's UniversalPerturbation, the reference implementation of UAP"

    def find(self, bench, epsilon):
        config = bench.config
        return art_reference.art_universal_perturbation(
            bench.victim, bench.train_images, epsilon, norm=config.norm,
            max_passes=_passes(config), seed=config.seed, time_budget=config.time_budget)


class GradientAttack(BenchmarkMethod):
    """An attack of ``steps`` victim forward and backward passes per batch."""

    steps = 1
    back_propagates_through_victim = True

    def attack(self, bench, epsilon, images):
        raise NotImplementedError

    def build(self, bench, epsilon):
        flops = (None if bench.victim_flops is None
                 else attack_flops(bench.victim_flops, self.steps))
        return Built(0.0, lambda images, index: self.attack(bench, epsilon, images), flops,
                     f"{self.steps} victim forward+backward pass"
                     f"{'es' if self.steps > 1 else ''}")


class Fgsm(GradientAttack):
    name = "fgsm"
    description = "the fast gradient sign method: one step of size ε"

    def attack(self, bench, epsilon, images):
        return baselines.fgsm(bench.victim, images, epsilon, bench.config.norm)


class Pgd10(GradientAttack):
    name = "pgd10"
    steps = PGD_STEPS
    description = f"projected gradient descent, {PGD_STEPS} steps of 2.5 ε / {PGD_STEPS}"

    def attack(self, bench, epsilon, images):
        return baselines.pgd(bench.victim, images, epsilon, bench.config.norm, steps=self.steps)


class ArtPgd(ArtMethod, GradientAttack):
    name = "art_pgd"
    steps = PGD_STEPS
    description = f"ART's ProjectedGradientDescent, {PGD_STEPS} steps"

    def attack(self, bench, epsilon, images):
        return art_reference.art_pgd(bench.victim, images, epsilon, bench.config.norm,
                                     steps=self.steps, batch_size=bench.config.eval_batch_size)


class RandomNoise(BenchmarkMethod):
    name = "random"
    description = "a fresh ±ε sign pattern per image: the floor every attack must beat"

    def build(self, bench, epsilon):
        return Built(0.0, lambda images, index: baselines.random_noise(
            images, epsilon, bench.config.norm, seed=bench.config.seed + index),
            ADD_AND_CLIP_FLOPS * bench.pixels, "none")


# Every method, in the order the reports list them: a new method is a class
# above and an entry here.
METHODS = {method.name: method for method in (
    GapUniversal(), GapImageDependent(), Uap(), Fgsm(), Pgd10(), RandomNoise(), ArtUap(),
    ArtPgd(),
)}
# The methods that learn from the training images (and share their budget).
DATA_DRIVEN = tuple(name for name, method in METHODS.items() if method.learns_from_images)
