"""Command-line flags shared by ``train.universal`` and ``train.image_dependent``."""

import argparse

from keras_gap.cli import LOSS_WEIGHT
from keras_gap.cli import POSITIVE_INT
from keras_gap.cli import argument_type
from keras_gap.cli import ArgumentParser
from keras_gap.cli import add_flag
from keras_gap.cli import add_flags
from keras_gap.layers.budget_projection import PROJECTION_METHODS
from keras_gap.layers.input_diversity import PROBABILITY
from keras_gap.objectives import OBJECTIVES
from keras_gap.objectives import REDUCTION_OBJECTIVES
from keras_gap.objectives import REDUCTIONS
from keras_gap.objectives import SEGMENTATION_OBJECTIVES
from keras_gap.perturbers import PERTURBERS
from keras_gap.runs.attack_config import AttackConfig
from keras_gap.training.distribution import STRATEGIES
from keras_gap.victims import APPLICATIONS


INPUT_DIVERSITY = argument_type(PROBABILITY)


def _add_victim_and_data_flags(add, defaults):
    add("--victim", action="append", dest="victims", default=[], metavar="VICTIM",
        help="victim to fool; repeat for an ensemble. A .keras classifier taking "
             "images in [0, 1], or a Keras Applications name: "
             f"{', '.join(sorted(APPLICATIONS))}; or torchscript:PATH.pt, a PyTorch "
             "classifier (KERAS_BACKEND=torch; channels-first input in [0, 1]). Default: a "
             "small CNN trained on Fashion-MNIST and cached on first use")
    add_flag(add, "--victim-weights")
    add("--loss-weight", action="append", dest="loss_weights", type=LOSS_WEIGHT,
        metavar="LAMBDA", help="weight of each victim's loss in the ensemble, one per "
                               "--victim, in the same order (default 1 each; 0 leaves a "
                               "victim out of the loss)")
    add_flags(add, ("--dataset", "--tfds-data-dir"), defaults)
    add_flag(add, "--split", default=defaults.split,
             help="split the finished perturber is evaluated on (default: validation "
                  "where the data set has one, as the paper reports, else test)")
    add_flags(add, ("--refuse-bad-images", "--image-size"), defaults)


def _add_objective_flags(add, defaults):
    add("--objective", choices=sorted(OBJECTIVES), default=defaults.objective,
        help="untargeted: push away from the clean prediction; least_likely: move "
             "to each image's least-likely class; targeted: move to --target-class "
             "(log cross-entropy); targeted_margin: the same with Carlini and Wagner's "
             "logit margin, which stops pulling on an image once its target leads by 5. "
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
    add_flags(add, ("--norm", "--epsilon"), defaults)
    defaults_text = ", ".join(
        f"{name} {cls.default_reduction}" for name, cls in sorted(REDUCTION_OBJECTIVES.items()))
    add("--reduction", choices=sorted(REDUCTIONS),
        help="how the objective's per-image cross-entropies make the batch's loss: "
             "per_image (mean of the per-image logs), batch_mean (log of the batch's "
             "mean CE, as the original code) or ce (mean CE, no log). Default: the "
             f"objective's measured best ({defaults_text}; segmenters' targeted "
             f"{SEGMENTATION_OBJECTIVES['targeted'].default_reduction})")
    add("--projection", "--scaling", choices=["auto", *sorted(PROJECTION_METHODS)],
        default=defaults.projection,
        help="how the generator's output meets the budget: scale (GAP: δ·min(1, ε/‖δ‖), "
             "the scale held constant for the gradient, as the 2019 code); "
             "straight_through_2018 (L∞ only: per image and channel, straight-through "
             "gradients through the scale and the clip, as the paper's 2018 code); clip "
             "(CDA, LTP, BIA: the adversarial image clipped into [x−ε, x+ε] ∩ [0, 1], L∞ "
             "only); auto: clip for cda, ltp and bia under L∞, scale otherwise "
             "(default: %(default)s). --scaling is the same flag")
    add_flags(add, ("--generator", "--generator-filters", "--generator-blocks"), defaults)


def _add_training_flags(add, defaults):
    add_flags(add, ("--epochs",), defaults)
    add("--steps-per-epoch", type=POSITIVE_INT, default=defaults.steps_per_epoch,
        help="batches per epoch (default: %(default)s)")
    add_flag(add, "--batch-size", default=defaults.batch_size,
             help="global batch size (default: {default})")
    add_flag(add, "--learning-rate", default=defaults.learning_rate,
             help="Adam learning rate, beta_1 = 0.5 (default: {default})")
    add_flags(add, ("--learning-rate-schedule", "--ema-momentum"), defaults)
    add("--input-diversity", type=INPUT_DIVERSITY, default=defaults.input_diversity,
        metavar="P",
        help="DI for transfer: in training, each adversarial image reaches the victims, "
             "with probability P, shrunk by a random factor in [0.8, 1] and placed at a "
             "random position on a black canvas of its size (Xie et al. 2019; DI uses 0.5); "
             "evaluation sees the images unchanged. Default: %(default)s (off)")
    add_flag(add, "--seed", default=defaults.seed,
             help="seed of weights, pattern Z, shuffling and the noise floor (default: "
                  "{default})")
    add("--strategy", choices=STRATEGIES, default=defaults.strategy,
        help="tf.distribute strategy; auto = MirroredStrategy with more than one GPU; "
             "multi_worker = MultiWorkerMirroredStrategy over the machines in "
             "TF_CONFIG (run the same command on each; the chief writes the artifacts)")
    add_flags(add, ("--eval-images", "--mixed-precision", "--jit-compile"), defaults)
    add("--output-dir", help="where artifacts go (default: runs/<kind>_<objective>_<norm>_eps<ε>)")
    add_flag(add, "--unsafe-deserialization",
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


def add_kind_flag(parser):
    """--kind, for programs that run either kind of attack."""
    parser.add_argument(
        "--kind", choices=sorted(PERTURBERS), default="universal",
        help="universal (one perturbation for every image) or image_dependent (a "
             "generator run on each image); the other flags' defaults are the kind's "
             "(default: %(default)s)")


def kind_of(argv):
    """The --kind that ``argv`` asks for (before the kind's own defaults are
    known); a bad value is refused by the full parser."""
    first = argparse.ArgumentParser(add_help=False)
    first.add_argument("--kind", default="universal")
    kind = first.parse_known_args(argv)[0].kind
    return kind if kind in PERTURBERS else "universal"
