"""Run by test_distribution.py in a fresh process: TF's logical devices must
be set before TensorFlow initialises, which pytest's process has done already.

Takes one SGD step on the same global batch with one device and with
MirroredStrategy over two logical CPUs, and prints the largest difference of
the generator weights after the step.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf  # noqa: E402

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
)

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_gap import GAPTrainer  # noqa: E402
from keras_gap import Untargeted  # noqa: E402
from keras_gap.perturbers import build_perturber  # noqa: E402


def step(strategy, images):
    keras.utils.set_random_seed(0)
    with strategy.scope():
        inputs = keras.Input((28, 28, 1))
        x = keras.layers.Conv2D(4, 3, strides=2, activation="relu")(inputs)
        victim = keras.Model(inputs, keras.layers.Dense(10)(keras.layers.Flatten()(x)))
        perturber = build_perturber("image_dependent", "resnet", (28, 28, 1), "linf", 0.1,
                                    seed=0, filters=4, num_residual_blocks=1)
        trainer = GAPTrainer(perturber, victim, Untargeted())
        trainer.compile(keras.optimizers.SGD(learning_rate=1.0))
    before = [w.copy() for w in perturber.generator.get_weights()]
    trainer.fit(tf.data.Dataset.from_tensor_slices(images).batch(16), epochs=1, verbose=0)
    return [a - b for a, b in zip(perturber.generator.get_weights(), before)], strategy


images = np.random.default_rng(0).random((16, 28, 28, 1)).astype(np.float32)
single, _ = step(tf.distribute.get_strategy(), images)
mirrored, strategy = step(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]), images)
largest_update = max(float(np.abs(u).max()) for u in single)
difference = max(float(np.abs(a - b).max()) for a, b in zip(single, mirrored))
print(f"replicas={strategy.num_replicas_in_sync} update={largest_update:.6g} "
      f"difference={difference:.6g}")
