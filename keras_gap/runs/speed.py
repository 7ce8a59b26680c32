"""How fast GAP perturbs and trains at the paper's scale, on this machine.

``measure_speed(SpeedSettings())`` builds the paper's setting once per
precision (float32 and the mixed ones asked for): an image-dependent
perturber with the ResNet generator (64 filters, 6 residual blocks) and a
Keras Applications victim (InceptionV3 at 299 × 299), and times

* the generator: one forward pass of the perturber (generator, budget
  projection, clip) per image, at ``generator_batch_size``;
* the victim: one forward pass and one input gradient per image (one PGD
  step costs a gradient, so PGD-10 about ten);
* GAP training: images per second of ``GAPTrainer.fit`` steps (untargeted)
  at ``batch_size``, every step timed until its loss is known.

Each figure is the median of ``repeats`` timed calls after ``warmup``
untimed ones. Random images and random victim weights are used: neither
changes the time. XLA follows ``jit_compile`` ("auto": on under JAX and where a GPU
is visible).
"""

import dataclasses
import datetime
import statistics
import time

import keras
import numpy as np
from keras import ops

from keras_gap import backend
from keras_gap import checks
from keras_gap.generators import check_generator_size
from keras_gap.cost.timing import device_description
from keras_gap.cost.timing import time_forward
from keras_gap.objectives import Untargeted
from keras_gap.perturbers import build_perturber
from keras_gap.reports.tables import format_table
from keras_gap.training.gap_trainer import GAPTrainer
from keras_gap.training.optimizer import gap_optimizer
from keras_gap.training.precision import JIT_COMPILE
from keras_gap.training.precision import MIXED_PRECISIONS
from keras_gap.training.precision import mixed_precision_scope
from keras_gap.victims import is_application
from keras_gap.victims import load_victims

FLOAT32 = "float32"
PRECISIONS = (FLOAT32, *MIXED_PRECISIONS)
EPSILON = 10 / 255  # the paper's ImageNet budget; it does not change the time


@dataclasses.dataclass
class SpeedSettings:
    """What ``measure_speed`` times; the defaults are the paper's setting."""

    victim: str = "inception_v3"
    image_size: int = 299
    generator_filters: int = 64
    generator_blocks: int = 6
    generator_batch_size: int = 64
    batch_size: int = 32
    precisions: tuple = (FLOAT32, "bfloat16")
    jit_compile: str = "auto"
    warmup: int = 2
    repeats: int = 10
    seed: int = 0

    def __post_init__(self):
        self.check()

    def check(self):
        """Raises a ``ValueError`` naming the first bad value."""
        checks.check_positive_integers(self, (
            "image_size", "generator_batch_size", "batch_size", "warmup", "repeats"))
        check_generator_size("resnet", self.generator_filters, self.generator_blocks)
        self.precisions = checks.check_distinct_choices(self.precisions, "precisions",
                                                        PRECISIONS)
        checks.OneOf(JIT_COMPILE).check(self.jit_compile, "jit_compile")
        checks.check_seed(self.seed)


def resolve_jit_compile(setting):
    """True or False for "on"/"off"; "auto": on under JAX (whose steps are
    XLA programs; un-jitted JAX runs op by op) and where a GPU is visible."""
    if setting == "auto":
        return backend.name() == "jax" or bool(backend.visible_gpus())
    return setting == "on"


class _StepTimer(keras.callbacks.Callback):
    """Seconds of each training step, waiting for its loss (on any device)."""

    def __init__(self):
        super().__init__()
        self.seconds = []
        self._start = None

    def on_train_batch_begin(self, batch, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        float(np.asarray((logs or {}).get("loss", 0.0)))
        self.seconds.append(time.perf_counter() - self._start)


def _build(settings, precision):
    """The perturber and the victim of the setting, in ``precision``."""
    keras.utils.set_random_seed(settings.seed)
    image_shape = (settings.image_size, settings.image_size, 3)
    with mixed_precision_scope(None if precision == FLOAT32 else precision):
        weights = ["random"] if is_application(settings.victim) else None
        victim, = load_victims([settings.victim], image_shape, weights=weights)
        perturber = build_perturber(
            "image_dependent", "resnet", victim.input_shape, "linf", EPSILON,
            seed=settings.seed, filters=settings.generator_filters,
            num_residual_blocks=settings.generator_blocks)
    return perturber, victim


def _images(settings, image_shape, batch_size):
    return np.random.default_rng(settings.seed).uniform(
        0.0, 1.0, (batch_size, *image_shape)).astype(np.float32)


def _input_gradient(victim):
    def gradient(images):
        def loss(x):
            logits = victim.logits(x)
            return keras.losses.sparse_categorical_crossentropy(
                ops.stop_gradient(ops.argmax(logits, -1)), logits, from_logits=True)

        return backend.input_gradient(loss, images)[1]

    return gradient


def _time_training(perturber, victim, settings, jit_compile):
    trainer = GAPTrainer(perturber, [victim], Untargeted())
    trainer.compile(gap_optimizer(2e-4), jit_compile=jit_compile)
    images = _images(settings, perturber.image_shape, settings.batch_size)
    timer = _StepTimer()
    steps = settings.warmup + settings.repeats
    trainer.fit(np.repeat(images, steps, axis=0), batch_size=settings.batch_size, epochs=1,
                steps_per_epoch=steps, callbacks=[timer], shuffle=False, verbose=0)
    step_seconds = statistics.median(timer.seconds[settings.warmup:])
    return {"batch_size": settings.batch_size, "seconds_per_step": step_seconds,
            "images_per_second": settings.batch_size / step_seconds,
            "loss_scaling": type(trainer.optimizer).__name__ == "LossScaleOptimizer",
            "warmup": settings.warmup, "repeats": settings.repeats}


def _measure_precision(settings, precision, jit_compile):
    perturber, victim = _build(settings, precision)
    images = _images(settings, perturber.image_shape, settings.generator_batch_size)
    timing = {"warmup": settings.warmup, "repeats": settings.repeats,
              "jit_compile": jit_compile}
    generator = time_forward(lambda x: perturber(x, training=False), images, **timing)
    forward = time_forward(victim.logits, images, **timing)
    gradient = time_forward(_input_gradient(victim), images, **timing)
    return {
        "image_shape": list(perturber.image_shape),
        "generator": {**generator, "parameters": int(perturber.count_params())},
        "victim_forward": {**forward, "parameters": int(victim.model.count_params())},
        "victim_input_gradient": gradient,
        "pgd10_ms_per_image": 10 * gradient["ms_per_image"],
        "training": _time_training(perturber, victim, settings, jit_compile),
    }


def measure_speed(settings, log=None):
    """Times the setting in each precision; returns a JSON-ready dict with
    the device, versions, date, settings and ``{"results": {precision:
    {"image_shape", "generator", "victim_forward", "victim_input_gradient",
    "pgd10_ms_per_image", "training"}}}``."""
    settings.check()
    jit_compile = resolve_jit_compile(settings.jit_compile)
    results = {}
    for precision in settings.precisions:
        if log:
            log(f"timing {precision} ...")
        results[precision] = _measure_precision(settings, precision, jit_compile)
    return {
        "device": device_description(),
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "backend": backend.name(), backend.name(): backend.version(),
        "keras": keras.__version__,
        "jit_compile": jit_compile, "victim_weights": "random (timing only)",
        "settings": dataclasses.asdict(settings), "results": results,
    }


def format_speed(speed):
    """A Markdown table of a ``measure_speed`` result, with its heading."""
    settings = speed["settings"]
    rows = [[precision,
             f"{r['generator']['ms_per_image']:.3f}",
             f"{r['victim_forward']['ms_per_image']:.3f}",
             f"{r['victim_input_gradient']['ms_per_image']:.3f}",
             f"{r['pgd10_ms_per_image']:.3f}",
             f"{r['training']['images_per_second']:,.1f}"]
            for precision, r in speed["results"].items()]
    height, width, _ = next(iter(speed["results"].values()))["image_shape"]
    header = ["precision", f"generator ms/image (batch {settings['generator_batch_size']})",
              "victim forward ms/image", "victim input gradient ms/image",
              "PGD-10 ≈ ms/image", f"GAP training images/s (batch {settings['batch_size']})"]
    return "\n".join([
        f"{settings['victim']} at {height} × {width} px, ResNet generator "
        f"{settings['generator_filters']} filters / {settings['generator_blocks']} blocks, on "
        f"{speed['device']}, XLA {'on' if speed['jit_compile'] else 'off'} (median of "
        f"{settings['repeats']} after {settings['warmup']} warm-up calls):",
        "",
        format_table(header, rows),
    ])
