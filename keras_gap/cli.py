"""What the command-line programs in ``train/`` and ``export/`` share.

* ``argument_type(rule)``: an argparse ``type`` that parses the text and
  applies a ``keras_gap.checks`` rule, so a flag refuses exactly what the
  configuration field it fills refuses, with the same sentence.
* ``FLAGS`` and ``add_flag``: the flags several programs take, each defined
  once (type, metavar, help); a program adds them by name and may give its
  own default or a help text of its own.
* ``ArgumentParser`` and ``run_program``: every program's errors end as one
  ``error: ...`` line and exit status 2.
"""

import argparse
import fractions
import sys

from keras_gap import checks
from keras_gap.data import EXPLICIT_SPLITS
from keras_gap.generators import GENERATORS
from keras_gap.generators import SMALL_IMAGE_SIDE
from keras_gap.layers.budget_projection import PROJECTIONS
from keras_gap.layers.budget_projection import check_epsilon
from keras_gap.training.optimizer import LEARNING_RATE_SCHEDULES
from keras_gap.training.precision import JIT_COMPILE
from keras_gap.training.precision import MIXED_PRECISIONS


def parse_epsilon(text):
    """Parses a budget in pixel units of [0, 1]: "0.1", "10/255", "2000/255".

    Only the fraction is handled here; the budget rule itself (a finite
    number > 0) is the library's ``check_epsilon``.
    """
    text = str(text).strip()
    if "/" not in text:
        return check_epsilon(text)
    numerator, denominator = text.split("/", 1)
    try:
        value = fractions.Fraction(numerator.strip()) / fractions.Fraction(denominator.strip())
    except (ValueError, ZeroDivisionError):
        raise ValueError(
            f"epsilon must be a number or a fraction such as 10/255, got {text!r}"
        ) from None
    return check_epsilon(float(value))


def comma_list(text):
    """``"a, b,,c"`` → ``["a", "b", "c"]``."""
    return [item.strip() for item in str(text).split(",") if item.strip()]


class ArgumentParser(argparse.ArgumentParser):
    """An ``argparse`` parser whose errors raise ``ValueError``, so every
    program reports them the same way through ``run_program``."""

    def error(self, message):
        raise ValueError(message)


def argument_type(rule):
    """An argparse ``type`` applying ``rule`` (a ``checks.Rule``) to the text;
    argparse names the flag: ``argument --epochs: must be an integer >= 1,
    got '0'``."""

    def parse(text):
        try:
            return rule.parse(text, "it")
        except ValueError:
            raise argparse.ArgumentTypeError(rule.complaint(text)) from None

    parse.__name__ = type(rule).__name__.lower()
    return parse


def _parser_type(function):
    """An argparse ``type`` from a parsing function that raises ``ValueError``."""

    def convert(text):
        try:
            return function(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    convert.__name__ = function.__name__
    return convert


POSITIVE_INT = argument_type(checks.POSITIVE_INTEGER)
NON_NEGATIVE_INT = argument_type(checks.NON_NEGATIVE_INTEGER)
POSITIVE_FLOAT = argument_type(checks.POSITIVE_NUMBER)
SEED = argument_type(checks.SEED)
EMA_MOMENTUM = argument_type(checks.MOMENTUM)
LOSS_WEIGHT = argument_type(checks.LOSS_WEIGHT)
EPSILON = _parser_type(parse_epsilon)


def epsilon_list(text):
    """Comma-separated budgets, each as ``--epsilon`` takes it."""
    return tuple(parse_epsilon(item) for item in comma_list(text))


EPSILONS = _parser_type(epsilon_list)

# Help texts of flags several programs share.
EMA_MOMENTUM_HELP = (
    "momentum of the exponential moving average of the generator's weights, saved "
    "instead of the last weights (0.99: about the last 100 steps; 0: off)")
VICTIM_WEIGHTS_HELP = (
    "weights of a Keras Applications victim: 'imagenet' (Keras downloads them once), "
    "a local weights file (.weights.h5, or the .h5 Keras downloads), or 'random' "
    "(untrained). Give one per Applications victim, in the order of --victim; "
    ".keras victims carry their own. Default: imagenet for every one"
)
_GENERATOR_SIZES = "; ".join(
    f"{name} {spec.small[0]}/{spec.small[1] or 'auto'} up to {SMALL_IMAGE_SIDE} px, "
    f"{spec.large[0]}/{spec.large[1] or 'auto'} above"
    for name, spec in sorted(GENERATORS.items()))

# The flags several programs share: argparse keyword arguments, once each.
# "help" may hold "{default}", filled with the program's default.
FLAGS = {
    "--victim-weights": dict(action="append", metavar="imagenet|random|PATH",
                             help=VICTIM_WEIGHTS_HELP),
    "--dataset": dict(help="fashion_mnist, folder:PATH (one sub-folder per class, ImageNet "
                           "layout) or tfds:NAME (a prepared TFDS data set, e.g. "
                           "tfds:imagenet2012); for segmentation victims fashion_scenes or "
                           "tfds:cityscapes (default: {default})"),
    "--tfds-data-dir": dict(help="TFDS data directory for tfds:NAME"),
    "--split": dict(choices=EXPLICIT_SPLITS,
                    help="split to evaluate on (default: validation where the data set has "
                         "one, as the paper reports, else test)"),
    "--refuse-bad-images": dict(action="store_true",
                                help="folder:PATH: stop with an error naming the files that "
                                     "are not readable images (default: leave them out and "
                                     "report how many)"),
    "--image-size": dict(type=POSITIVE_INT,
                         help="side of the RGB images a Keras Applications victim is built "
                              "for (default: the architecture's own, 224 or 299)"),
    "--norm": dict(choices=sorted(PROJECTIONS), help="budget norm (default: {default})"),
    "--epsilon": dict(type=EPSILON,
                      help="budget in pixel units of [0, 1]; fractions allowed, e.g. 10/255 "
                           "(L∞) or 2000/255 (L2). Default: {default}"),
    "--generator": dict(choices=sorted(GENERATORS),
                        help="generator architecture (default: {default})"),
    "--generator-filters": dict(type=POSITIVE_INT,
                                help="width of the generator's first layer (default "
                                     "filters/blocks: " + _GENERATOR_SIZES + ")"),
    "--generator-blocks": dict(type=NON_NEGATIVE_INT,
                               help="residual blocks (ResNet designs) or depth (U-Net; auto: "
                                    "as deep as the image allows, at most 8); default: the "
                                    "design's for the image size"),
    "--epochs": dict(type=POSITIVE_INT, help="epochs (default: {default})"),
    "--batch-size": dict(type=POSITIVE_INT, help="batch size (default: {default})"),
    "--learning-rate": dict(type=POSITIVE_FLOAT,
                            help="Adam learning rate (default: {default})"),
    "--learning-rate-schedule": dict(
        choices=sorted(LEARNING_RATE_SCHEDULES),
        help="how the learning rate moves over the run's epochs × steps: constant (the "
             "paper's) or cosine (from --learning-rate down to 0 at the last step). "
             "Default: {default}"),
    "--ema-momentum": dict(type=EMA_MOMENTUM, help=EMA_MOMENTUM_HELP + " (default: {default})"),
    "--train-images": dict(type=POSITIVE_INT,
                           help="train on a seeded random sample of N training images only"),
    "--eval-images": dict(type=POSITIVE_INT,
                          help="evaluate on a seeded random sample of N images of the split, "
                               "the same N images for every run (default: the whole split)"),
    "--seed": dict(type=SEED, help="seed (default: {default})"),
    "--mixed-precision": dict(
        choices=sorted(MIXED_PRECISIONS),
        help="compute the generator and the Keras Applications victims in 16 bits on a GPU "
             "(Keras' mixed_bfloat16 / mixed_float16 policy, float16 with loss scaling); the "
             "budget, the clip and the objective stay float32. Default: off (float32)"),
    "--jit-compile": dict(
        choices=sorted(JIT_COMPILE),
        help="XLA compilation of the training step: auto = on where a GPU is visible, off "
             "on CPU-only machines (where it was slower); on / off force it (default: "
             "{default})"),
    "--unsafe-deserialization": dict(
        action="store_true",
        help="WARNING: lets .keras files run the Python code stored in them (Lambda "
             "layers); only for files you wrote or trust. Default: Keras safe mode, which "
             "refuses such files"),
}


def add_flag(add, name, help=None, **overrides):
    """Adds the shared flag ``name`` through ``add`` (a parser's or group's
    ``add_argument``); ``overrides`` replace its keyword arguments (a
    ``default``, ``dest``, ``required``), ``help`` its help text."""
    options = {**FLAGS[name], **overrides}
    text = options.get("help") if help is None else help
    if text is not None:
        default = options.get("default")
        options["help"] = text.replace("{default}", "off" if default is None else
                                       f"{default:g}" if isinstance(default, float)
                                       else str(default))
    return add(name, **options)


def add_flags(add, names, defaults=None):
    """``add_flag`` for each of ``names``, each taking its default from the
    attribute of ``defaults`` (a configuration) of the same name."""
    for name in names:
        field = name.removeprefix("--").replace("-", "_")
        overrides = {}
        if defaults is not None and hasattr(defaults, field):
            overrides["default"] = getattr(defaults, field)
        add_flag(add, name, **overrides)


def run_program(main, argv=None):
    """Runs ``main(argv)``; a ``ValueError`` or ``OSError`` (a file that cannot
    be read or written) becomes a one-line error, exit 2."""
    try:
        return main(argv)
    except (ValueError, OSError) as error:
        message = " ".join(line.strip() for line in str(error).splitlines() if line.strip())
        print(f"error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: run the same command again to resume", file=sys.stderr)
        return 130
