"""Train a segmentation victim: ``python -m train.segmenter --help``.

Example (a reduced-width FCN-8s that trains on 2 CPU cores)::

    python -m train.segmenter --dataset fashion_scenes --architecture fcn8s \\
        --width 0.125 --epochs 2 --output victims/seg.keras

The saved model takes images in [0, 1] (grey tiling and VGG/ImageNet
preprocessing are inside it) and returns per-pixel logits; pass it to
``python -m train.universal`` / ``train.image_dependent`` as ``--victim``.
"""

import argparse
import sys

from keras_gap.cli import ArgumentParser
from keras_gap.cli import POSITIVE_FLOAT
from keras_gap.cli import POSITIVE_INT
from keras_gap.cli import add_flag
from keras_gap.cli import run_program
from keras_gap.training.victim_training import train_segmenter
from keras_gap.victims.segmenters import SEGMENTERS


def parser():
    """The program's flags."""
    parser = ArgumentParser(prog="python -m train.segmenter", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    add("--dataset", default="fashion_scenes",
        help="fashion_scenes or tfds:NAME of a prepared Cityscapes-style set, e.g. "
             "tfds:cityscapes (default: %(default)s)")
    add_flag(add, "--tfds-data-dir")
    add("--architecture", default="fcn8s", choices=sorted(SEGMENTERS),
        help="fcn8s (VGG16, the paper's victim) or deeplabv3plus (keras-hub) "
             "(default: %(default)s)")
    add("--width", type=POSITIVE_FLOAT, default=1.0,
        help="filter multiplier in (0, 1]: 1 is the full network, e.g. 0.125 trains "
             "on 2 CPU cores (default: %(default)s)")
    add("--backbone-weights", default="none", metavar="imagenet|PATH|none",
        help="FCN-8s: 'imagenet' (full width, downloads), a local .weights.h5 of the "
             "backbone, or 'none' (default: %(default)s)")
    add("--image-height", type=POSITIVE_INT, help="input height, a multiple of 32 "
        "(default: 64 for fashion_scenes)")
    add("--image-width", type=POSITIVE_INT, help="input width, a multiple of 32 "
        "(default: 128 for fashion_scenes)")
    add("--channels", type=int, choices=(1, 3), help="input channels (default: 1 for "
        "fashion_scenes, 3 otherwise)")
    add_flag(add, "--epochs", default=2)
    add_flag(add, "--batch-size", default=32)
    add_flag(add, "--learning-rate", default=1e-3)
    add_flag(add, "--train-images", help="train on a seeded random sample of N scenes only")
    add("--eval-images", type=POSITIVE_INT, default=500,
        help="test images for the reported accuracy and mIoU (default: %(default)s)")
    add_flag(add, "--seed", default=0)
    add("--output", required=True, help="the .keras file to write")
    add("--overwrite", action="store_true",
        help="replace --output if it exists (default: refuse)")
    return parser


def main(argv=None):
    arguments = parser().parse_args(argv)
    image_shape = None
    given = (arguments.image_height, arguments.image_width)
    if any(given) or arguments.channels:
        if not all(given):
            raise ValueError("give both --image-height and --image-width")
        channels = arguments.channels or (1 if arguments.dataset == "fashion_scenes" else 3)
        image_shape = (arguments.image_height, arguments.image_width, channels)
    elif not arguments.dataset == "fashion_scenes":
        raise ValueError(f"{arguments.dataset} needs --image-height and --image-width")
    train_segmenter(
        arguments.architecture, arguments.dataset, arguments.output,
        width=arguments.width, backbone_weights=arguments.backbone_weights,
        epochs=arguments.epochs, batch_size=arguments.batch_size,
        learning_rate=arguments.learning_rate, seed=arguments.seed,
        limit=arguments.train_images, image_shape=image_shape,
        tfds_data_dir=arguments.tfds_data_dir, eval_images=arguments.eval_images,
        overwrite=arguments.overwrite,
    )
    return 0


if __name__ == "__main__":
    sys.exit(run_program(main))
