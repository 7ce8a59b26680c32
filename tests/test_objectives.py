import math

import numpy as np
import pytest

from keras_gap.objectives import LeastLikely
from keras_gap.objectives import Targeted
from keras_gap.objectives import Untargeted
from keras_gap.objectives import build_objective


def _softmax(logits):
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _ce(logits, labels):
    return -np.log(_softmax(logits)[np.arange(len(labels)), labels])


CLEAN = np.array([[3.0, 1.0, -2.0], [0.0, 2.0, 1.0]], np.float32)
ADVERSARIAL = np.array([[1.0, 2.0, 0.5], [0.5, 0.0, 3.0]], np.float32)
LABELS = np.array([1, 1], np.int32)


def test_untargeted_is_minus_log_ce_to_the_clean_prediction():
    loss = Untargeted().per_example_loss(CLEAN, ADVERSARIAL, LABELS).numpy()
    expected = -np.log(_ce(ADVERSARIAL, np.array([0, 1])))
    np.testing.assert_allclose(loss, expected, rtol=1e-5)


def test_untargeted_with_labels_uses_the_true_label():
    objective = Untargeted(reference="label")
    assert objective.needs_labels
    loss = objective.per_example_loss(CLEAN, ADVERSARIAL, LABELS).numpy()
    np.testing.assert_allclose(loss, -np.log(_ce(ADVERSARIAL, LABELS)), rtol=1e-5)


def test_least_likely_targets_argmin_of_the_clean_scores():
    loss = LeastLikely().per_example_loss(CLEAN, ADVERSARIAL).numpy()
    np.testing.assert_allclose(loss, np.log(_ce(ADVERSARIAL, np.array([2, 0]))), rtol=1e-5)


def test_targeted_is_log_ce_to_the_target():
    loss = Targeted(2).per_example_loss(CLEAN, ADVERSARIAL).numpy()
    np.testing.assert_allclose(loss, np.log(_ce(ADVERSARIAL, np.array([2, 2]))), rtol=1e-5)


def test_losses_fall_as_the_attack_succeeds():
    # Moving the adversarial logits towards the target lowers the targeted
    # loss; moving them away from the clean class lowers the untargeted one.
    weak = np.array([[2.0, 0.0, 0.0]], np.float32)
    strong = np.array([[0.0, 0.0, 5.0]], np.float32)
    clean = np.array([[5.0, 0.0, 0.0]], np.float32)
    targeted = Targeted(2)
    assert targeted.per_example_loss(clean, strong) < targeted.per_example_loss(clean, weak)
    untargeted = Untargeted()
    assert untargeted.per_example_loss(clean, strong) < untargeted.per_example_loss(clean, weak)


def test_log_stays_finite_for_certain_predictions():
    certain = np.array([[100.0, -100.0, -100.0]], np.float32)
    loss = Untargeted().per_example_loss(certain, certain).numpy()
    assert np.all(np.isfinite(loss))
    assert loss[0] == pytest.approx(-math.log(1e-12), rel=1e-4)


def test_targeted_validates_the_class_against_the_victim():
    Targeted(9).validate(10)
    with pytest.raises(ValueError, match="target class 10"):
        Targeted(10).validate(10)
    with pytest.raises(ValueError, match="target class -1"):
        Targeted(-1).validate(10)


def test_build_objective_checks_arguments():
    assert isinstance(build_objective("targeted", 3), Targeted)
    with pytest.raises(ValueError, match="needs --target-class"):
        build_objective("targeted")
    with pytest.raises(ValueError, match="only applies"):
        build_objective("untargeted", 3)
    with pytest.raises(ValueError, match="'fool'"):
        build_objective("fool")


def test_objective_config_round_trip():
    for objective in (Untargeted("label"), LeastLikely(), Targeted(4)):
        again = type(objective).from_config(objective.get_config())
        assert again.get_config() == objective.get_config()
