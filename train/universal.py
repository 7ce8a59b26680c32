"""Train a universal GAP perturbation: ``python -m train.universal --help``.

With no arguments: Fashion-MNIST, the default victim (trained and cached on
first use), L∞ ε = 0.1, untargeted, ResNet generator.
"""

import sys

from keras_gap.cli import quiet_tensorflow
from keras_gap.cli import run_program

quiet_tensorflow()


def main(argv=None):
    from keras_gap.training.attack_run import run_attack
    from train.attack_arguments import parse_attack_config

    config = parse_attack_config("universal", __doc__, argv)
    run_attack(config)
    return 0


if __name__ == "__main__":
    sys.exit(run_program(main))
