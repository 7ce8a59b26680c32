"""Training runs the backend tests compare, run under any Keras backend.

``python tests/backend_runs.py same-update DIR`` (with ``KERAS_BACKEND``
set: tensorflow, jax or torch) trains, for each of ``CASES``, the perturber saved in ``DIR`` against
the victim saved there for two steps on ``DIR/images.npy`` and writes the
generator's weights to ``DIR/<backend>_<case>.npz``; ``train_cases(DIR)``
does the same in the calling process. ``data-parallel DIR`` (JAX, with
several devices) trains once on one device and once under
``keras.distribution.DataParallel`` and writes the largest difference.
"""

import json
import os
import sys

import keras
import numpy as np

from keras_gap import FeatureDistance
from keras_gap import GAPTrainer
from keras_gap import LeastLikely
from keras_gap import RelativisticCrossEntropy
from keras_gap import Targeted
from keras_gap import Untargeted
from keras_gap import gap_optimizer
from keras_gap import load_perturber
from keras_gap import load_victim

# case: (perturber file, objective, optimizer); LTP's feature distance is
# small, so its SGD rate is larger for two steps to move the generator.
CASES = {
    "universal_untargeted": ("universal", lambda: Untargeted(), "sgd"),
    "image_dependent_targeted_batch_mean": (
        "image_dependent", lambda: Targeted(3, reduction="batch_mean"), "sgd"),
    "image_dependent_least_likely": ("image_dependent", lambda: LeastLikely(), "sgd"),
    "image_dependent_cda": ("image_dependent", lambda: RelativisticCrossEntropy(), "sgd"),
    "image_dependent_ltp": ("image_dependent", lambda: FeatureDistance(), "sgd_large"),
    "image_dependent_averaged_adam": ("image_dependent", lambda: Untargeted(), "averaged"),
}
STEPS, BATCH = 2, 8


def _optimizer(kind):
    if kind == "sgd":
        return keras.optimizers.SGD(0.05)
    if kind == "sgd_large":
        return keras.optimizers.SGD(2.0)
    return gap_optimizer(1e-3, ema_momentum=0.9)


def _train(directory, case, distribution=None):
    kind, objective, optimizer = CASES[case]
    images = np.load(os.path.join(directory, "images.npy"))
    labels = np.load(os.path.join(directory, "labels.npy"))
    previous = keras.distribution.distribution()
    if distribution is not None:  # variables are laid out when the models are built
        keras.distribution.set_distribution(distribution)
    try:
        perturber = load_perturber(os.path.join(directory, f"{kind}.keras"))
        victim = load_victim(os.path.join(directory, "victim.keras"))
        trainer = GAPTrainer(perturber, victim, objective())
        trainer.compile(_optimizer(optimizer))
        victim_before = [keras.ops.convert_to_numpy(w) for w in victim.model.weights]
        trainer.fit(images[:STEPS * BATCH], labels[:STEPS * BATCH], batch_size=BATCH,
                    epochs=1, shuffle=False, verbose=0)
    finally:
        keras.distribution.set_distribution(previous)
    victim_change = max(float(np.max(np.abs(keras.ops.convert_to_numpy(w) - b)))
                        for w, b in zip(victim.model.weights, victim_before))
    weights = [np.asarray(keras.ops.convert_to_numpy(w)) for w in perturber.generator.weights]
    return weights, victim_change


def train_cases(directory):
    """Runs every case under this process's backend; writes its npz files
    and ``<backend>_victim_change.json`` (the largest change of any victim
    weight, batch-norm statistics included: 0 when the victim stays frozen)."""
    changes = {}
    for case in CASES:
        weights, changes[case] = _train(directory, case)
        np.savez(os.path.join(directory, f"{keras.backend.backend()}_{case}.npz"), *weights)
    with open(os.path.join(directory, f"{keras.backend.backend()}_victim_change.json"),
              "w") as handle:
        json.dump(changes, handle)


def data_parallel(directory):
    devices = keras.distribution.list_devices()
    differences = {}
    for case in ("universal_untargeted", "image_dependent_targeted_batch_mean"):
        one, _ = _train(directory, case)
        spread, _ = _train(directory, case, keras.distribution.DataParallel(devices=devices))
        differences[case] = max(float(np.max(np.abs(a - b))) for a, b in zip(one, spread))
    with open(os.path.join(directory, "data_parallel.json"), "w") as handle:
        json.dump({"devices": devices, "differences": differences}, handle)


if __name__ == "__main__":
    command, directory = sys.argv[1:3]
    {"same-update": train_cases, "data-parallel": data_parallel}[command](directory)
