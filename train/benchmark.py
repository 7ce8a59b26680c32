"""Benchmark GAP against UAP, FGSM, PGD-10 and random noise: ``python -m train.benchmark --help``.

Example: ``python -m train.benchmark --victim victims/fashion_small_cnn.keras
--dataset fashion_mnist --epsilons 0.02,0.05,0.1,0.2 --output-dir runs/benchmark``.
Every method attacks the same victim and the same test images. With
adversarial-robustness-toolbox installed, ART's UniversalPerturbation and
ProjectedGradientDescent are added. Writes benchmark.json, benchmark.md and
benchmark.png into --output-dir.
"""

import argparse
import dataclasses
import sys

from keras_gap.cli import ArgumentParser
from keras_gap.cli import parse_epsilon
from keras_gap.cli import POSITIVE_INT
from keras_gap.cli import SEED
from keras_gap.cli import run_program
from keras_gap.evaluation.benchmark import BenchmarkConfig
from keras_gap.evaluation.benchmark import check_benchmark_config
from keras_gap.evaluation.benchmark import run_benchmark
from keras_gap.layers.budget_projection import PROJECTIONS
from keras_gap.training.victim_training import ensure_default_victim


def _comma_list(text):
    return [item.strip() for item in text.split(",") if item.strip()]


def main(argv=None):

    defaults = BenchmarkConfig(victim=None, output_dir=None)
    parser = ArgumentParser(prog="python -m train.benchmark", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    add("--victim", help="a .keras classifier taking images in [0, 1] or a Keras "
                         "Applications name (default: the cached Fashion-MNIST small CNN)")
    add("--dataset", default=defaults.dataset,
        help="fashion_mnist, folder:PATH or tfds:NAME (default: %(default)s)")
    add("--epsilons", default=",".join(f"{e:g}" for e in defaults.epsilons),
        help="comma-separated budgets in pixel units of [0, 1]; fractions allowed, "
             "e.g. 4/255,8/255 (default: %(default)s)")
    add("--norm", choices=sorted(PROJECTIONS), default=defaults.norm,
        help="budget norm (default: %(default)s)")
    add("--methods", help="comma-separated subset of gap_universal, gap_image_dependent, "
                          "uap, fgsm, pgd10, random, art_uap, art_pgd (default: all; the "
                          "art_ ones when ART is installed)")
    add("--train-steps", type=POSITIVE_INT, default=defaults.train_steps,
        help="GAP training steps per generator (default: %(default)s)")
    add("--batch-size", type=POSITIVE_INT, default=defaults.batch_size,
        help="GAP training batch size (default: %(default)s)")
    add("--generator-filters", type=POSITIVE_INT,
        help="GAP generator width (default: 32 for images up to 64 pixels, 64 above)")
    add("--generator-blocks", type=POSITIVE_INT,
        help="GAP generator residual blocks (default: 3 small / 6 large)")
    add("--uap-images", type=POSITIVE_INT, default=defaults.uap_images,
        help="training images UAP (ours and ART's) learns from (default: %(default)s)")
    add("--uap-passes", type=POSITIVE_INT, default=defaults.uap_passes,
        help="passes of UAP over those images at most (default: %(default)s)")
    add("--eval-images", type=POSITIVE_INT, default=defaults.eval_images,
        help="test images every method attacks (default: %(default)s)")
    add("--eval-batch-size", type=POSITIVE_INT, default=defaults.eval_batch_size,
        help="batch size when attacking the test images (default: %(default)s)")
    add("--seed", type=SEED, default=defaults.seed, help="seed (default: %(default)s)")
    add("--output-dir", default="runs/benchmark",
        help="where the reports go (default: %(default)s)")
    arguments = parser.parse_args(argv)
    epsilons = tuple(parse_epsilon(text) for text in _comma_list(arguments.epsilons))
    methods = None if arguments.methods is None else tuple(_comma_list(arguments.methods))
    config = BenchmarkConfig(
        victim=arguments.victim,
        output_dir=arguments.output_dir, dataset=arguments.dataset, epsilons=epsilons,
        norm=arguments.norm, methods=methods, train_steps=arguments.train_steps,
        batch_size=arguments.batch_size, generator_filters=arguments.generator_filters,
        generator_blocks=arguments.generator_blocks, uap_images=arguments.uap_images,
        uap_passes=arguments.uap_passes, eval_images=arguments.eval_images,
        eval_batch_size=arguments.eval_batch_size, seed=arguments.seed,
    )
    check_benchmark_config(config)  # before a default victim is trained
    if config.victim is None:
        config = dataclasses.replace(config, victim=ensure_default_victim(arguments.dataset))
    run_benchmark(config)
    return 0


if __name__ == "__main__":
    sys.exit(run_program(main))
