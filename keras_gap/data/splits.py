"""Split names every source understands.

"train", "validation" and "test" are explicit: the split of that name or a
``ValueError``. ``HELD_OUT`` ("held_out") is what evaluation uses unless told
otherwise: the validation split where the data set has one (ImageNet's and
Cityscapes' test labels are unpublished, and the paper reports on the
validation sets), else the test split.
"""

TRAIN = "train"
VALIDATION = "validation"
TEST = "test"
HELD_OUT = "held_out"
EXPLICIT_SPLITS = (TRAIN, VALIDATION, TEST)
SPLITS = (*EXPLICIT_SPLITS, HELD_OUT)


def check_split(split):
    """Returns ``split`` or raises a ``ValueError`` naming it."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}; got {split!r}")
    return split


def candidate_splits(split):
    """The explicit splits ``split`` may resolve to, in order of preference."""
    check_split(split)
    return (VALIDATION, TEST) if split == HELD_OUT else (split,)


def resolve_split(split, available, data_name):
    """The first of ``candidate_splits(split)`` in ``available``."""
    for candidate in candidate_splits(split):
        if candidate in available:
            return candidate
    raise ValueError(
        f"{data_name} has no {split.replace('_', '-')} split (it has "
        f"{', '.join(sorted(available)) or 'none'})"
    )
