"""Train a universal GAP perturbation: ``python -m train.universal --help``.

With no arguments: Fashion-MNIST, the default victim (trained and cached on
first use), L∞ ε = 0.1, untargeted, ResNet generator.
"""

import sys

from keras_gap.cli import run_program
from keras_gap.runs.attack_run import run_attack

from train.attack_arguments import attack_parser
from train.attack_arguments import parse_attack_config


def parser():
    """The program's flags."""
    return attack_parser("universal", __doc__)


def main(argv=None):
    config = parse_attack_config("universal", __doc__, argv)
    run_attack(config)
    return 0


if __name__ == "__main__":
    sys.exit(run_program(main))
