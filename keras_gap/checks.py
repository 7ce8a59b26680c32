"""The value rules every configuration and program shares, each written once.

A rule checks one value and, when the value breaks it, raises a
``ValueError`` whose message is one sentence naming the setting and the
value: ``epochs must be an integer >= 1, got 0``. The configuration
dataclasses (``AttackConfig``, ``BenchmarkConfig``, ``SpeedSettings``)
check their fields with these rules; the programs' argparse types
(``keras_gap.cli.argument_type``) parse the command-line text and apply
the same rules, so a flag and the field it fills can never disagree.

Rules are strict about types: ``True`` is not an integer and ``"5"`` is not
a number (only ``parse`` turns command-line text into a value).
"""

import math

# numpy's seeds are 32-bit.
MAX_SEED = 2**32 - 1


class Rule:
    """A rule on one value: ``description`` completes "NAME must be ...".

    ``check(value, name)`` returns the value (converted to its canonical
    type) or raises; ``parse(text, name)`` does the same for command-line
    text.
    """

    description = None

    def accepts(self, value):
        raise NotImplementedError

    def convert(self, value):
        return value

    def parse_text(self, text):
        """The value command-line ``text`` stands for; ``ValueError`` if none."""
        return text

    def complaint(self, value):
        """``must be <description>, got <value>``: the sentence after the name."""
        return f"must be {self.description}, got {value!r}"

    def fail(self, value, name):
        raise ValueError(f"{name} {self.complaint(value)}")

    def check(self, value, name):
        if not self.accepts(value):
            self.fail(value, name)
        return self.convert(value)

    def parse(self, text, name):
        try:
            value = self.parse_text(text)
        except (TypeError, ValueError):
            self.fail(text, name)
        if not self.accepts(value):
            self.fail(text, name)
        return self.convert(value)

    def optional(self, value, name):
        """``check`` for settings where None means "the default"."""
        return None if value is None else self.check(value, name)


def _is_integer(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(
        value)


class Integer(Rule):
    """An integer, at least ``minimum`` and at most ``maximum`` (either None)."""

    def __init__(self, minimum=None, maximum=None):
        self.minimum, self.maximum = minimum, maximum
        if maximum is None:
            self.description = f"an integer >= {minimum}" if minimum is not None else (
                "an integer")
        else:
            self.description = f"an integer between {minimum} and {maximum}"

    def accepts(self, value):
        return _is_integer(value) and (self.minimum is None or value >= self.minimum) and (
            self.maximum is None or value <= self.maximum)

    def parse_text(self, text):
        return int(str(text).strip())


class Number(Rule):
    """A finite number within the bounds given: ``above`` / ``below``
    exclusive, ``minimum`` / ``maximum`` inclusive."""

    def __init__(self, above=None, minimum=None, below=None, maximum=None):
        self.above, self.minimum, self.below, self.maximum = above, minimum, below, maximum
        low = f"({above:g}" if above is not None else (
            f"[{minimum:g}" if minimum is not None else None)
        high = f"{below:g})" if below is not None else (
            f"{maximum:g}]" if maximum is not None else None)
        if low and high:
            self.description = f"a number in {low}, {high}"
        elif above is not None:
            self.description = f"a finite number > {above:g}"
        elif minimum is not None:
            self.description = f"a finite number >= {minimum:g}"
        else:
            self.description = "a finite number"

    def accepts(self, value):
        if not _is_number(value):
            return False
        return ((self.above is None or value > self.above)
                and (self.minimum is None or value >= self.minimum)
                and (self.below is None or value < self.below)
                and (self.maximum is None or value <= self.maximum))

    def convert(self, value):
        return float(value)

    def parse_text(self, text):
        return float(str(text).strip())


class OneOf(Rule):
    """One of a fixed set of choices."""

    def __init__(self, choices):
        self.choices = tuple(choices)
        self.description = f"one of {sorted(self.choices)}"

    def accepts(self, value):
        return value in self.choices


POSITIVE_INTEGER = Integer(minimum=1)
NON_NEGATIVE_INTEGER = Integer(minimum=0)
SEED = Integer(minimum=0, maximum=MAX_SEED)
POSITIVE_NUMBER = Number(above=0)
# A learning rate, a time budget in seconds, a loss weight above 0.
LEARNING_RATE = POSITIVE_NUMBER
# The momentum of a moving average: 0 turns it off, 1 would never move.
MOMENTUM = Number(minimum=0, below=1)


def check_seed(seed, name="seed"):
    """Returns ``seed`` unless it is not an integer in [0, ``MAX_SEED``]."""
    return SEED.check(seed, name)


def check_positive_integers(owner, names):
    """Checks that each attribute ``names`` of ``owner`` (a configuration)
    is an integer >= 1, naming it with spaces for underscores."""
    for name in names:
        POSITIVE_INTEGER.check(getattr(owner, name), name.replace("_", " "))


def check_distinct_choices(values, name, choices):
    """Returns ``values`` as a tuple unless it is empty, repeats itself or
    holds a value outside ``choices``."""
    values = tuple(values)
    unknown = [v for v in values if v not in choices]
    if unknown or not values or len(set(values)) != len(values):
        raise ValueError(
            f"{name} must be distinct values of {list(choices)}, got {list(values)}")
    return values


# One victim's weight in the ensemble's loss: 0 leaves it out.
LOSS_WEIGHT = Number(minimum=0)


def check_loss_weights(weights, count=None):
    """Returns ``weights`` as floats unless one is not a finite number >= 0,
    all are 0, or (with ``count``) there is not one per victim."""
    weights = [LOSS_WEIGHT.check(w, "a loss weight") for w in weights]
    if count is not None and len(weights) != count:
        raise ValueError(
            f"got {len(weights)} loss weights for {count} victims; give one per victim")
    if not any(weights):
        raise ValueError(f"loss weights must not all be 0, got {weights}")
    return weights
