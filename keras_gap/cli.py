"""Shared pieces of the command-line programs in ``train/`` and ``export/``."""

import argparse
import fractions
import math
import os
import sys


def parse_epsilon(text):
    """Parses a budget in pixel units of [0, 1]: "0.1", "10/255", "2000/255"."""
    text = str(text).strip()
    try:
        if "/" in text:
            numerator, denominator = text.split("/", 1)
            value = float(fractions.Fraction(numerator.strip()) / fractions.Fraction(
                denominator.strip()))
        else:
            value = float(text)
    except (ValueError, ZeroDivisionError):
        raise ValueError(
            f"epsilon must be a number or a fraction such as 10/255, got {text!r}"
        ) from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"epsilon must be finite and > 0, got {text!r}")
    return value


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


EPSILON = _argparse_type(parse_epsilon)
POSITIVE_INT = _argparse_type(positive_int)
POSITIVE_FLOAT = _argparse_type(positive_float)


def quiet_tensorflow():
    """Hides TensorFlow's C++ start-up chatter unless the user asked for it."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


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
