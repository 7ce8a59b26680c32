"""Train a victim classifier: ``python -m train.classifier --help``.

Example: ``python -m train.classifier --dataset fashion_mnist --architecture
small_cnn --epochs 2 --output victims/fashion_small_cnn.keras``. The saved
model takes images in [0, 1] (any resizing, channel tiling and preprocessing
is inside it) and returns logits. ``--dataset folder:PATH`` or ``tfds:NAME``
builds it for the data's own image size, or for ``--image-size``. An
existing ``--output`` is replaced only with ``--overwrite``.
"""

import sys

from keras_gap.cli import ArgumentParser
from keras_gap.cli import add_flag
from keras_gap.cli import run_program
from keras_gap.training.victim_training import OUTPUT_ACTIVATIONS
from keras_gap.training.victim_training import train_classifier
from keras_gap.victims import ARCHITECTURES


def parser():
    """The program's flags."""
    parser = ArgumentParser(prog="python -m train.classifier", description=__doc__)
    add = parser.add_argument
    add_flag(add, "--dataset", default="fashion_mnist",
             help="fashion_mnist, folder:PATH or tfds:NAME (default: {default})")
    parser.add_argument("--architecture", default="small_cnn", choices=ARCHITECTURES,
                        metavar="ARCHITECTURE",
                        help=f"one of {', '.join(ARCHITECTURES)} (default: %(default)s)")
    parser.add_argument("--output-activation", default="logits", choices=OUTPUT_ACTIVATIONS,
                        help="what the saved model returns: logits, or softmax "
                             "probabilities (a final Softmax layer; the attacks take the "
                             "scores before it). Default: %(default)s")
    add_flag(add, "--epochs", default=2)
    add_flag(add, "--batch-size", default=128)
    add_flag(add, "--learning-rate", default=1e-3)
    add_flag(add, "--train-images")
    add_flag(add, "--seed", default=0)
    add_flag(add, "--image-size",
             help="side of the square images the classifier is built for (default: the "
                  "data's own size; folder: and tfds: data whose images differ in size "
                  "need it)")
    add_flag(add, "--tfds-data-dir")
    parser.add_argument("--output", required=True, help="the .keras file to write")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace --output if it exists (default: refuse)")
    return parser


def main(argv=None):
    arguments = parser().parse_args(argv)
    train_classifier(
        arguments.architecture, arguments.dataset, arguments.output,
        epochs=arguments.epochs, batch_size=arguments.batch_size,
        learning_rate=arguments.learning_rate, seed=arguments.seed,
        limit=arguments.train_images, image_size=arguments.image_size,
        tfds_data_dir=arguments.tfds_data_dir, overwrite=arguments.overwrite,
        output_activation=arguments.output_activation,
    )
    return 0


if __name__ == "__main__":
    sys.exit(run_program(main))
