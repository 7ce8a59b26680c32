"""Train an image-dependent GAP perturber: ``python -m train.image_dependent --help``.

The generator takes each image and emits its own perturbation (the paper's
second approach: x + f(x), scaled to the budget, clipped). Same flags,
defaults and output directory as ``train.universal`` (without
``perturbation.npy``). With no arguments: Fashion-MNIST, the default victim,
L∞ ε = 0.1, untargeted, ResNet generator.
"""

import sys

from keras_gap.cli import run_program
from keras_gap.runs.attack_run import run_attack

from train.attack_arguments import attack_parser
from train.attack_arguments import parse_attack_config


def parser():
    """The program's flags."""
    return attack_parser("image_dependent", __doc__)


def main(argv=None):
    config = parse_attack_config("image_dependent", __doc__, argv)
    run_attack(config)
    return 0


if __name__ == "__main__":
    sys.exit(run_program(main))
