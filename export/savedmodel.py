"""Export a trained perturber: ``python -m export.savedmodel --help``.

    python -m export.savedmodel --perturber RUN/perturber.keras --output serving --name gap

writes TF Serving's layout, ``serving/gap/<version>/`` (``saved_model.pb`` +
``variables/``), at the next free version unless ``--version`` is given; an
existing version is never overwritten. Signatures: ``serving_default``
(float32 images in [0, 1] -> ``adversarial_images``, ``perturbations``),
``serve_uint8`` (uint8 images -> uint8 ``adversarial_images``) and, for
universal perturbers, ``perturbation`` (no input). The export is reloaded and
checked against the perturber before it is moved into place.

``--format keras npy png`` writes ``serving/gap.keras`` and, for universal
perturbers, the perturbation as ``serving/gap.npy`` / ``serving/gap.png``.
Several formats are written all or none: every format and destination is
checked first, and nothing is left behind when one of them fails.
"""

import argparse
import sys

from keras_gap.cli import ArgumentParser
from keras_gap.cli import POSITIVE_INT
from keras_gap.cli import run_program
from keras_gap.perturbers import load_perturber
from keras_gap.serving.export import ARTIFACT_FORMATS
from keras_gap.serving.export import export_artifacts


def parser():

    parser = ArgumentParser(
        prog="python -m export.savedmodel", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--perturber", required=True, metavar="PATH",
                        help="the run's perturber.keras")
    parser.add_argument("--output", default="serving", metavar="DIR",
                        help="directory to write into (default: %(default)s)")
    parser.add_argument("--name", default="gap",
                        help="model name, TF Serving's MODEL_NAME (default: %(default)s)")
    parser.add_argument("--unsafe-deserialization", action="store_true",
                        help="WARNING: lets the .keras file run the Python code stored "
                             "in it (Lambda layers); only for files you trust. Default: "
                             "Keras safe mode, which refuses such files")
    parser.add_argument("--version", type=POSITIVE_INT,
                        help="SavedModel version number (default: the next free one)")
    parser.add_argument("--format", nargs="+", choices=ARTIFACT_FORMATS,
                        default=["savedmodel"], dest="formats", metavar="FORMAT",
                        help=f"one or more of {', '.join(ARTIFACT_FORMATS)} "
                             "(default: savedmodel)")
    return parser


def main(argv=None):

    arguments = parser().parse_args(argv)
    if arguments.version is not None and "savedmodel" not in arguments.formats:
        raise ValueError("--version applies to --format savedmodel only")
    perturber = load_perturber(
        arguments.perturber, safe_mode=not arguments.unsafe_deserialization)
    formats = list(dict.fromkeys(arguments.formats))
    paths = export_artifacts(
        perturber, formats, arguments.output, arguments.name, arguments.version)
    for artifact_format, path in zip(formats, paths):
        print(f"wrote {artifact_format}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(run_program(main))
