"""GAP against the baselines on one victim, with matched budgets.

``run_benchmark(BenchmarkConfig(...))`` is what ``python -m train.benchmark``
calls. It draws one seeded random sample of training images and one of test
images. For every ε it builds each method (``benchmark_methods``): the
data-driven ones (GAP universal and image-dependent, UAP, ART's UAP) all
learn from the same training sample, each within its own step / pass count
or, with ``time_budget``, within the same number of wall-clock seconds. Every
method then attacks the same held-out sample (a seeded random sample
of ``eval_images`` from the whole ``split``), and the benchmark records the
fooling rate (share of images whose prediction changes), the build time, the
time to attack one image on this machine and the FLOPs per image counted
from the models (victim forward+backward passes for gradient attacks, the
generator for GAP), so the cost ratio at another image size or on other
hardware can be read from the models alone. It writes ``benchmark.json``
(budgets, then one row per method and ε), ``benchmark.md`` (a header stating
the budgets, then the table) and ``benchmark.png`` (fooling rate against ε)
into the output directory, all three or none; every value, the output
directory and the batch sizes are checked before the first method.
"""

import dataclasses
import os
import typing

import numpy as np

from keras_gap import checks
from keras_gap.artifacts import check_output_files
from keras_gap.artifacts import files_together
from keras_gap.artifacts import write_json
from keras_gap.baselines.gradient_attacks import check_budget
from keras_gap.cost.timing import device_description
from keras_gap.data import HELD_OUT
from keras_gap.data import load_image_data
from keras_gap.data.splits import SPLITS
from keras_gap.generators import GENERATORS
from keras_gap.generators import check_generator_size
from keras_gap.generators import generator_arguments
from keras_gap.layers.budget_projection import PROJECTIONS
from keras_gap.perturbers import build_perturber
from keras_gap.reports.figures import save_curves
from keras_gap.reports.tables import format_table
from keras_gap.reports.tables import write_text
from keras_gap.runs.attack_config import AttackConfig
from keras_gap.runs.attack_run import data_shape_for
from keras_gap.runs.benchmark_methods import DATA_DRIVEN
from keras_gap.runs.benchmark_methods import METHODS
from keras_gap.runs.benchmark_methods import Bench
from keras_gap.runs.benchmark_methods import GapMethod
from keras_gap.runs.benchmark_methods import UniversalBaseline
from keras_gap.tasks import task_for
from keras_gap.training.memory import check_attack_memory
from keras_gap.training.memory import check_batch_memory
from keras_gap.training.memory import largest_layer_values
from keras_gap.training.memory import layer_values
from keras_gap.victims import application_head_classes
from keras_gap.victims import describe_weights
from keras_gap.victims import load_victims

# GAP trains as a run of train.universal / train.image_dependent does by default.
_ATTACK_DEFAULTS = AttackConfig()
REPORT_FILES = ("benchmark.json", "benchmark.md", "benchmark.png")


@dataclasses.dataclass
class BenchmarkConfig:
    """What one benchmark runs; the defaults keep a laptop run to minutes."""

    victim: str
    output_dir: str
    dataset: str = "fashion_mnist"
    split: str = HELD_OUT
    victim_weights: str = None  # Keras Applications victims: None = imagenet
    epsilons: tuple = (0.02, 0.05, 0.1, 0.2)
    norm: str = "linf"
    methods: tuple = None  # None: every method, ART's too when installed
    train_images: int = 10_000
    time_budget: float = None
    # None: each GAP kind's default (KIND_DEFAULTS, as its train program).
    train_steps: int = None
    batch_size: int = _ATTACK_DEFAULTS.batch_size
    learning_rate: float = None
    ema_momentum: float = None
    generator: str = None
    generator_filters: int = None
    generator_blocks: int = None
    uap_passes: int = 2
    eval_images: int = 1000
    eval_batch_size: int = 250
    seed: int = 0

    def __post_init__(self):
        self.check()

    def check(self):
        """Raises a ``ValueError`` naming the first bad field (the victim and
        the output directory are checked by ``check_benchmark_config``)."""
        if not self.epsilons:
            raise ValueError("give at least one epsilon")
        checks.OneOf(PROJECTIONS).check(self.norm, "norm")
        self.epsilons = tuple(check_budget(self.norm, e) for e in self.epsilons)
        if self.methods is not None:
            self.methods = _check_methods(self.methods)
        checks.check_positive_integers(self, (
            "train_images", "batch_size", "uap_passes", "eval_images", "eval_batch_size"))
        checks.POSITIVE_INTEGER.optional(self.train_steps, "train steps")
        checks.POSITIVE_NUMBER.optional(self.time_budget, "time budget")
        checks.LEARNING_RATE.optional(self.learning_rate, "learning rate")
        checks.MOMENTUM.optional(self.ema_momentum, "ema momentum")
        checks.OneOf(GENERATORS).optional(self.generator, "generator")
        checks.OneOf(SPLITS).check(self.split, "split")
        checks.check_seed(self.seed)
        for kind in GAP_KINDS:
            check_generator_size(self.gap_settings(kind).generator, self.generator_filters,
                                 self.generator_blocks)

    def gap_settings(self, kind):
        """The ``GapSettings`` of GAP ``kind`` ("universal" or
        "image_dependent"): the values given, else the kind's defaults, as
        ``python -m train.<kind>`` trains."""
        defaults = AttackConfig(kind=kind)
        return GapSettings(
            self.generator or defaults.generator,
            self.train_steps or defaults.epochs * defaults.steps_per_epoch,
            self.learning_rate or defaults.learning_rate,
            defaults.ema_momentum if self.ema_momentum is None else self.ema_momentum)


class GapSettings(typing.NamedTuple):
    """How the benchmark trains one GAP kind."""

    generator: str
    train_steps: int
    learning_rate: float
    ema_momentum: float


# The attack kinds the GAP methods train, and the methods training them.
GAP_KINDS = {method.kind: name for name, method in METHODS.items()
             if isinstance(method, GapMethod)}


def available_methods():
    """Every method whose requirements are installed (ART's are optional)."""
    return tuple(name for name, method in METHODS.items() if method.available())


def _check_methods(methods):
    """``methods`` as a tuple of known, installed, distinct method names."""
    methods = tuple(methods)
    if not methods:
        raise ValueError(f"give at least one method; choose from {list(METHODS)}")
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}; choose from {list(METHODS)}")
    missing = [m for m in methods if not METHODS[m].available()]
    if missing:
        raise ValueError(f"{missing} need a package that is not installed: "
                         f"{METHODS[missing[0]].missing()}")
    if len(set(methods)) != len(methods):
        raise ValueError(f"methods must not repeat, got {list(methods)}")
    return methods


def check_benchmark_config(config):
    """Checks ``config`` (it checked its own values) and its output
    directory; returns the budgets and the methods to run."""
    config.check()
    check_output_files(config.output_dir, REPORT_FILES)
    return config.epsilons, config.methods or available_methods()


def _check_memory(config, victim, methods):
    """Refuses batch sizes this machine cannot hold, before the first method:
    every layer output of the victim is kept for methods that back-propagate
    through it, the largest one (input and output) for the others."""
    if any(METHODS[method].back_propagates_through_victim for method in methods):
        per_image = layer_values(victim.model)
    else:
        per_image = 2 * largest_layer_values(victim.model)
    check_batch_memory(config.eval_batch_size, per_image, flag="--eval-batch-size",
                       what="one attack batch")
    shape = victim.input_shape
    for kind, method in GAP_KINDS.items():
        if method in methods:
            generator = config.gap_settings(kind).generator
            perturber = build_perturber(kind, generator, shape, config.norm, 1.0,
                                        **generator_arguments(generator, shape,
                                                              config.generator_filters,
                                                              config.generator_blocks))
            check_attack_memory(config.batch_size, perturber, [victim])


def sample_images(data, count, seed):
    """A seeded uniform random sample of ``count`` examples of ``data`` (all
    of them when it holds fewer), drawn across the whole split before any
    image is decoded (``ImageData.sample``): ``(images, labels)``."""
    images, labels = [], []
    for batch_images, batch_labels in data.dataset(1000, limit=count, sample_seed=seed):
        images.append(batch_images.numpy())
        labels.append(batch_labels.numpy())
    if not images:
        raise ValueError(f"{data.name} {data.split} holds no images")
    return np.concatenate(images), np.concatenate(labels)


def budget_lines(config, bench, methods):
    """The header of the report: what every method was given."""
    test_line = (f"Test images: {len(bench.test_images):,} drawn at random (seed "
                 f"{config.seed}) from the {config.dataset} {bench.test_split} split, the same "
                 "for every method.")
    data_driven = [m for m in methods if m in DATA_DRIVEN]
    if not data_driven:
        return [test_line]
    compute = "Compute: " + "; ".join(_compute_parts(config, methods)) + "."
    return [
        test_line,
        f"Training images: the same {len(bench.train_images):,} drawn at random (seed "
        f"{config.seed}) from the {config.dataset} train split for every data-driven method "
        f"({', '.join(data_driven)}).",
        compute,
        *_gap_lines(config, bench.victim.input_shape, methods),
    ]


def _compute_parts(config, methods):
    """What the data-driven methods run were given, GAP's and the UAPs'."""
    gap = [(method, kind) for kind, method in GAP_KINDS.items() if method in methods]
    uap = any(isinstance(METHODS[method], UniversalBaseline) for method in methods)
    if config.time_budget:
        return [f"the same wall-clock budget of {config.time_budget:g} s per method and ε "
                "(GAP trains until it is spent; UAP and ART's UAP pass over the images until "
                "it is spent or they fool 80 % of them)"]
    parts = []
    if gap:
        steps = ", ".join(f"{config.gap_settings(kind).train_steps:,} steps ({method})"
                          for method, kind in gap)
        parts.append(f"GAP {steps}, batch {config.batch_size}")
    if uap:
        parts.append(f"UAP and ART's UAP at most {config.uap_passes} passes over the images "
                     "(stopping early once they fool 80 % of them)")
    return parts


def _gap_lines(config, image_shape, methods):
    """One line per GAP kind run: its generator, sizes and learning rate."""
    lines = []
    for kind, method in GAP_KINDS.items():
        if method not in methods:
            continue
        settings = config.gap_settings(kind)
        sizes = generator_arguments(settings.generator, image_shape, config.generator_filters,
                                    config.generator_blocks)
        described = ", ".join(f"{key.replace('_', ' ')} {value}" for key, value in sizes.items())
        averaged = (f", weights averaged (EMA momentum {settings.ema_momentum:g})"
                    if settings.ema_momentum else "")
        lines.append(f"{method}: {settings.generator} generator ({described}), Adam learning "
                     f"rate {settings.learning_rate:g}, β₁ 0.5{averaged}.")
    return lines


def gap_settings_run(config, methods):
    """``{method: GapSettings as a dict}`` of the GAP methods run; with a
    time budget ``train_steps`` is None (the budget ends the training)."""
    settings = {}
    for kind, method in GAP_KINDS.items():
        if method in methods:
            settings[method] = config.gap_settings(kind)._asdict()
            if config.time_budget:
                settings[method]["train_steps"] = None
    return settings


def _row(method, epsilon, built, fooling_rate, ms_per_image, train_images):
    return {"method": method, "epsilon": epsilon, "fooling_rate": fooling_rate,
            "target_success_rate": None, "build_seconds": built.build_seconds,
            "ms_per_image": ms_per_image, "flops_per_image": built.flops_per_image,
            "train_images": train_images if method in DATA_DRIVEN else None,
            "budget_used": built.budget_used}


def _prepare(config, methods):
    victim, = load_victims([config.victim], weights=config.victim_weights,
                           num_classes=application_head_classes(config.dataset),
                           data_shape=data_shape_for([config.victim], config.dataset))
    if victim.task != "classifier":
        raise ValueError(
            f"train.benchmark compares attacks on classifiers; {victim.name} is a "
            f"{victim.task} (attack it with train.universal or train.image_dependent)"
        )
    _check_memory(config, victim, methods)
    train = load_image_data(config.dataset, "train", victim.input_shape)
    test = load_image_data(config.dataset, config.split, victim.input_shape)
    task = task_for(victim)
    for data in (train, test):
        task.check_data(victim, data)
    test_images, test_labels = sample_images(test, config.eval_images, config.seed)
    train_images, _ = sample_images(train, config.train_images, config.seed)
    return Bench(config, victim, task, train_images, test_images, test_labels, test.split)


def run_benchmark(config, log=print):
    """Runs every method at every ε, writes the reports, returns the rows."""
    epsilons, methods = check_benchmark_config(config)
    bench = _prepare(config, methods)
    header = [f"Victim {bench.victim.name} ({describe_weights(bench.victim.weights)} weights, "
              f"clean accuracy {bench.clean_accuracy:.4f} on the test images, "
              f"{_mega(bench.victim_flops)} MFLOP per forward pass), "
              f"{config.norm} budget, untargeted; times on {device_description()}.",
              *budget_lines(config, bench, methods)]
    for line in header:
        log(line)
    rows = []
    total = len(epsilons) * len(methods)
    for epsilon in epsilons:
        for method in methods:
            built = METHODS[method].build(bench, epsilon)
            fooling_rate, ms_per_image = bench.measure(built.attack)
            rows.append({"victim": bench.victim.name, "victim_weights": bench.victim.weights,
                         **_row(method, epsilon, built, fooling_rate, ms_per_image,
                                len(bench.train_images))})
            log(f"[{len(rows)}/{total}] {method:<20} epsilon {epsilon:<6g} fooling "
                f"{fooling_rate:.3f}  build {built.build_seconds:6.1f} s  "
                f"{ms_per_image:.3f} ms/image  {_mega(built.flops_per_image)} MFLOP/image")
    os.makedirs(config.output_dir, exist_ok=True)
    _write_reports(rows, header, config, bench)
    log(f"Reports in {config.output_dir}")
    return rows


def _mega(flops):
    return "—" if flops is None else f"{flops / 1e6:.4g}"


def markdown_table(rows):
    """The rows as a Markdown table."""
    header = ["method", "ε", "fooling rate", "build (s)", "budget used", "ms / image",
              "MFLOP / image"]
    cells = [[row["method"], f"{row['epsilon']:g}", f"{row['fooling_rate']:.3f}",
              f"{row['build_seconds']:.1f}", row["budget_used"], f"{row['ms_per_image']:.3f}",
              _mega(row["flops_per_image"])] for row in rows]
    return format_table(header, cells, align="llrrlrr")


def _write_reports(rows, header, config, bench):
    """Writes the ``REPORT_FILES``, all of them or none."""
    gap = gap_settings_run(config, [row["method"] for row in rows])
    budgets = {"train_images": len(bench.train_images), "time_budget": config.time_budget,
               "train_steps": None if config.time_budget else {
                   method: settings["train_steps"] for method, settings in gap.items()},
               "gap_settings": gap,
               "uap_passes": None if config.time_budget else config.uap_passes,
               "test_images": len(bench.test_images), "seed": config.seed,
               "victim_forward_flops": bench.victim_flops, "header": header}
    paths = [os.path.join(config.output_dir, name) for name in REPORT_FILES]
    text = "# Benchmark\n\n" + "\n".join(f"- {line}" for line in header)
    curves = {}
    for row in rows:
        curves.setdefault(row["method"], []).append((row["epsilon"], row["fooling_rate"]))
    with files_together(paths) as staged:
        write_json(staged[paths[0]], {"budgets": budgets, "rows": rows})
        write_text(staged[paths[1]], f"{text}\n\n{markdown_table(rows)}")
        save_curves(curves, f"{config.norm} ε (pixel units of [0, 1])", "fooling rate",
                    staged[paths[2]])
