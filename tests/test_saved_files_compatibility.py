"""Files written by earlier versions still load: perturbers compute the same
images, and backups of interrupted runs resume with the same state.

``tests/data/perturber_*_main_918bf9c.keras`` were written by main at commit
918bf9c (before the package was regrouped into training/, evaluation/,
serving/ and reports/), together with the inputs they were called on and the
adversarial images they returned.
"""

import os

import keras
import numpy as np
import pytest

from keras_gap import GAPTrainer
from keras_gap import Untargeted
from keras_gap import gap_optimizer
from keras_gap.perturbers import build_perturber
from keras_gap.perturbers import load_perturber
from keras_gap.training.backup import RunBackup

DATA = os.path.join(os.path.dirname(__file__), "data")


@pytest.mark.parametrize("kind, norm", [("universal", "linf"), ("image_dependent", "l2")])
def test_a_perturber_saved_before_the_regrouping_loads_and_agrees(kind, norm):
    stem = os.path.join(DATA, f"perturber_{kind}_main_918bf9c")
    perturber = load_perturber(stem + ".keras")
    assert perturber.kind == kind
    assert perturber.norm == norm
    images = np.load(stem + "_inputs.npy")
    expected = np.load(stem + "_outputs.npy")
    np.testing.assert_allclose(np.asarray(perturber(images)), expected, atol=1e-6)


def test_a_backup_of_an_averaged_run_from_before_the_public_optimizer_resumes():
    """``tests/data/averaged_backup_main_1db066e/`` was written by main at
    1db066e, when ``AveragingAdam`` extended Keras' private ``use_ema``
    machinery: a 2-epoch run of a tiny averaged image-dependent generator,
    its backup and the optimizer's and generator's values at that epoch.
    ``RunBackup`` restores it into today's trainer exactly: step count,
    learning rate, moving averages and Adam's moments, and the generator."""
    directory = os.path.join(DATA, "averaged_backup_main_1db066e")
    keras.utils.set_random_seed(0)
    perturber = build_perturber("image_dependent", "resnet", (8, 8, 1), "linf", 0.1, seed=0,
                                filters=2, num_residual_blocks=0)
    inputs = keras.Input((8, 8, 1))
    victim = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(inputs)))
    trainer = GAPTrainer(perturber, victim, Untargeted())
    trainer.compile(gap_optimizer(1e-2, ema_momentum=0.9))
    trainer(np.zeros((1, 8, 8, 1), np.float32))
    backup = RunBackup(directory)
    backup.set_model(trainer)
    assert backup.initial_epoch() == 2
    backup.on_train_begin()
    optimizer = np.load(os.path.join(directory, "expected_optimizer.npz"))
    generator = np.load(os.path.join(directory, "expected_generator.npz"))
    assert len(trainer.optimizer.variables) == len(optimizer.files) == 68
    for index, variable in enumerate(trainer.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(variable), optimizer[f"arr_{index}"])
    assert int(trainer.optimizer.iterations) == int(optimizer["arr_0"]) > 0
    for index, weight in enumerate(perturber.generator.weights):
        np.testing.assert_array_equal(np.asarray(weight), generator[f"arr_{index}"])
    # The averages are the optimizer's own, right after its count and rate.
    np.testing.assert_array_equal(np.asarray(trainer.optimizer.averages[0]), optimizer["arr_2"])
