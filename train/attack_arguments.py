"""Command-line flags shared by ``train.universal`` and ``train.image_dependent``."""

import argparse

from keras_gap.cli import ArgumentParser
from keras_gap.cli import EPSILON
from keras_gap.cli import POSITIVE_FLOAT
from keras_gap.cli import POSITIVE_INT
from keras_gap.cli import SEED
from keras_gap.generators import GENERATORS
from keras_gap.layers.budget_projection import PROJECTIONS
from keras_gap.objectives import OBJECTIVES
from keras_gap.training.attack_config import AttackConfig
from keras_gap.training.distribution import STRATEGIES
from keras_gap.victims import APPLICATIONS


def _add_victim_and_data_flags(add, defaults):
    add("--victim", action="append", dest="victims", default=[], metavar="VICTIM",
        help="victim to fool; repeat for an ensemble. A .keras classifier taking "
             "images in [0, 1], or a Keras Applications name: "
             f"{', '.join(sorted(APPLICATIONS))}. Default: a small CNN trained on "
             "Fashion-MNIST and cached on first use")
    add("--victim-weights", metavar="imagenet|PATH",
        help="weights for Keras Applications victims: 'imagenet' (downloads) or a "
             "local .weights.h5 file; default: random weights")
    add("--loss-weight", action="append", dest="loss_weights", type=POSITIVE_FLOAT,
        metavar="LAMBDA", help="weight of each victim's loss in the ensemble, one per "
                               "--victim, in the same order (default 1 each)")
    add("--dataset", default=defaults.dataset,
        help="fashion_mnist, folder:PATH (one sub-folder per class, ImageNet layout) "
             "or tfds:NAME (a prepared TFDS data set, e.g. tfds:imagenet2012); for "
             "segmentation victims fashion_scenes or tfds:cityscapes")
    add("--tfds-data-dir", help="TFDS data directory for tfds:NAME")
    add("--image-size", type=POSITIVE_INT,
        help="side of the RGB images a Keras Applications victim is built for "
             "(default: the architecture's own, 224 or 299)")


def _add_attack_flags(add, defaults):
    add("--norm", choices=sorted(PROJECTIONS), default=defaults.norm,
        help="budget norm (default: %(default)s)")
    add("--epsilon", type=EPSILON, default=defaults.epsilon,
        help="budget in pixel units of [0, 1]; fractions allowed, e.g. 10/255 "
             "(L∞) or 2000/255 (L2). Default: %(default)s")
    add("--objective", choices=sorted(OBJECTIVES), default=defaults.objective,
        help="untargeted: push away from the clean prediction; least_likely: move "
             "to each image's least-likely class; targeted: move to --target-class "
             "(default: %(default)s)")
    add("--target-class", type=int, help="class id for --objective targeted")
    add("--target-map", metavar="PATH.png|scene:INDEX",
        help="segmentation victims, --objective targeted: one fixed label map to "
             "move every image's prediction to, a grey PNG of class ids (255 = "
             "ignore) of the victim's output size, or the ground truth of test "
             "image INDEX of --dataset")
    add("--generator", choices=sorted(GENERATORS), default=defaults.generator,
        help="generator architecture (default: %(default)s)")
    add("--generator-filters", type=POSITIVE_INT,
        help="width of the generator's first layer (default: 32 for images up to "
             "64 pixels, 64 above)")
    add("--generator-blocks", type=int,
        help="ResNet: residual blocks (default 3 small / 6 large); U-Net: depth")


def _add_training_flags(add, defaults):
    add("--epochs", type=POSITIVE_INT, default=defaults.epochs,
        help="epochs (default: %(default)s)")
    add("--steps-per-epoch", type=POSITIVE_INT, default=defaults.steps_per_epoch,
        help="batches per epoch (default: %(default)s)")
    add("--batch-size", type=POSITIVE_INT, default=defaults.batch_size,
        help="global batch size (default: %(default)s)")
    add("--learning-rate", type=POSITIVE_FLOAT, default=defaults.learning_rate,
        help="Adam learning rate, beta_1 = 0.5 (default: %(default)s)")
    add("--seed", type=SEED, default=defaults.seed,
        help="seed of weights, pattern Z, shuffling and the noise floor (default: %(default)s)")
    add("--strategy", choices=STRATEGIES, default=defaults.strategy,
        help="tf.distribute strategy; auto = MirroredStrategy with more than one GPU; "
             "multi_worker = MultiWorkerMirroredStrategy over the machines in "
             "TF_CONFIG (run the same command on each; the chief writes the artifacts)")
    add("--eval-images", type=POSITIVE_INT,
        help="evaluate on the first N test images only (default: the whole split)")
    add("--output-dir", help="where artifacts go (default: runs/<kind>_<objective>_<norm>_eps<ε>)")
    add("--unsafe-deserialization", action="store_true",
        help="WARNING: lets victim .keras files run the Python code stored in them "
             "(Lambda layers); only for files you wrote or trust. Default: Keras "
             "safe mode, which refuses such files")


def attack_parser(kind, description):
    """The parser of ``python -m train.<kind>``; defaults from ``AttackConfig``."""
    defaults = AttackConfig(kind=kind)
    parser = ArgumentParser(
        prog=f"python -m train.{kind}", description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for add_flags in (_add_victim_and_data_flags, _add_attack_flags, _add_training_flags):
        add_flags(parser.add_argument, defaults)
    return parser


def parse_attack_config(kind, description, argv=None):
    """The ``AttackConfig`` the command line ``argv`` asks for."""
    arguments = attack_parser(kind, description).parse_args(argv)
    return AttackConfig(kind=kind, **vars(arguments))
