"""The paper's targeted protocol: ``python -m train.targeted_protocol --help``.

Trains one targeted perturber per class for a seeded random sample of
--classes classes (the paper: 10) and reports each class's target success
and their average as protocol.md (a Markdown table) and protocol.json in
--output-dir. Each class's run is a full ``train.universal`` /
``train.image_dependent`` run in class_<k>/; re-running the same command
resumes class by class. Every attack flag of those programs applies
(--objective and --target-class are set per class).

Example: ``python -m train.targeted_protocol --kind image_dependent
--classes 10 --sample-seed 0 --output-dir runs/protocol_id``.
"""

import sys

from keras_gap.cli import POSITIVE_INT
from keras_gap.cli import SEED
from keras_gap.cli import run_program
from keras_gap.runs.attack_config import AttackConfig
from keras_gap.runs.targeted_protocol import PAPER_CLASS_COUNT
from keras_gap.runs.targeted_protocol import run_targeted_protocol

from train.attack_arguments import add_kind_flag
from train.attack_arguments import attack_parser
from train.attack_arguments import kind_of


def parser(kind="universal"):
    """The program's flags: the attack programs' (with ``kind``'s defaults)
    and the protocol's own."""
    flags = attack_parser(kind, __doc__, program="targeted_protocol",
                          objective_flags=False)
    add = flags.add_argument
    add_kind_flag(flags)
    add("--classes", type=POSITIVE_INT, default=PAPER_CLASS_COUNT,
        help="how many target classes to sample (default: %(default)s, the paper's)")
    add("--sample-seed", type=SEED, default=0,
        help="seed of the class sample (default: %(default)s)")
    flags.set_defaults(output_dir=None)
    return flags


def protocol_of(argv):
    """``(config, classes, sample_seed, output_dir)`` of the command line ``argv``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    arguments = vars(parser(kind_of(argv)).parse_args(argv))
    classes, sample_seed = arguments.pop("classes"), arguments.pop("sample_seed")
    output_dir = arguments.pop("output_dir")
    return AttackConfig(**arguments), classes, sample_seed, output_dir


def main(argv=None):
    run_targeted_protocol(*protocol_of(argv))
    return 0


if __name__ == "__main__":
    sys.exit(run_program(main))
