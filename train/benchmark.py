"""Benchmark GAP against UAP, FGSM, PGD-10 and random noise: ``python -m train.benchmark --help``.

Example: ``python -m train.benchmark --victim victims/fashion_small_cnn.keras
--dataset fashion_mnist --epsilons 0.02,0.05,0.1,0.2 --output-dir runs/benchmark``.
Every method attacks the same victim and the same seeded random sample of test
images; the data-driven ones (GAP universal and image-dependent, UAP, ART's
UAP) learn from the same seeded random sample of --train-images training
images, within their step / pass counts or, with --time-budget SECONDS, within
the same wall-clock budget. With adversarial-robustness-toolbox installed,
ART's UniversalPerturbation and ProjectedGradientDescent are added. Writes
benchmark.json (budgets, and per method and epsilon the fooling rate, build
seconds, ms and FLOPs per image), benchmark.md (budgets in its header, then
the table) and benchmark.png into --output-dir.
"""

import argparse
import dataclasses
import sys

from keras_gap.cli import ArgumentParser
from keras_gap.cli import EPSILONS
from keras_gap.cli import POSITIVE_FLOAT
from keras_gap.cli import POSITIVE_INT
from keras_gap.cli import add_flag
from keras_gap.cli import add_flags
from keras_gap.cli import comma_list
from keras_gap.cli import run_program
from keras_gap.runs.attack_config import AttackConfig
from keras_gap.runs.benchmark import BenchmarkConfig
from keras_gap.runs.benchmark import check_benchmark_config
from keras_gap.runs.benchmark import run_benchmark
from keras_gap.runs.benchmark_methods import METHODS
from keras_gap.training.victim_training import ensure_default_victim


def _kind_defaults(setting):
    """"2000 image-dependent, 500 universal" for the help text."""
    values = []
    for kind in ("image_dependent", "universal"):
        defaults = AttackConfig(kind=kind)
        value = (defaults.epochs * defaults.steps_per_epoch if setting == "steps"
                 else getattr(defaults, setting))
        values.append(f"{value:g}" if isinstance(value, float) else f"{value}")
        values[-1] += f" {kind.replace('_', '-')}"
    return ", ".join(values)


def _methods_help():
    lines = [f"{name} ({method.description}"
             + ("; needs " + method.missing().removeprefix("pip install ") + ")"
                if method.missing() else ")") for name, method in METHODS.items()]
    return ("comma-separated subset of: " + "; ".join(lines)
            + ". Default: every method whose package is installed")


def parser():
    """The program's flags."""
    defaults = BenchmarkConfig(victim=None, output_dir=None)
    parser = ArgumentParser(prog="python -m train.benchmark", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    add("--victim", help="a .keras classifier taking images in [0, 1] or a Keras "
                         "Applications name (default: the cached Fashion-MNIST small CNN)")
    add_flag(add, "--victim-weights", action=None,
             help="weights of a Keras Applications --victim: 'imagenet' (Keras downloads "
                  "them once; the default), a local weights file, or 'random' (untrained)")
    add_flag(add, "--dataset", default=defaults.dataset,
             help="fashion_mnist, folder:PATH or tfds:NAME (default: {default})")
    add("--epsilons", type=EPSILONS, default=defaults.epsilons,
        help="comma-separated budgets in pixel units of [0, 1]; fractions allowed, "
             "e.g. 4/255,8/255 (default: "
             + ",".join(f"{e:g}" for e in defaults.epsilons) + ")")
    add_flags(add, ("--norm",), defaults)
    add("--methods", type=comma_list, help=_methods_help())
    add_flag(add, "--train-images", default=defaults.train_images,
             help="training images every data-driven method (GAP, UAP, ART UAP) learns "
                  "from: the same seeded random sample for all (default: {default})")
    add("--time-budget", type=POSITIVE_FLOAT, metavar="SECONDS",
        help="give every data-driven method the same wall-clock budget per epsilon "
             "instead of --train-steps / --uap-passes")
    add("--train-steps", type=POSITIVE_INT, default=defaults.train_steps,
        help="GAP training steps per generator (default: as train.universal and "
             "train.image_dependent: " + _kind_defaults("steps") + ")")
    add_flag(add, "--batch-size", default=defaults.batch_size,
             help="GAP training batch size (default: {default})")
    add_flag(add, "--learning-rate", default=defaults.learning_rate,
             help="GAP Adam learning rate (default: " + _kind_defaults("learning_rate") + ")")
    add_flag(add, "--ema-momentum", default=defaults.ema_momentum,
             help="GAP: momentum of the exponential moving average of the generator's "
                  "weights, saved instead of the last weights (0.99: about the last 100 "
                  "steps; 0: off) (default: " + _kind_defaults("ema_momentum") + ")")
    add_flag(add, "--generator", default=defaults.generator,
             help="GAP generator design (default: " + _kind_defaults("generator") + ")")
    add_flag(add, "--generator-filters",
             help="GAP generator width (default: the design's for the image size)")
    add_flag(add, "--generator-blocks",
             help="GAP generator residual blocks, or U-Net depth (default: the design's)")
    add("--uap-passes", type=POSITIVE_INT, default=defaults.uap_passes,
        help="passes of UAP (ours and ART's) over the training images at most "
             "(default: %(default)s)")
    add_flag(add, "--eval-images", default=defaults.eval_images,
             help="held-out images every method attacks: a seeded random sample of the "
                  "split, the same for every method (default: {default})")
    add_flag(add, "--split", default=defaults.split,
             help="split the methods attack (default: validation where the data set has "
                  "one, else test)")
    add("--eval-batch-size", type=POSITIVE_INT, default=defaults.eval_batch_size,
        help="batch size when attacking the test images (default: %(default)s)")
    add_flag(add, "--seed", default=defaults.seed,
             help="seed of the image samples, weights and orders (default: {default})")
    add("--output-dir", default="runs/benchmark",
        help="where the reports go (default: %(default)s)")
    return parser


def main(argv=None):
    arguments = parser().parse_args(argv)
    config = BenchmarkConfig(**vars(arguments))
    check_benchmark_config(config)  # before a default victim is trained
    if config.victim is None:
        config = dataclasses.replace(config, victim=ensure_default_victim(arguments.dataset))
    run_benchmark(config)
    return 0


if __name__ == "__main__":
    sys.exit(run_program(main))
