"""Choosing the ``tf.distribute`` strategy for a training run."""

import tensorflow as tf

STRATEGIES = ("auto", "mirrored", "one_device")


def make_strategy(name="auto"):
    """``auto``: MirroredStrategy when more than one GPU is visible, else the
    default strategy; ``mirrored``: MirroredStrategy over all visible GPUs (or
    the CPU); ``one_device``: the first GPU, or the CPU."""
    if name not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {name!r}")
    gpus = tf.config.list_logical_devices("GPU")
    if name == "mirrored" or (name == "auto" and len(gpus) > 1):
        return tf.distribute.MirroredStrategy()
    if name == "one_device":
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    return tf.distribute.get_strategy()
