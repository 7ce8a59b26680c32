"""Command-line flags shared by ``train.universal`` and ``train.image_dependent``."""

import argparse

from keras_gap.cli import ArgumentParser
from keras_gap.cli import EPSILON
from keras_gap.cli import EMA_MOMENTUM
from keras_gap.cli import EMA_MOMENTUM_HELP
from keras_gap.cli import JIT_COMPILE_HELP
from keras_gap.cli import MIXED_PRECISION_HELP
from keras_gap.cli import POSITIVE_FLOAT
from keras_gap.cli import POSITIVE_INT
from keras_gap.cli import SEED
from keras_gap.cli import VICTIM_WEIGHTS_HELP
from keras_gap.data import EXPLICIT_SPLITS
from keras_gap.generators import GENERATORS
from keras_gap.generators import SMALL_IMAGE_SIDE
from keras_gap.layers.budget_projection import PROJECTION_METHODS
from keras_gap.layers.budget_projection import PROJECTIONS
from keras_gap.objectives import OBJECTIVES
from keras_gap.objectives import REDUCTION_OBJECTIVES
from keras_gap.objectives import REDUCTIONS
from keras_gap.training.attack_config import JIT_COMPILE
from keras_gap.training.attack_config import AttackConfig
from keras_gap.training.distribution import STRATEGIES
from keras_gap.training.precision import MIXED_PRECISIONS
from keras_gap.victims import APPLICATIONS


def add_speed_flags(add, defaults):
    """--mixed-precision and --jit-compile."""
    add("--mixed-precision", choices=sorted(MIXED_PRECISIONS), default=defaults.mixed_precision,
        help=MIXED_PRECISION_HELP)
    add("--jit-compile", choices=sorted(JIT_COMPILE), default=defaults.jit_compile,
        help=JIT_COMPILE_HELP)


def _add_victim_and_data_flags(add, defaults):
    add("--victim", action="append", dest="victims", default=[], metavar="VICTIM",
        help="victim to fool; repeat for an ensemble. A .keras classifier taking "
             "images in [0, 1], or a Keras Applications name: "
             f"{', '.join(sorted(APPLICATIONS))}. Default: a small CNN trained on "
             "Fashion-MNIST and cached on first use")
    add("--victim-weights", action="append", metavar="imagenet|random|PATH",
        help=VICTIM_WEIGHTS_HELP)
    add("--loss-weight", action="append", dest="loss_weights", type=POSITIVE_FLOAT,
        metavar="LAMBDA", help="weight of each victim's loss in the ensemble, one per "
                               "--victim, in the same order (default 1 each)")
    add("--dataset", default=defaults.dataset,
        help="fashion_mnist, folder:PATH (one sub-folder per class, ImageNet layout) "
             "or tfds:NAME (a prepared TFDS data set, e.g. tfds:imagenet2012); for "
             "segmentation victims fashion_scenes or tfds:cityscapes")
    add("--tfds-data-dir", help="TFDS data directory for tfds:NAME")
    add("--split", choices=EXPLICIT_SPLITS, default=defaults.split,
        help="split the finished perturber is evaluated on (default: validation where "
             "the data set has one, as the paper reports, else test)")
    add("--refuse-bad-images", action="store_true",
        help="folder:PATH: stop with an error naming the files that are not readable "
             "images (default: leave them out and report how many)")
    add("--image-size", type=POSITIVE_INT,
        help="side of the RGB images a Keras Applications victim is built for "
             "(default: the architecture's own, 224 or 299)")


def _add_objective_flags(add, defaults):
    add("--objective", choices=sorted(OBJECTIVES), default=defaults.objective,
        help="untargeted: push away from the clean prediction; least_likely: move "
             "to each image's least-likely class; targeted: move to --target-class. "
             "Made to transfer to unseen victims: cda (relativistic cross-entropy), "
             "ltp (push a mid-level feature map away from the clean one), bia (cosine "
             "similarity of attention-weighted mid-level features, random input "
             "normalisation). Default: %(default)s")
    add("--feature-layer", action="append", dest="feature_layers", metavar="LAYER",
        help="--objective ltp or bia: the victim layer whose feature maps are "
             "compared (a layer inside a Keras Applications victim by its own name); "
             "give it once for every victim or once per --victim. Default: each "
             "victim's mid-level block (the last layer at the middle of its spatial "
             "scales). A wrong name is refused with the list of the victim's layers")
    add("--target-class", type=int, help="class id for --objective targeted")
    add("--target-map", metavar="PATH.png|scene:INDEX|cityscapes:PATH.png",
        help="segmentation victims, --objective targeted: one fixed label map to "
             "move every image's prediction to, a grey PNG of class ids (255 = "
             "ignore) of the victim's output size, the ground truth of held-out "
             "image INDEX of --dataset, or a Cityscapes *_gtFine_labelIds.png (its "
             "labelIds become train ids, resized to the victim's output)")


def _add_attack_flags(add, defaults):
    add("--norm", choices=sorted(PROJECTIONS), default=defaults.norm,
        help="budget norm (default: %(default)s)")
    add("--epsilon", type=EPSILON, default=defaults.epsilon,
        help="budget in pixel units of [0, 1]; fractions allowed, e.g. 10/255 "
             "(L∞) or 2000/255 (L2). Default: %(default)s")
    defaults_text = ", ".join(
        f"{name} {cls.default_reduction}" for name, cls in sorted(REDUCTION_OBJECTIVES.items()))
    add("--reduction", choices=sorted(REDUCTIONS),
        help="how the objective's per-image cross-entropies make the batch's loss: "
             "per_image (mean of the per-image logs), batch_mean (log of the batch's "
             "mean CE, as the original code) or ce (mean CE, no log). Default: the "
             f"objective's measured best ({defaults_text})")
    add("--projection", "--scaling", choices=["auto", *sorted(PROJECTION_METHODS)],
        default=defaults.projection,
        help="how the generator's output meets the budget: scale (GAP: δ·min(1, ε/‖δ‖), "
             "the scale held constant for the gradient, as the 2019 code); "
             "straight_through_2018 (L∞ only: per image and channel, straight-through "
             "gradients through the scale and the clip, as the paper's 2018 code); clip "
             "(CDA, LTP, BIA: the adversarial image clipped into [x−ε, x+ε] ∩ [0, 1], L∞ "
             "only); auto: clip for cda, ltp and bia under L∞, scale otherwise "
             "(default: %(default)s). --scaling is the same flag")
    sizes = "; ".join(
        f"{name} {spec.small[0]}/{spec.small[1] or 'auto'} up to {SMALL_IMAGE_SIDE} px, "
        f"{spec.large[0]}/{spec.large[1] or 'auto'} above" for name, spec in sorted(GENERATORS.items()))
    add("--generator", choices=sorted(GENERATORS), default=defaults.generator,
        help="generator architecture (default: %(default)s)")
    add("--generator-filters", type=POSITIVE_INT,
        help="width of the generator's first layer (default filters/blocks: " + sizes + ")")
    add("--generator-blocks", type=int,
        help="residual blocks (ResNet designs) or depth (U-Net; auto: as deep as the "
             "image allows, at most 8); default: the design's for the image size")


def _add_training_flags(add, defaults):
    add("--epochs", type=POSITIVE_INT, default=defaults.epochs,
        help="epochs (default: %(default)s)")
    add("--steps-per-epoch", type=POSITIVE_INT, default=defaults.steps_per_epoch,
        help="batches per epoch (default: %(default)s)")
    add("--batch-size", type=POSITIVE_INT, default=defaults.batch_size,
        help="global batch size (default: %(default)s)")
    add("--learning-rate", type=POSITIVE_FLOAT, default=defaults.learning_rate,
        help="Adam learning rate, beta_1 = 0.5 (default: %(default)s)")
    add("--ema-momentum", type=EMA_MOMENTUM, default=defaults.ema_momentum,
        help=EMA_MOMENTUM_HELP + " (default: %(default)s)")
    add("--seed", type=SEED, default=defaults.seed,
        help="seed of weights, pattern Z, shuffling and the noise floor (default: %(default)s)")
    add("--strategy", choices=STRATEGIES, default=defaults.strategy,
        help="tf.distribute strategy; auto = MirroredStrategy with more than one GPU; "
             "multi_worker = MultiWorkerMirroredStrategy over the machines in "
             "TF_CONFIG (run the same command on each; the chief writes the artifacts)")
    add("--eval-images", type=POSITIVE_INT,
        help="evaluate on a seeded random sample of N images of the split, the same "
             "N images for every run (default: the whole split)")
    add_speed_flags(add, defaults)
    add("--output-dir", help="where artifacts go (default: runs/<kind>_<objective>_<norm>_eps<ε>)")
    add("--unsafe-deserialization", action="store_true",
        help="WARNING: lets victim .keras files run the Python code stored in them "
             "(Lambda layers); only for files you wrote or trust. Default: Keras "
             "safe mode, which refuses such files")


def attack_parser(kind, description, program=None, objective_flags=True):
    """The parser of ``python -m train.<program>`` (``program`` defaults to
    ``kind``); defaults from ``AttackConfig``. ``objective_flags=False``
    leaves out --objective, --target-class and --target-map for programs
    that set them."""
    defaults = AttackConfig(kind=kind)
    parser = ArgumentParser(
        prog=f"python -m train.{program or kind}", description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    groups = [_add_victim_and_data_flags, _add_attack_flags, _add_training_flags]
    if objective_flags:
        groups.insert(1, _add_objective_flags)
    for add_flags in groups:
        add_flags(parser.add_argument, defaults)
    return parser


def parse_attack_config(kind, description, argv=None):
    """The ``AttackConfig`` the command line ``argv`` asks for."""
    arguments = attack_parser(kind, description).parse_args(argv)
    return AttackConfig(kind=kind, **vars(arguments))
