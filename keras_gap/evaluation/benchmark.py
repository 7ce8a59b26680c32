"""GAP against the baselines on one victim and one set of test images.

``run_benchmark(BenchmarkConfig(...))`` is what ``python -m train.benchmark``
calls. For every ε it builds each method (trains the GAP generators, runs
UAP on training images), applies it to the same held-out test images, and
measures the fooling rate (share of images whose prediction changes), the
build time and the time to attack one image. It writes ``benchmark.json``
(a list of rows), ``benchmark.md`` (a table) and ``benchmark.png`` (fooling
rate against ε) into the output directory, all three or none; every value,
the output directory and the batch sizes are checked before the first method.
"""

import dataclasses
import functools
import os
import time

import keras
import numpy as np
import tensorflow as tf

from keras_gap import baselines
from keras_gap.artifacts import check_output_files
from keras_gap.artifacts import files_together
from keras_gap.artifacts import write_json
from keras_gap.baselines import art_reference
from keras_gap.baselines.gradient_attacks import check_budget
from keras_gap.data import load_image_data
from keras_gap.perturbers import build_perturber
from keras_gap.reports.figures import save_curves
from keras_gap.reports.tables import format_table
from keras_gap.reports.tables import write_text
from keras_gap.tasks import task_for
from keras_gap.training.attack_config import generator_settings
from keras_gap.training.gap_trainer import GAPTrainer
from keras_gap.training.resources import check_attack_memory
from keras_gap.training.resources import check_batch_memory
from keras_gap.training.resources import check_generator_size
from keras_gap.training.resources import check_seed
from keras_gap.training.resources import layer_values
from keras_gap.victims import load_victim

PGD_STEPS = 10
REPORT_FILES = ("benchmark.json", "benchmark.md", "benchmark.png")


@dataclasses.dataclass
class BenchmarkConfig:
    """What one benchmark runs; budgets keep a laptop run to minutes."""

    victim: str
    output_dir: str
    dataset: str = "fashion_mnist"
    epsilons: tuple = (0.02, 0.05, 0.1, 0.2)
    norm: str = "linf"
    methods: tuple = None  # None: every method, ART's too when installed
    train_steps: int = 200
    batch_size: int = 64
    generator_filters: int = None
    generator_blocks: int = None
    uap_images: int = 1000
    uap_passes: int = 2
    eval_images: int = 1000
    eval_batch_size: int = 250
    seed: int = 0


def available_methods():
    """Every method name; ART's only when it is installed."""
    return tuple(METHODS) + (tuple(ART_METHODS) if art_reference.art_available() else ())


def _resolve_methods(methods):
    if methods is None:
        return available_methods()
    known = [*METHODS, *ART_METHODS]
    if not methods:
        raise ValueError(f"give at least one method; choose from {known}")
    unknown = [m for m in methods if m not in known]
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}; choose from {list(known)}")
    if not art_reference.art_available() and any(m in ART_METHODS for m in methods):
        raise ValueError(
            f"{[m for m in methods if m in ART_METHODS]} need adversarial-robustness-toolbox: "
            "pip install 'adversarial-robustness-toolbox>=1.20'"
        )
    if len(set(methods)) != len(methods):
        raise ValueError(f"methods must not repeat, got {list(methods)}")
    return tuple(methods)


def check_benchmark_config(config):
    """Checks every value of ``config`` but its victim, and its output
    directory; returns the budgets and the methods to run."""
    if not config.epsilons:
        raise ValueError("give at least one epsilon")
    epsilons = tuple(check_budget(config.norm, e) for e in config.epsilons)
    for name in ("train_steps", "batch_size", "uap_images", "uap_passes", "eval_images",
                 "eval_batch_size"):
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name.replace('_', ' ')} must be an int >= 1, got {value!r}")
    check_seed(config.seed)
    check_generator_size("resnet", config.generator_filters, config.generator_blocks)
    check_output_files(config.output_dir, REPORT_FILES)
    return epsilons, _resolve_methods(config.methods)


def _check_memory(config, victim, methods):
    """Refuses batch sizes this machine cannot hold, before the first method."""
    check_batch_memory(config.eval_batch_size, layer_values(victim.model),
                       flag="--eval-batch-size", what="one attack batch")
    kind = next((m[len("gap_"):] for m in ("gap_image_dependent", "gap_universal")
                 if m in methods), None)
    if kind is not None:
        shape = victim.input_shape
        perturber = build_perturber(kind, "resnet", shape, config.norm, 1.0, **generator_settings(
            "resnet", shape, config.generator_filters, config.generator_blocks))
        check_attack_memory(config.batch_size, perturber, [victim])


def _first_images(data, count):
    images, labels = [], []
    for batch_images, batch_labels in data.dataset(1000, limit=count):
        images.append(batch_images.numpy())
        labels.append(batch_labels.numpy())
    if not images:
        raise ValueError(f"{data.name} {data.split} holds no images")
    return np.concatenate(images), np.concatenate(labels)


class _Bench:
    """The victim, the images and the compiled pieces shared by all methods."""

    def __init__(self, config, victim, task, train, test_images):
        self.config = config
        self.victim = victim
        self.task = task
        self.train = train
        self.test_images = test_images
        self.predict = tf.function(
            lambda images: tf.argmax(victim.logits(images), -1, output_type=tf.int32),
            reduce_retracing=True,
        )
        self.clean = self._predictions(test_images)
        self.uap_images = None

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

    def training_images(self):
        if self.uap_images is None:
            self.uap_images, _ = _first_images(self.train, self.config.uap_images)
        return self.uap_images


def _gap(bench, epsilon, kind):
    config = bench.config
    image_shape = bench.victim.input_shape
    keras.utils.set_random_seed(config.seed)
    perturber = build_perturber(
        kind, "resnet", image_shape, config.norm, epsilon, seed=config.seed,
        **generator_settings("resnet", image_shape, config.generator_filters,
                             config.generator_blocks))
    trainer = GAPTrainer(perturber, [bench.victim], bench.task.objective("untargeted"))
    trainer.compile()
    start = time.perf_counter()
    trainer.fit(bench.train.dataset(config.batch_size, shuffle_seed=config.seed, repeat=True),
                epochs=1, steps_per_epoch=config.train_steps, shuffle=False, verbose=0)
    build_seconds = time.perf_counter() - start
    apply = tf.function(functools.partial(perturber, training=False), reduce_retracing=True)
    return build_seconds, lambda images, index: apply(images)


def _universal(build, bench, epsilon):
    start = time.perf_counter()
    delta = tf.constant(build(bench.victim, bench.training_images(), epsilon))
    build_seconds = time.perf_counter() - start
    apply = tf.function(lambda images: baselines.apply_universal(images, delta),
                        reduce_retracing=True)
    return build_seconds, lambda images, index: apply(images)


def _uap(bench, epsilon):
    config = bench.config
    return _universal(functools.partial(
        baselines.uap, norm=config.norm, max_passes=config.uap_passes, seed=config.seed),
        bench, epsilon)


def _art_uap(bench, epsilon):
    config = bench.config
    return _universal(functools.partial(
        art_reference.art_universal_perturbation, norm=config.norm,
        max_passes=config.uap_passes, seed=config.seed), bench, epsilon)


def _fgsm(bench, epsilon):
    return 0.0, lambda images, index: baselines.fgsm(
        bench.victim, images, epsilon, bench.config.norm)


def _pgd10(bench, epsilon):
    return 0.0, lambda images, index: baselines.pgd(
        bench.victim, images, epsilon, bench.config.norm, steps=PGD_STEPS)


def _art_pgd(bench, epsilon):
    return 0.0, lambda images, index: art_reference.art_pgd(
        bench.victim, images, epsilon, bench.config.norm, steps=PGD_STEPS,
        batch_size=bench.config.eval_batch_size)


def _random(bench, epsilon):
    """A fresh ±ε sign pattern per image: the floor to beat."""
    return 0.0, lambda images, index: baselines.random_noise(
        images, epsilon, bench.config.norm, seed=bench.config.seed + index)


# Each builder returns ``(build_seconds, attack(batch, batch_index))``.
METHODS = {
    "gap_universal": functools.partial(_gap, kind="universal"),
    "gap_image_dependent": functools.partial(_gap, kind="image_dependent"),
    "uap": _uap,
    "fgsm": _fgsm,
    "pgd10": _pgd10,
    "random": _random,
}
ART_METHODS = {"art_uap": _art_uap, "art_pgd": _art_pgd}


def run_benchmark(config, log=print):
    """Runs every method at every ε, writes the reports, returns the rows."""
    epsilons, methods = check_benchmark_config(config)
    victim = load_victim(config.victim)
    if victim.task != "classifier":
        raise ValueError(
            f"train.benchmark compares attacks on classifiers; {victim.name} is a "
            f"{victim.task} (attack it with train.universal or train.image_dependent)"
        )
    _check_memory(config, victim, methods)
    train = load_image_data(config.dataset, "train", victim.input_shape)
    test = load_image_data(config.dataset, "test", victim.input_shape)
    task = task_for(victim)
    task.check_data(victim, train)
    test_images, test_labels = _first_images(test, config.eval_images)
    bench = _Bench(config, victim, task, train, test_images)
    clean_accuracy = float(np.mean(bench.clean == test_labels))
    log(f"Benchmark on {victim.name} ({len(test_images)} {config.dataset} test images, "
        f"clean accuracy {clean_accuracy:.4f}), {config.norm} epsilons "
        f"{', '.join(f'{e:g}' for e in epsilons)}: {', '.join(methods)}")
    rows = []
    total = len(epsilons) * len(methods)
    for epsilon in epsilons:
        for method in methods:
            build_seconds, attack = {**METHODS, **ART_METHODS}[method](bench, epsilon)
            fooling_rate, ms_per_image = bench.measure(attack)
            rows.append({"method": method, "epsilon": epsilon, "fooling_rate": fooling_rate,
                         "target_success_rate": None, "build_seconds": build_seconds,
                         "ms_per_image": ms_per_image})
            log(f"[{len(rows)}/{total}] {method:<20} epsilon {epsilon:<6g} fooling "
                f"{fooling_rate:.3f}  build {build_seconds:6.1f} s  {ms_per_image:.3f} ms/image")
    os.makedirs(config.output_dir, exist_ok=True)
    description = (
        f"Victim {victim.name}, {len(test_images)} {config.dataset} test images (clean "
        f"accuracy {clean_accuracy:.4f}), {config.norm} budget, untargeted. GAP: "
        f"{config.train_steps} training steps of batch {config.batch_size}; UAP: "
        f"{config.uap_images} training images, at most {config.uap_passes} passes."
    )
    _write_reports(rows, description, config.norm, config.output_dir)
    log(f"Reports in {config.output_dir}")
    return rows


def markdown_table(rows):
    """The rows as a Markdown table."""
    header = ["method", "ε", "fooling rate", "target success rate", "build (s)", "ms / image"]
    cells = [[row["method"], f"{row['epsilon']:g}", f"{row['fooling_rate']:.3f}",
              row["target_success_rate"], f"{row['build_seconds']:.1f}",
              f"{row['ms_per_image']:.3f}"] for row in rows]
    return format_table(header, cells, align="llrrrr")


def _write_reports(rows, description, norm, output_dir):
    """Writes the ``REPORT_FILES``, all of them or none."""
    paths = [os.path.join(output_dir, name) for name in REPORT_FILES]
    curves = {}
    for row in rows:
        curves.setdefault(row["method"], []).append((row["epsilon"], row["fooling_rate"]))
    with files_together(paths) as staged:
        write_json(staged[paths[0]], rows)
        write_text(staged[paths[1]], f"# Benchmark\n\n{description}\n\n{markdown_table(rows)}")
        save_curves(curves, f"{norm} ε (pixel units of [0, 1])", "fooling rate",
                    staged[paths[2]])
