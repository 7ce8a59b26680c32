"""What generator designs cost per image: ``python -m train.generator_cost --help``.

Counts each design's FLOPs per image from the Keras model and times an
image-dependent perturber built on it (one attack: generator, budget
projection, clipping) on this machine, at each image shape:

    python -m train.generator_cost --design separable_resnet --design resnet:64:6 \\
        --shape 28x28x1 --shape 224 --shape 299 --victim inception_v3

A design is NAME[:FILTERS[:BLOCKS]] (a generator of train.image_dependent's
--generator, at that size; sizes left out take the defaults for the image
size). --victim adds the forward, FGSM and PGD-10 FLOPs of a victim (a Keras
Applications name, built at each shape, or a .keras file at its own shape),
so the generator's cost can be read against an iterative attack's without a
GPU. Prints Markdown tables; --output also writes them as JSON.
"""

import argparse
import sys

from keras_gap.artifacts import write_json
from keras_gap.cli import ArgumentParser
from keras_gap.cli import POSITIVE_INT
from keras_gap.cli import run_program
from keras_gap.cost.generator_costs import Design
from keras_gap.cost.generator_costs import design_costs
from keras_gap.cost.generator_costs import format_costs
from keras_gap.cost.generator_costs import parse_shape
from keras_gap.cost.generator_costs import victim_costs
from keras_gap.cost.timing import device_description

DEFAULT_DESIGNS = ("separable_resnet", "resnet:64:6")
DEFAULT_SHAPES = ("28x28x1", "224", "299")


def parser():
    parser = ArgumentParser(prog="python -m train.generator_cost", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    add("--design", action="append", dest="designs", metavar="NAME[:FILTERS[:BLOCKS]]",
        help=f"repeat for several (default: {', '.join(DEFAULT_DESIGNS)})")
    add("--shape", action="append", dest="shapes", metavar="N|HxWxC",
        help=f"image shape, N meaning NxNx3; repeat (default: {', '.join(DEFAULT_SHAPES)})")
    add("--victim", action="append", dest="victims", default=[], metavar="VICTIM",
        help="a Keras Applications name or a .keras classifier to cost next to them")
    add("--no-timing", action="store_true", help="count FLOPs only (seconds instead of minutes)")
    add("--batch-size", type=POSITIVE_INT,
        help="images per timed batch (default: 256 up to 64 pixels, 8 above)")
    add("--repeats", type=POSITIVE_INT, default=3,
        help="timed batches after one warm-up batch; the median counts (default: %(default)s)")
    add("--output", metavar="FILE.json", help="also write the rows as JSON")
    return parser


def main(argv=None):
    arguments = parser().parse_args(argv)
    designs = [Design.parse(text) for text in arguments.designs or DEFAULT_DESIGNS]
    shapes = [parse_shape(text) for text in arguments.shapes or DEFAULT_SHAPES]
    timing = {"time": not arguments.no_timing, "batch_size": arguments.batch_size,
              "repeats": arguments.repeats}
    rows = design_costs(designs, shapes, **timing)
    victim_rows = victim_costs(arguments.victims, shapes, **timing)
    device = device_description()
    print(f"Cost per image on {device}"
          + ("" if arguments.no_timing else
             f" (median of {arguments.repeats} timed batches after one warm-up batch)") + ":\n")
    print(format_costs(rows, victim_rows))
    if arguments.output:
        write_json(arguments.output, {"device": device, "designs": rows, "victims": victim_rows})
        print(f"wrote {arguments.output}")
    return 0


if __name__ == "__main__":
    sys.exit(run_program(main))
