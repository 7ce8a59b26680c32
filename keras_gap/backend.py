"""What differs between Keras backends, in one place.

keras_gap's layers, generators, perturbers, objectives, victims and trainer
are written in ``keras.ops`` and run on TensorFlow (the default), JAX and
PyTorch. The few things Keras has no backend-neutral operation for are
here, each a function that dispatches on ``keras.backend.backend()`` and
imports its backend's library only when it runs, so ``import keras_gap``
under JAX or PyTorch loads no TensorFlow:

* ``is_traced(tensor)``: whether values are unknown (a graph being built or
  a function being compiled), so a check on values must wait;
* ``input_gradient(function, images)``: ``(value, ∂ value.sum() / ∂ images)``,
  and ``batch_jacobian`` for per-image rows of several values;
* ``compiled(function)``: the backend's compiler (``tf.function``,
  ``jax.jit``; PyTorch runs eagerly);
* ``replicas_in_sync()``, ``gather_global_batch(values)`` and
  ``mean_over_global_batch(per_example)``: the one-device meaning of a batch
  under ``tf.distribute`` (under JAX a compiled step sees the global batch);
* ``visible_gpus()``: the accelerators the backend runs on.
"""

import keras
from keras import ops

BACKENDS = ("tensorflow", "jax", "torch")


def name():
    """The Keras backend in use: "tensorflow", "jax" or "torch"."""
    return keras.backend.backend()


def version():
    """The version of the backend's library."""
    return __import__(name()).__version__


def is_traced(tensor):
    """True while ``tensor``'s values are not known (a symbolic Keras
    tensor, a TF graph or a JAX trace)."""
    if isinstance(tensor, keras.KerasTensor):
        return True
    backend = name()
    if backend == "tensorflow":
        import tensorflow as tf

        return not tf.executing_eagerly()
    if backend == "jax":
        import jax

        return isinstance(tensor, jax.core.Tracer)
    return False


def compiled(function, jit_compile=None):
    """``function`` compiled by the backend: ``tf.function`` (with XLA when
    ``jit_compile``), ``jax.jit``; PyTorch's runs as it is."""
    backend = name()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(function, jit_compile=jit_compile, reduce_retracing=True)
    if backend == "jax":
        import jax

        return jax.jit(function)
    return function


def input_gradient(function, images):
    """``(values, gradient)``: ``function(images)`` and the gradient of the
    sum of its values with respect to ``images`` (a float32 batch)."""
    backend = name()
    if backend == "tensorflow":
        import tensorflow as tf

        images = tf.convert_to_tensor(images, tf.float32)
        with tf.GradientTape() as tape:
            tape.watch(images)
            values = function(images)
            total = tf.reduce_sum(values)
        return values, tape.gradient(total, images)
    if backend == "jax":
        import jax

        def total(x):
            values = function(x)
            return ops.sum(values), values

        (_, values), gradient = jax.value_and_grad(total, has_aux=True)(
            ops.convert_to_tensor(images, "float32"))
        return values, gradient
    import torch

    images = ops.convert_to_tensor(images, "float32").detach().requires_grad_(True)
    with torch.enable_grad():
        values = function(images)
        (gradient,) = torch.autograd.grad(ops.sum(values), images)
    return values.detach(), gradient


def batch_jacobian(function, images):
    """``(values, jacobian)`` of a ``function`` mapping a batch of images to
    ``(batch, k)`` values, each row depending on its own image only:
    ``jacobian[i, j] = ∂ values[i, j] / ∂ images[i]``, ``(batch, k, H, W, C)``."""
    if name() == "tensorflow":
        import tensorflow as tf

        images = tf.convert_to_tensor(images, tf.float32)
        with tf.GradientTape() as tape:
            tape.watch(images)
            values = function(images)
        return values, tape.batch_jacobian(values, images)
    values = function(images)
    rows = [input_gradient(lambda x, j=j: function(x)[:, j], images)[1]
            for j in range(int(values.shape[1]))]
    return values, ops.stack(rows, axis=1)


def replicas_in_sync():
    """Devices one ``tf.distribute`` step runs on (1 outside a strategy and
    on the other backends, whose compiled step sees the whole batch)."""
    if name() != "tensorflow":
        return 1
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    return 1 if context is None else context.num_replicas_in_sync


def gather_global_batch(values):
    """A per-image tensor concatenated over every replica of the global
    batch, so objectives coupling a batch's images (the batch-mean log) see
    the same batch as on one device."""
    if replicas_in_sync() == 1:
        return values
    import tensorflow as tf

    return tf.distribute.get_replica_context().all_gather(values, axis=0)


def mean_over_global_batch(per_example):
    """The per-example losses summed and divided by the global batch size,
    so the gradients the optimizer sums over replicas are the one-device
    mean (exact also for a short last batch)."""
    per_example = ops.cast(per_example, "float32")
    replicas = replicas_in_sync()
    if replicas == 1:
        return ops.mean(per_example)
    import tensorflow as tf

    return tf.nn.compute_average_loss(per_example)


def check_unit_range(images):
    """Raises (or, in a TensorFlow graph, asserts) unless ``images`` lie in
    [0, 1]. Inside a JAX trace values are unknown: the data is checked where
    it enters (``GAPTrainer.fit``)."""
    if name() == "tensorflow":
        import tensorflow as tf

        if not tf.executing_eagerly():
            tf.debugging.assert_greater_equal(tf.reduce_min(images), 0.0,
                                              message="images must lie in [0, 1]")
            tf.debugging.assert_less_equal(tf.reduce_max(images), 1.0,
                                           message="images must lie in [0, 1]")
            return
    if is_traced(images):
        return
    low, high = float(ops.min(images)), float(ops.max(images))
    if not (0.0 <= low and high <= 1.0):  # also catches NaN
        raise ValueError(f"images must be float values in [0, 1], got values in [{low}, {high}]")


def is_out_of_memory(error):
    """Whether ``error`` is the backend running out of device memory."""
    text = f"{type(error).__name__} {error}"
    return ("ResourceExhausted" in text or "RESOURCE_EXHAUSTED" in text
            or "OutOfMemoryError" in text or "out of memory" in text.lower())


def visible_gpus():
    """Names of the GPUs the backend computes on (empty on a CPU machine)."""
    backend = name()
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        return [tf.config.experimental.get_device_details(g).get("device_name", g.name)
                for g in gpus]
    if backend == "jax":
        import jax

        return [str(d.device_kind) for d in jax.devices() if d.platform == "gpu"]
    import torch

    return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
