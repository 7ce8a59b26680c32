"""Time GAP at the paper's scale on this machine: ``python -m train.speed --help``.

With no arguments: an InceptionV3 victim at 299 × 299 and the paper's ResNet
generator (64 filters, 6 blocks), in float32 and mixed bfloat16. Prints the
generator's ms per image (batch 64), the victim's forward and input-gradient
ms per image (PGD-10 costs about ten gradients) and image-dependent GAP
training images per second (batch 32), and writes every figure, with the
device, versions and date, as JSON to --output. Meant for a GPU; on a CPU
shrink it, e.g. ``--generator-batch-size 2 --batch-size 2 --warmup 1
--repeats 1``.
"""

import argparse
import os
import sys

from keras_gap.artifacts import check_writable_directory
from keras_gap.artifacts import write_json
from keras_gap.cli import ArgumentParser
from keras_gap.cli import POSITIVE_INT
from keras_gap.cli import add_flag
from keras_gap.cli import comma_list
from keras_gap.cli import run_program
from keras_gap.runs.speed import PRECISIONS
from keras_gap.runs.speed import SpeedSettings
from keras_gap.runs.speed import format_speed
from keras_gap.runs.speed import measure_speed


def parser():
    """The program's flags."""
    defaults = SpeedSettings()
    parser = ArgumentParser(prog="python -m train.speed", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    add("--victim", default=defaults.victim,
        help="a Keras Applications name (random weights: they do not change the time) "
             "or a .keras classifier (default: %(default)s)")
    add_flag(add, "--image-size", default=defaults.image_size,
             help="side of the images (default: {default})")
    add_flag(add, "--generator-filters", default=defaults.generator_filters,
             help="ResNet generator width (default: {default})")
    add_flag(add, "--generator-blocks", default=defaults.generator_blocks,
             help="ResNet generator residual blocks (default: {default})")
    add("--generator-batch-size", type=POSITIVE_INT, default=defaults.generator_batch_size,
        help="batch of the generator and victim timings (default: %(default)s)")
    add_flag(add, "--batch-size", default=defaults.batch_size,
             help="GAP training batch (default: {default})")
    add("--precisions", type=comma_list, default=defaults.precisions,
        help=f"comma-separated subset of {', '.join(PRECISIONS)} (default: "
             f"{','.join(defaults.precisions)})")
    add_flag(add, "--jit-compile", default=defaults.jit_compile,
             help="XLA: auto = on under JAX and where a GPU is visible (default: {default})")
    add("--warmup", type=POSITIVE_INT, default=defaults.warmup,
        help="untimed calls before timing (default: %(default)s)")
    add("--repeats", type=POSITIVE_INT, default=defaults.repeats,
        help="timed calls; the median counts (default: %(default)s)")
    add_flag(add, "--seed", default=defaults.seed)
    add("--output", default="runs/speed/speed.json", metavar="FILE",
        help="the JSON file to write (default: %(default)s)")
    return parser


def main(argv=None, log=print):

    arguments = vars(parser().parse_args(argv))
    output = arguments.pop("output")
    settings = SpeedSettings(**arguments)
    if os.path.isdir(output):
        raise ValueError(f"--output {output!r} is a directory; give a file name")
    directory = os.path.dirname(os.path.abspath(output))
    check_writable_directory(directory, "--output directory")
    speed = measure_speed(settings, log=log)
    os.makedirs(directory, exist_ok=True)
    log(format_speed(speed))
    write_json(output, speed)
    log(f"Wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(run_program(main))
