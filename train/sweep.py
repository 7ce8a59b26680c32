"""Candidate settings side by side on several victims: ``python -m train.sweep --help``.

Runs one attack (every flag of ``train.universal`` / ``train.image_dependent``
applies) against each --victim alone, once per --candidate, and writes the
table as sweep.md (Markdown) and sweep.json in --output-dir: a row per
candidate, a column per victim (target success for the targeted
objectives, else the fooling rate), the candidate's mean and its worst
shortfall below the best candidate on any victim; with --cost, the cost
half: each run's ms per image beside PGD-10's on the same victim, and
PGD-10's score on the same held-out images. A candidate is a string
of attack flags added to the sweep's own, e.g. "--reduction batch_mean" or
"--objective targeted_margin --learning-rate 1e-3"; an empty string is the
defaults. Each run is a full attack run in <candidate>/<victim>/;
re-running the same command resumes run by run.

Example: ``python -m train.sweep --objective targeted --target-class 8
--epochs 1 --steps-per-epoch 500 --victim victims/a.keras --victim
victims/b.keras --candidate "" --candidate "--reduction batch_mean"
--output-dir runs/sweep_targeted``.
"""

import argparse
import shlex
import sys

from keras_gap.cli import run_program
from keras_gap.runs.attack_config import AttackConfig
from keras_gap.runs.sweep import DEFAULTS_LABEL
from keras_gap.runs.sweep import Candidate
from keras_gap.runs.sweep import run_sweep

from train.attack_arguments import add_kind_flag
from train.attack_arguments import attack_parser
from train.attack_arguments import kind_of

# Flags the sweep sets per run (or reads once), which a candidate cannot change.
SWEEP_FLAGS = ("--victim", "--loss-weight", "--output-dir", "--kind", "--candidate", "--cost")


def parser(kind="universal"):
    """The program's flags: the attack programs' (with ``kind``'s defaults)
    and the sweep's own."""
    flags = attack_parser(kind, __doc__, program="sweep")
    flags.formatter_class = argparse.RawDescriptionHelpFormatter
    add_kind_flag(flags)
    flags.add_argument(
        "--candidate", action="append", dest="candidates", metavar="FLAGS",
        help="one row of the table: attack flags added to the others, in quotes "
             "(\"\" is the defaults); repeat for each row. Default: one row, the "
             "defaults")
    flags.add_argument(
        "--cost", action="store_true",
        help="once every run is done, time each run's perturber and PGD-10 on each "
             "victim (ms per image on this machine) and score PGD-10 on the same "
             "held-out images: the table's cost half (classifiers)")
    flags.set_defaults(output_dir=None)
    return flags


def _candidate_tokens(text):
    tokens = shlex.split(text)
    for token in tokens:
        flag = token.split("=", 1)[0]
        if flag in SWEEP_FLAGS:
            raise ValueError(f"--candidate {text!r} sets {flag}, which the sweep sets "
                             "for every run; give it outside --candidate")
    return tokens


def candidates_of(argv, kind):
    """``(candidates, victims, output_dir, cost)`` of the command line ``argv``."""
    flags = parser(kind)
    arguments = flags.parse_args(argv)
    texts = arguments.candidates if arguments.candidates is not None else [""]
    candidates = []
    for text in texts:
        tokens = _candidate_tokens(text)
        fields = vars(flags.parse_args([*argv, *tokens]))
        for name in ("candidates", "victims", "loss_weights", "output_dir", "cost"):
            fields.pop(name)
        label = " ".join(tokens) or DEFAULTS_LABEL
        candidates.append(Candidate(label, AttackConfig(**fields)))
    return candidates, arguments.victims, arguments.output_dir, arguments.cost


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    candidates, victims, output_dir, cost = candidates_of(argv, kind_of(argv))
    run_sweep(candidates, victims, output_dir, cost=cost)
    return 0


if __name__ == "__main__":
    sys.exit(run_program(main))
