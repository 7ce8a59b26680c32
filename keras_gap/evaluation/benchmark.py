"""GAP against the baselines on one victim and one set of test images.

``run_benchmark(BenchmarkConfig(...))`` is what ``python -m train.benchmark``
calls. For every ε it builds each method (trains the GAP generators, runs
UAP on training images), applies it to the same held-out test images, and
measures the fooling rate (share of images whose prediction changes), the
build time and the time to attack one image. It writes ``benchmark.json``
(a list of rows), ``benchmark.md`` (a table) and ``benchmark.png`` (fooling
rate against ε) into the output directory, each atomically.
"""

import dataclasses
import functools
import os
import time

import keras
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_gap import baselines  # noqa: E402
from keras_gap.artifacts import atomic_path  # noqa: E402
from keras_gap.artifacts import write_json  # noqa: E402
from keras_gap.training.attack_run import AttackConfig  # noqa: E402
from keras_gap.training.attack_run import build_perturber  # noqa: E402
from keras_gap.training.attack_run import generator_settings  # noqa: E402
from keras_gap.baselines import art_reference  # noqa: E402
from keras_gap.baselines.gradient_attacks import check_budget  # noqa: E402
from keras_gap.data import load_image_data  # noqa: E402
from keras_gap.objectives import Untargeted  # noqa: E402
from keras_gap.training.gap_trainer import GAPTrainer  # noqa: E402
from keras_gap.victims import load_victim  # noqa: E402

METHODS = ("gap_universal", "gap_image_dependent", "uap", "fgsm", "pgd10", "random")
ART_METHODS = ("art_uap", "art_pgd")
PGD_STEPS = 10


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
    return METHODS + (ART_METHODS if art_reference.art_available() else ())


def _resolve_methods(methods):
    if methods is None:
        return available_methods()
    known = METHODS + ART_METHODS
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


def _check_config(config):
    if not config.epsilons:
        raise ValueError("give at least one epsilon")
    epsilons = tuple(check_budget(config.norm, e) for e in config.epsilons)
    for name in ("train_steps", "batch_size", "uap_images", "uap_passes", "eval_images",
                 "eval_batch_size"):
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name.replace('_', ' ')} must be an int >= 1, got {value!r}")
    return epsilons, _resolve_methods(config.methods)


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

    def __init__(self, config, victim, train, test_images):
        self.config = config
        self.victim = victim
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


def _gap(bench, kind, epsilon):
    config = bench.config
    image_shape = bench.victim.input_shape
    keras.utils.set_random_seed(config.seed)
    settings = AttackConfig(generator_filters=config.generator_filters,
                            generator_blocks=config.generator_blocks)
    perturber = build_perturber(kind, "resnet", image_shape, config.norm, epsilon,
                                seed=config.seed, **generator_settings(settings, image_shape))
    trainer = GAPTrainer(perturber, [bench.victim], Untargeted())
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


def _build(method, bench, epsilon):
    """Returns ``(build_seconds, attack(batch, batch_index))`` for ``method``."""
    config = bench.config
    norm = config.norm
    if method == "gap_universal":
        return _gap(bench, "universal", epsilon)
    if method == "gap_image_dependent":
        return _gap(bench, "image_dependent", epsilon)
    if method == "uap":
        return _universal(functools.partial(
            baselines.uap, norm=norm, max_passes=config.uap_passes, seed=config.seed),
            bench, epsilon)
    if method == "art_uap":
        return _universal(functools.partial(
            art_reference.art_universal_perturbation, norm=norm,
            max_passes=config.uap_passes, seed=config.seed), bench, epsilon)
    if method == "fgsm":
        return 0.0, lambda images, index: baselines.fgsm(bench.victim, images, epsilon, norm)
    if method == "pgd10":
        return 0.0, lambda images, index: baselines.pgd(
            bench.victim, images, epsilon, norm, steps=PGD_STEPS)
    if method == "art_pgd":
        return 0.0, lambda images, index: art_reference.art_pgd(
            bench.victim, images, epsilon, norm, steps=PGD_STEPS,
            batch_size=config.eval_batch_size)
    # "random": a fresh ±ε sign pattern per image, the floor to beat.
    return 0.0, lambda images, index: baselines.random_noise(
        images, epsilon, norm, seed=config.seed + index)


def run_benchmark(config, log=print):
    """Runs every method at every ε, writes the reports, returns the rows."""
    epsilons, methods = _check_config(config)
    victim = load_victim(config.victim)
    train = load_image_data(config.dataset, "train", victim.input_shape)
    test = load_image_data(config.dataset, "test", victim.input_shape)
    test_images, test_labels = _first_images(test, config.eval_images)
    bench = _Bench(config, victim, train, test_images)
    clean_accuracy = float(np.mean(bench.clean == test_labels))
    log(f"Benchmark on {victim.name} ({len(test_images)} {config.dataset} test images, "
        f"clean accuracy {clean_accuracy:.4f}), {config.norm} epsilons "
        f"{', '.join(f'{e:g}' for e in epsilons)}: {', '.join(methods)}")
    rows = []
    total = len(epsilons) * len(methods)
    for epsilon in epsilons:
        for method in methods:
            build_seconds, attack = _build(method, bench, epsilon)
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
    write_json(os.path.join(config.output_dir, "benchmark.json"), rows)
    _write_markdown(rows, description, os.path.join(config.output_dir, "benchmark.md"))
    _write_plot(rows, config.norm, os.path.join(config.output_dir, "benchmark.png"))
    log(f"Reports in {config.output_dir}")
    return rows


def markdown_table(rows):
    """The rows as a Markdown table."""
    lines = ["| method | ε | fooling rate | target success rate | build (s) | ms / image |",
             "|---|---|---|---|---|---|"]
    for row in rows:
        target = row["target_success_rate"]
        lines.append(
            f"| {row['method']} | {row['epsilon']:g} | {row['fooling_rate']:.3f} | "
            f"{'—' if target is None else f'{target:.3f}'} | {row['build_seconds']:.1f} | "
            f"{row['ms_per_image']:.3f} |"
        )
    return "\n".join(lines)


def _write_markdown(rows, description, path):
    text = f"# Benchmark\n\n{description}\n\n{markdown_table(rows)}\n"
    with atomic_path(path) as temporary:
        with open(temporary, "w") as handle:
            handle.write(text)


def _write_plot(rows, norm, path):
    figure, axis = plt.subplots(figsize=(6, 4))
    for method in dict.fromkeys(row["method"] for row in rows):
        points = sorted((r["epsilon"], r["fooling_rate"]) for r in rows if r["method"] == method)
        axis.plot(*zip(*points), marker="o", label=method)
    axis.set_xlabel(f"{norm} ε (pixel units of [0, 1])")
    axis.set_ylabel("fooling rate")
    axis.set_ylim(0.0, 1.0)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=100, format="png")
    plt.close(figure)
