"""How fast a perturbation is made: one perturber forward pass vs one victim's.

The paper's speed claim is that a GAP perturbation costs one forward pass of
the generator, where iterative attacks (PGD, UAP) cost many forward and
backward passes of the victim. ``measure_throughput`` times both on the
machine it runs on: each model is compiled by the Keras backend, called on a
fixed batch of ``batch_size`` random images for ``warmup`` untimed batches,
then for ``repeats`` timed batches; the median batch time gives images/s and
ms/image. The perturber's time covers everything that turns a clean image
into an adversarial one (generator, budget projection, clipping).
"""

import os
import platform
import statistics
import time

import numpy as np
from keras import ops

from keras_gap import backend
from keras_gap import checks
from keras_gap.reports.tables import format_table

DEFAULT_BATCH_SIZE = 256
DEFAULT_WARMUP = 2
DEFAULT_REPEATS = 5


def _cpu_name():
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_description():
    """The device the Keras backend runs the models on, in words."""
    gpus = backend.visible_gpus()
    if gpus:
        return f"GPU {', '.join(gpus)}"
    return f"CPU {_cpu_name()} ({os.cpu_count()} cores visible)"


def time_forward(function, images, warmup=DEFAULT_WARMUP, repeats=DEFAULT_REPEATS,
                 jit_compile=None):
    """Times ``function(images)`` compiled by the backend (``tf.function``,
    with XLA when ``jit_compile`` is True; ``jax.jit``): ``time_call`` of
    the compiled function."""
    return time_call(backend.compiled(function, jit_compile=jit_compile), images, warmup,
                     repeats)


def time_call(call, images, warmup=DEFAULT_WARMUP, repeats=DEFAULT_REPEATS):
    """Times ``call(images)`` as it is (an attack that compiles its own
    steps, such as ``baselines.pgd``, or a compiled function).

    Returns ``{"batch_size", "seconds_per_batch", "images_per_second",
    "ms_per_image", "warmup", "repeats"}``; the batch time is the median of
    ``repeats`` timed calls made after ``warmup`` untimed ones (the first
    of which traces and compiles).
    """
    checks.POSITIVE_INTEGER.check(warmup, "warmup")
    checks.POSITIVE_INTEGER.check(repeats, "repeats")
    images = ops.convert_to_tensor(images, "float32")
    batch_size = int(images.shape[0])
    for _ in range(warmup):
        ops.convert_to_numpy(call(images))
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        ops.convert_to_numpy(call(images))  # waits for the result, on any device
        seconds.append(time.perf_counter() - start)
    batch_seconds = statistics.median(seconds)
    return {
        "batch_size": batch_size,
        "seconds_per_batch": batch_seconds,
        "images_per_second": batch_size / batch_seconds,
        "ms_per_image": 1000.0 * batch_seconds / batch_size,
        "warmup": int(warmup),
        "repeats": int(repeats),
    }


def measure_throughput(perturbers, victims, batch_size=DEFAULT_BATCH_SIZE,
                       warmup=DEFAULT_WARMUP, repeats=DEFAULT_REPEATS, seed=0):
    """Times each perturber's forward pass next to each victim's.

    Args:
        perturbers: a perturber, or ``{label: perturber}`` for several
            (labelled "perturber" when one is given).
        victims: ``Victim``s taking the perturbers' image shape.
        batch_size: images per timed call.
        warmup, repeats: untimed and timed calls per model.
        seed: seed of the random input images.

    Returns:
        ``{"device", "batch_size", "perturbers": {label: timing},
        "victims": {name: timing}, "perturber_to_victim_ratio": {label:
        {name: perturber ms / victim ms}}}``; each timing is
        ``time_forward``'s plus "parameters".
    """
    checks.POSITIVE_INTEGER.check(batch_size, "batch size")
    if not isinstance(perturbers, dict):
        perturbers = {"perturber": perturbers}
    images = {}

    def batch(image_shape):
        if image_shape not in images:
            shape = (int(batch_size),) + image_shape
            images[image_shape] = np.random.default_rng(seed).uniform(
                0.0, 1.0, shape).astype(np.float32)
        return images[image_shape]

    perturber_timings = {}
    for label, perturber in perturbers.items():
        timing = time_forward(lambda x, p=perturber: p(x, training=False),
                              batch(tuple(perturber.image_shape)), warmup, repeats)
        timing["parameters"] = int(perturber.count_params())
        perturber_timings[label] = timing
    victim_timings = {}
    for victim in victims:
        timing = time_forward(lambda x, model=victim.model: model(x, training=False),
                              batch(tuple(victim.input_shape)), warmup, repeats)
        timing["parameters"] = int(victim.model.count_params())
        victim_timings[victim.name] = timing
    return {
        "device": device_description(),
        "batch_size": int(batch_size),
        "perturbers": perturber_timings,
        "victims": victim_timings,
        "perturber_to_victim_ratio": {
            label: {name: p["ms_per_image"] / v["ms_per_image"]
                    for name, v in victim_timings.items()}
            for label, p in perturber_timings.items()
        },
    }


def format_throughput(throughput):
    """A Markdown table of a ``measure_throughput`` result, with its heading."""
    perturbers = throughput["perturbers"]
    victims = throughput["victims"]
    any_timing = next(iter({**perturbers, **victims}.values()))
    header = ["model", "parameters", "ms/image", "images/s"] + [
        f"÷ {name} ms" for name in victims]
    rows = []
    for label, timing in perturbers.items():
        ratios = throughput["perturber_to_victim_ratio"][label]
        rows.append([label, f"{timing['parameters']:,}", f"{timing['ms_per_image']:.3f}",
                     f"{timing['images_per_second']:,.0f}",
                     *(f"{ratios[name]:.2f}" for name in victims)])
    for name, timing in victims.items():
        rows.append([f"victim {name}", f"{timing['parameters']:,}",
                     f"{timing['ms_per_image']:.3f}", f"{timing['images_per_second']:,.0f}",
                     *("" for _ in victims)])
    return "\n".join([
        f"Forward-pass speed at batch {throughput['batch_size']} on "
        f"{throughput['device']} (median of {any_timing['repeats']} batches after "
        f"{any_timing['warmup']} warm-up batches; ÷ column: how many victim forward "
        "passes one perturbation costs):",
        "",
        format_table(header, rows),
    ])
