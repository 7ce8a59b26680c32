"""Shared pieces of the command-line programs in ``train/`` and ``export/``."""

import argparse
import fractions
import math
import sys

from keras_gap.layers.budget_projection import check_epsilon
from keras_gap.training.resources import check_seed


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


class ArgumentParser(argparse.ArgumentParser):
    """An ``argparse`` parser whose errors raise ``ValueError``, so every
    program reports them the same way through ``run_program``."""

    def error(self, message):
        raise ValueError(message)


def _argparse_type(parse):
    def convert(text):
        try:
            return parse(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    convert.__name__ = parse.__name__
    return convert


def positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise ValueError(f"expected a positive integer, got {text!r}")
    return value


def positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"expected a positive number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"expected a positive number, got {text!r}")
    return value


def ema_momentum(text):
    """A momentum in [0, 1): 0 turns the weight averaging off."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"expected a number in [0, 1), got {text!r}") from None
    if not 0 <= value < 1:
        raise ValueError(f"expected a number in [0, 1), got {text!r}")
    return value


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
MIXED_PRECISION_HELP = (
    "compute the generator and the Keras Applications victims in 16 bits on a GPU "
    "(Keras' mixed_bfloat16 / mixed_float16 policy, float16 with loss scaling); the "
    "budget, the clip and the objective stay float32. Default: off (float32)"
)
JIT_COMPILE_HELP = (
    "XLA compilation of the training step: auto = on where a GPU is visible, off on "
    "CPU-only machines (where it was slower); on / off force it (default: %(default)s)"
)


def seed(text):
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"expected an integer, got {text!r}") from None
    return check_seed(value, "the seed")

EPSILON = _argparse_type(parse_epsilon)
SEED = _argparse_type(seed)
POSITIVE_INT = _argparse_type(positive_int)
POSITIVE_FLOAT = _argparse_type(positive_float)
EMA_MOMENTUM = _argparse_type(ema_momentum)


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
