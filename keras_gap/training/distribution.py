"""Choosing how a training run spreads over devices.

On TensorFlow, a ``tf.distribute`` strategy: ``multi_worker`` trains across
machines with
``tf.distribute.MultiWorkerMirroredStrategy``, configured from the
``TF_CONFIG`` environment variable (the same JSON on every machine, except
``task.index``). Every worker runs the same command; all of them train and
save (saving may need every worker), but only the chief (worker 0, or the
``chief`` task) writes into the real output directory: the others write
into ``<output_dir>/.workertemp_<index>``, which they delete at the end.

On JAX, ``keras.distribution.DataParallel`` over the visible devices
(``JaxDataParallel``: the same ``scope()`` and ``num_replicas_in_sync`` as a
strategy); a compiled step sees the whole global batch, so the update is
the one-device one. On PyTorch, one device. ``multi_worker`` is
TensorFlow's only.
"""

import contextlib
import json
import os
import shutil

import keras

STRATEGIES = ("auto", "mirrored", "one_device", "multi_worker")


def read_tf_config():
    """The parsed ``TF_CONFIG``, checked enough for a clear error message."""
    text = os.environ.get("TF_CONFIG", "").strip()
    if not text:
        raise ValueError(
            "--strategy multi_worker needs the TF_CONFIG environment variable, e.g. "
            'TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
            '"task": {"type": "worker", "index": 0}}\''
        )
    try:
        config = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"TF_CONFIG is not valid JSON ({error}): {text!r}") from None
    cluster = config.get("cluster") if isinstance(config, dict) else None
    task = config.get("task") if isinstance(config, dict) else None
    if not isinstance(cluster, dict) or not isinstance(task, dict):
        raise ValueError(f"TF_CONFIG needs 'cluster' and 'task' entries, got {text!r}")
    kind, index = task.get("type"), task.get("index")
    members = cluster.get(kind)
    if not isinstance(members, list) or not isinstance(index, int) or not (
        0 <= index < len(members)
    ):
        raise ValueError(
            f"TF_CONFIG task {task!r} is not one of its cluster's members {cluster!r}"
        )
    return config


class OneDevice:
    """The PyTorch backend's (and JAX's single device) strategy: no spreading."""

    num_replicas_in_sync = 1
    cluster_resolver = None

    def scope(self):
        return contextlib.nullcontext()


class JaxDataParallel:
    """``keras.distribution.DataParallel`` over ``devices``, with a
    strategy's ``scope()`` (the distribution is set inside it) and
    ``num_replicas_in_sync``."""

    cluster_resolver = None

    def __init__(self, devices):
        self.devices = list(devices)
        self.num_replicas_in_sync = len(self.devices)

    @contextlib.contextmanager
    def scope(self):
        previous = keras.distribution.distribution()
        keras.distribution.set_distribution(
            keras.distribution.DataParallel(devices=self.devices))
        try:
            yield self
        finally:
            keras.distribution.set_distribution(previous)


def _other_backend_strategy(name):
    backend = keras.backend.backend()
    if name == "multi_worker":
        raise ValueError(
            f"--strategy multi_worker is TensorFlow's MultiWorkerMirroredStrategy; with "
            f"KERAS_BACKEND={backend} use auto, mirrored or one_device")
    if backend != "jax":
        return OneDevice()
    devices = keras.distribution.list_devices()
    accelerators = [d for d in devices if not d.lower().startswith("cpu")]
    if name == "one_device" or (name == "auto" and len(accelerators) < 2):
        return OneDevice()
    return JaxDataParallel(devices if name == "mirrored" else accelerators)


def make_strategy(name="auto"):
    """``auto``: MirroredStrategy when more than one GPU is visible, else the
    default strategy; ``mirrored``: MirroredStrategy over all visible GPUs (or
    the CPU); ``one_device``: the first GPU, or the CPU; ``multi_worker``:
    MultiWorkerMirroredStrategy over the cluster in ``TF_CONFIG``. Under
    JAX, ``auto`` and ``mirrored`` are ``keras.distribution.DataParallel``
    over the accelerators (``mirrored``: every visible device, the CPU's
    too), PyTorch trains on one device."""
    if name not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {name!r}")
    if keras.backend.backend() != "tensorflow":
        return _other_backend_strategy(name)
    import tensorflow as tf

    if name == "multi_worker":
        read_tf_config()
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if name == "mirrored" or (name == "auto" and len(gpus) > 1):
        return tf.distribute.MirroredStrategy()
    if name == "one_device":
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    return tf.distribute.get_strategy()


def _task(strategy):
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return None, None
    return resolver.task_type, resolver.task_id


def is_chief(strategy):
    """True unless ``strategy`` is multi-worker and this task is not the chief."""
    task_type, task_id = _task(strategy)
    if task_type is None:
        return True
    if task_type == "chief":
        return True
    has_chief = "chief" in strategy.cluster_resolver.cluster_spec().as_dict()
    return task_type == "worker" and task_id == 0 and not has_chief


def worker_directory(output_dir, strategy):
    """Where this task writes: ``output_dir`` on the chief, a private
    ``.workertemp_<index>`` folder inside it on every other worker."""
    if is_chief(strategy):
        return output_dir
    task_type, task_id = _task(strategy)
    return os.path.join(output_dir, f".workertemp_{task_type}_{task_id}")


def remove_worker_directory(directory, output_dir):
    """Deletes a non-chief worker's private folder (no-op on the chief)."""
    if os.path.abspath(directory) != os.path.abspath(output_dir):
        shutil.rmtree(directory, ignore_errors=True)


def shard_by_data(dataset):
    """Lets every worker read the whole (repeated, shuffled) pipeline and keep
    every n-th element: in-memory sources have no files to shard by."""
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA
    )
    return dataset.with_options(options)


def multi_worker_trainer(base):
    """``base`` (a ``keras.Model`` class) with logs that Keras 3.15's ``fit``
    can reduce across workers: it reduces every log with
    ``strategy.reduce("MEAN", value, axis=0)``, which fails for the scalar
    metrics every model logs (tensorflow/tensorflow#72388). One-element
    vectors reduce to the same mean scalar."""

    import tensorflow as tf

    class MultiWorker(base):
        def train_step(self, data):
            logs = super().train_step(data)
            return {name: tf.reshape(value, [1]) for name, value in logs.items()}

    MultiWorker.__name__ = MultiWorker.__qualname__ = base.__name__
    return MultiWorker
