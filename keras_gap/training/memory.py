"""Refusing batch sizes this machine cannot hold, before anything is written.

A batch too large for memory does not fail cleanly on a CPU: the kernel
kills the process minutes in. So the programs estimate a step's memory from
the built models and refuse, naming the flag, what cannot fit in the
machine's physical memory: in training every layer's output is kept for the
backward pass (``layer_values``), in inference at least the largest layer's
input and output exist at once (``largest_layer_values``), and the
trainable weights are held four times (weights, gradients, Adam's two
moments).
"""

import math

import keras

from keras_gap.artifacts import physical_memory_bytes

BYTES_PER_VALUE = 4  # float32
# Weights, their gradients and Adam's two moments.
COPIES_OF_TRAINABLE_WEIGHTS = 4
def _layer_outputs(model):
    """Per-image value counts of every layer output, nested models walked."""
    counts = []
    for layer in model.layers:
        if isinstance(layer, keras.Model) and layer.layers:
            counts += _layer_outputs(layer)
            continue
        try:
            outputs = keras.tree.flatten(layer.output)
        except (AttributeError, ValueError):  # a shared or never-called layer
            continue
        counts += [math.prod(d or 1 for d in t.shape[1:]) for t in outputs]
    return counts or [0]


def layer_values(model):
    """Values one image puts in ``model``'s layer outputs, all together."""
    return sum(_layer_outputs(model))


def largest_layer_values(model):
    """Values of ``model``'s largest layer output for one image."""
    return max(_layer_outputs(model))


def check_batch_memory(batch_size, per_image_values, fixed_values=0, flag="--batch-size",
                       what="one training step"):
    """Raises ``ValueError`` naming ``flag`` when ``batch_size`` images of
    ``per_image_values`` float32 values each, plus ``fixed_values``, exceed
    this machine's physical memory; says what batch would fit."""
    memory = physical_memory_bytes()
    fixed = fixed_values * BYTES_PER_VALUE
    per_image = max(per_image_values, 1) * BYTES_PER_VALUE
    needed = fixed + batch_size * per_image
    if needed <= memory:
        return
    largest = max(0, (memory - fixed) // per_image)
    advice = (f"at most {largest:,} fits" if largest else
              "no batch fits: make the generator smaller (--generator-filters, "
              "--generator-blocks)")
    raise ValueError(
        f"{flag} {batch_size:,} needs at least {needed / 2**30:,.1f} GiB for {what}, more "
        f"than this machine's {memory / 2**30:.1f} GiB of memory; {advice}")


def check_attack_memory(batch_size, perturber, victims, replicas=1):
    """``check_batch_memory`` for one GAP training step on ``replicas``
    devices: the victims' layer outputs per image, the generator's per image
    (image-dependent) or once (universal), and its weights four times."""
    per_image = sum(layer_values(v.model) for v in victims)
    generator = layer_values(perturber.generator)
    fixed = COPIES_OF_TRAINABLE_WEIGHTS * perturber.count_params()
    if perturber.shared_perturbation:  # the generator runs once per batch
        fixed += generator
    else:
        per_image += generator
    check_batch_memory(math.ceil(batch_size / replicas), per_image, fixed)
