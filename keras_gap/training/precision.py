"""The two speed settings of a run: mixed precision and XLA compilation.

``--jit-compile auto|on|off`` (``JIT_COMPILE``) is Keras' ``jit_compile``:
"auto" compiles with XLA where a GPU is visible.

``--mixed-precision bfloat16|float16`` builds the generator and the Keras
Applications victims under Keras' ``mixed_bfloat16`` / ``mixed_float16``
policy: their layers compute in 16 bits and keep float32 weights, which is
what makes a GPU's tensor cores pay off. What must stay exact is float32
whatever the policy: the budget projection and the addition and clip to
[0, 1] (``Perturber``, so the budget holds exactly), the victims' logits and
the objective (``Victim.logits``), and the trainer. float16 needs loss
scaling, which ``GAPTrainer.compile`` adds (``LossScaleOptimizer``);
bfloat16 has float32's range and needs none. A ``.keras`` victim keeps the
policy it was saved with.
"""

import contextlib

import keras

MIXED_PRECISIONS = {"bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}
# --jit-compile: Keras' ``jit_compile`` for each setting.
JIT_COMPILE = {"auto": "auto", "on": True, "off": False}


def check_mixed_precision(name):
    """Returns ``name`` (None: float32) or raises a ``ValueError`` naming it."""
    if name is not None and name not in MIXED_PRECISIONS:
        raise ValueError(
            f"mixed precision must be one of {sorted(MIXED_PRECISIONS)} (or off), got {name!r}"
        )
    return name


@contextlib.contextmanager
def mixed_precision_scope(name):
    """Models built inside use the mixed policy of ``name`` ("bfloat16",
    "float16"; None: the current policy); the previous global policy is
    restored on leaving."""
    check_mixed_precision(name)
    previous = keras.config.dtype_policy()
    if name is not None:
        keras.config.set_dtype_policy(MIXED_PRECISIONS[name])
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def _layers(layer):
    yield layer
    for inner in getattr(layer, "layers", ()):
        yield from _layers(inner)


def computes_in_float16(*models):
    """True when a layer of ``models`` computes in float16, whose small range
    needs loss scaling for its gradients."""
    return any(layer.compute_dtype == "float16" for model in models for layer in _layers(model))
