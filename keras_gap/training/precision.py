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

PyTorch cannot train float16 convolutions on a CPU (its backward raises
"slow_conv2d: grad_weight must be contiguous"), so training in float16
under PyTorch without a CUDA GPU is refused up front
(``check_trainable_precision``); bfloat16 trains there.
"""

import contextlib

import keras

from keras_gap import backend

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


def check_trainable_precision(name):
    """Returns ``name`` (None: float32) when this backend can train in it
    here, or raises a ``ValueError`` naming it and what does train: float16
    under PyTorch needs a CUDA GPU."""
    check_mixed_precision(name)
    if name == "float16" and backend.name() == "torch" and not backend.visible_gpus():
        raise ValueError(
            "mixed precision 'float16' cannot train under KERAS_BACKEND=torch without a CUDA "
            "GPU: PyTorch's CPU float16 convolution backward fails (slow_conv2d: grad_weight "
            "must be contiguous); use bfloat16, float32, or the tensorflow or jax backend")
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
