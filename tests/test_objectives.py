import numpy as np
import pytest

from backend_helpers import mean_and_gradient
from backend_helpers import numpy

from keras_gap.objectives import REDUCTIONS
from keras_gap.objectives import LeastLikely
from keras_gap.objectives import Targeted
from keras_gap.objectives import TargetedMargin
from keras_gap.objectives import UntargetedMargin
from keras_gap.objectives import Untargeted
from keras_gap.objectives import build_objective
from keras_gap.objectives import log_cross_entropy


def _softmax(logits):
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _ce(logits, labels):
    return -np.log(_softmax(logits)[np.arange(len(labels)), labels])


CLEAN = np.array([[3.0, 1.0, -2.0], [0.0, 2.0, 1.0]], np.float32)
ADVERSARIAL = np.array([[1.0, 2.0, 0.5], [0.5, 0.0, 3.0]], np.float32)
LABELS = np.array([1, 1], np.int32)


def test_untargeted_is_minus_log_ce_to_the_clean_prediction():
    loss = numpy(Untargeted(reduction="per_image").per_example_loss(CLEAN, ADVERSARIAL, LABELS))
    expected = -np.log(_ce(ADVERSARIAL, np.array([0, 1])))
    np.testing.assert_allclose(loss, expected, rtol=1e-5)


def test_untargeted_with_labels_uses_the_true_label():
    objective = Untargeted(reference="label", reduction="per_image")
    assert objective.needs_labels
    loss = numpy(objective.per_example_loss(CLEAN, ADVERSARIAL, LABELS))
    np.testing.assert_allclose(loss, -np.log(_ce(ADVERSARIAL, LABELS)), rtol=1e-5)


def test_least_likely_targets_argmin_of_the_clean_scores():
    loss = numpy(LeastLikely("per_image").per_example_loss(CLEAN, ADVERSARIAL))
    np.testing.assert_allclose(loss, np.log(_ce(ADVERSARIAL, np.array([2, 0]))), rtol=1e-5)


def test_targeted_is_log_ce_to_the_target():
    loss = numpy(Targeted(2, "per_image").per_example_loss(CLEAN, ADVERSARIAL))
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


def test_log_cross_entropy_matches_float64_for_moderate_margins():
    logits = np.random.default_rng(0).normal(0, 4, (64, 10)).astype(np.float32)
    labels = np.arange(64) % 10
    expected = np.log(_ce(logits.astype(np.float64), labels))
    np.testing.assert_allclose(numpy(log_cross_entropy(logits, labels)), expected,
                               rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("margin", [20.0, 50.0, 100.0, 1000.0])
def test_log_cross_entropy_of_a_certain_prediction_is_minus_the_margin(margin):
    # CE = log(1 + 2 e^-m) underflows float32 above m ~ 17; its log is ~ -m.
    logits = np.array([[margin, 0.0, 0.0]], np.float32)
    value = float(log_cross_entropy(logits, [0])[0])
    assert value == pytest.approx(-margin + np.log(2.0), rel=1e-5)


def _objectives(reduction):
    return [Untargeted(reduction=reduction), Untargeted("label", reduction),
            LeastLikely(reduction), Targeted(0, reduction), Targeted(2, reduction)]


def _loss_and_gradient(objective, clean, adversarial, labels):
    return mean_and_gradient(lambda x: objective.per_example_loss(clean, x, labels), adversarial)


@pytest.mark.parametrize("reduction", sorted(REDUCTIONS))
@pytest.mark.parametrize("margin", [0.0, 20.0, 50.0, 100.0])
@pytest.mark.parametrize("reference_wins", [True, False])
def test_every_objective_has_a_finite_loss_and_gradient_at_extreme_margins(
        reduction, margin, reference_wins):
    # Clean predictions are class 0 by ``margin`` (class 2 least likely);
    # the adversarial logits keep every objective's reference class ahead by
    # ``margin`` or behind by it. Every image must get a non-zero gradient
    # from the log reductions. Plain CE fades as e^-margin where the
    # reference class already wins: that is the CE itself, not rounding.
    clean = np.array([[margin, 0.0, -margin]] * 2, np.float32)
    labels = np.array([0, 0])
    for objective in _objectives(reduction):
        reference = {0: 0, 2: 2}.get(objective.target_class, 0)
        if isinstance(objective, LeastLikely):
            reference = 2
        winning = np.full((2, 3), 0.0, np.float32)
        winning[:, reference] = margin if reference_wins else -margin
        winning[1] += np.array([0.0, 1.0, -1.0], np.float32)  # two different images
        loss, gradient = _loss_and_gradient(objective, clean, winning, labels)
        assert np.isfinite(loss), objective
        assert np.all(np.isfinite(gradient)), objective
        per_image = np.abs(gradient).max(axis=1)
        if reduction != "ce" or not reference_wins or margin < 20:
            assert np.all(per_image > 0), (objective, per_image)


def test_default_reductions_never_lose_the_gradient():
    clean = np.array([[100.0, 0.0, -100.0]], np.float32)
    for objective in _objectives(None):
        assert objective.reduction != "ce" or not isinstance(objective, Untargeted)
        _, gradient = _loss_and_gradient(objective, clean, clean, np.array([0]))
        assert np.abs(gradient).max() > 1e-3, objective


LOG_CE = np.array([-30.0, -2.0, 0.5, 3.0], np.float32)  # CE from 1e-13 to 20


def _reduced(reduction, log_ce):
    return mean_and_gradient(REDUCTIONS[reduction], log_ce)


def test_per_image_reduction_is_the_mean_of_the_logs():
    loss, gradient = _reduced("per_image", LOG_CE)
    assert loss == pytest.approx(LOG_CE.mean())
    np.testing.assert_allclose(gradient, 0.25)


def test_batch_mean_reduction_is_the_log_of_the_mean_ce_with_its_gradient():
    ce = np.exp(LOG_CE.astype(np.float64))
    loss, gradient = _reduced("batch_mean", LOG_CE)
    assert loss == pytest.approx(np.log(ce.mean()), rel=1e-6)
    # d/dℓᵢ log(mean e^ℓ) = CEᵢ / Σ CE: far images weigh most.
    np.testing.assert_allclose(gradient, ce / ce.sum(), rtol=1e-5, atol=1e-12)


def test_batch_mean_reduction_survives_underflowing_cross_entropies():
    log_ce = np.array([-200.0, -150.0], np.float32)  # e^ℓ is 0 in float32
    loss, gradient = _reduced("batch_mean", log_ce)
    assert loss == pytest.approx(-150.0 - np.log(2.0), rel=1e-6)
    np.testing.assert_allclose(gradient, [0.0, 1.0], atol=1e-5)


def test_ce_reduction_is_the_mean_cross_entropy():
    loss, gradient = _reduced("ce", LOG_CE)
    ce = np.exp(LOG_CE.astype(np.float64))
    assert loss == pytest.approx(ce.mean(), rel=1e-6)
    np.testing.assert_allclose(gradient, ce / 4, rtol=1e-5)


def test_reductions_change_the_loss_by_their_definition():
    batch = (np.zeros((2, 3), np.float32), np.array([[2.0, 0.0, 0.0], [0.0, 0.0, 1.0]], np.float32))
    ce = _ce(batch[1], np.array([2, 2]))
    expected = {"per_image": np.log(ce).mean(), "batch_mean": np.log(ce.mean()),
                "ce": ce.mean()}
    for reduction, value in expected.items():
        loss = numpy(Targeted(2, reduction).per_example_loss(*batch)).mean()
        assert loss == pytest.approx(value, rel=1e-5), reduction
        untargeted = numpy(Untargeted(reduction=reduction).per_example_loss(
            np.array([[0, 0, 1.0]] * 2, np.float32), batch[1])).mean()
        assert untargeted == pytest.approx(-value, rel=1e-5), reduction


def test_unknown_reduction_is_rejected_by_name():
    with pytest.raises(ValueError, match="'mean_log'"):
        Targeted(1, reduction="mean_log")
    with pytest.raises(ValueError, match="'sum'"):
        build_objective("untargeted", reduction="sum")


def test_targeted_validates_the_class_against_the_victim():
    Targeted(9).validate(10)
    with pytest.raises(ValueError, match="target class 10"):
        Targeted(10).validate(10)
    with pytest.raises(ValueError, match="target class -1"):
        Targeted(-1).validate(10)


def test_build_objective_checks_arguments():
    assert isinstance(build_objective("targeted", 3), Targeted)
    assert build_objective("targeted", 3, "ce").reduction == "ce"
    assert build_objective("least_likely", reduction="batch_mean").reduction == "batch_mean"
    with pytest.raises(ValueError, match="needs --target-class"):
        build_objective("targeted")
    with pytest.raises(ValueError, match="only applies"):
        build_objective("untargeted", 3)
    with pytest.raises(ValueError, match="'fool'"):
        build_objective("fool")


def test_objective_config_round_trip():
    for objective in (Untargeted("label"), LeastLikely(), Targeted(4),
                      Untargeted(reduction="ce"), Targeted(4, reduction="batch_mean")):
        config = objective.get_config()
        assert config["reduction"] == objective.reduction
        again = type(objective).from_config(config)
        assert again.get_config() == config


def test_targeted_margin_is_the_best_other_logit_over_the_target_down_to_minus_kappa():
    objective = TargetedMargin(2, confidence=1.0)
    logits = np.array([[1.0, 2.0, 0.5], [0.5, 0.0, 3.0], [0.0, 0.0, 1.5]], np.float32)
    # best other minus target: 2 - 0.5; 0.5 - 3 capped at -1; 0 - 1.5 capped at -1
    np.testing.assert_allclose(numpy(objective.per_example_loss(CLEAN[:1], logits)),
                               [1.5, -1.0, -1.0], rtol=1e-6)
    # An image past the margin gets no gradient; one short of it is pulled to the target.
    _, gradient = mean_and_gradient(
        lambda z: objective.per_example_loss(None, z), logits[:2])
    np.testing.assert_allclose(gradient[1], 0.0)
    assert gradient[0][2] < 0 and gradient[0][1] > 0 and gradient[0][0] == 0


def test_untargeted_margin_is_the_clean_class_over_the_best_other_down_to_minus_kappa():
    objective = UntargetedMargin(confidence=1.0)
    clean = np.array([[3.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 3.0]], np.float32)
    adversarial = np.array([[2.0, 0.5, 1.0], [0.5, 0.0, 3.0], [0.0, 2.0, 2.5]], np.float32)
    # clean class minus the best other: 2 - 1; 0 - 3 capped at -1; 2.5 - 2
    np.testing.assert_allclose(numpy(objective.per_example_loss(clean, adversarial)),
                               [1.0, -1.0, 0.5], rtol=1e-6)
    # A fooled image past the margin gets no gradient; an unfooled one is pushed
    # down on its clean class and up on the runner-up only.
    _, gradient = mean_and_gradient(
        lambda z: objective.per_example_loss(clean[:2], z), adversarial[:2])
    np.testing.assert_allclose(gradient[1], 0.0)
    assert gradient[0][0] > 0 and gradient[0][2] < 0 and gradient[0][1] == 0
    built = build_objective("untargeted_margin")
    assert isinstance(built, UntargetedMargin) and built.baseline_objective == "untargeted"
    assert UntargetedMargin.from_config(built.get_config()).get_config() == {"confidence": 5.0}
    with pytest.raises(ValueError, match="--reduction only applies"):
        build_objective("untargeted_margin", reduction="ce")
    with pytest.raises(ValueError, match="-2"):
        UntargetedMargin(confidence=-2)


def test_targeted_margin_is_built_by_name_validated_and_serialised():
    objective = build_objective("targeted_margin", 3)
    assert isinstance(objective, TargetedMargin) and objective.target_class == 3
    again = TargetedMargin.from_config(objective.get_config())
    assert again.get_config() == {"target_class": 3, "confidence": 5.0}
    with pytest.raises(ValueError, match="targeted_margin objective needs --target-class"):
        build_objective("targeted_margin")
    with pytest.raises(ValueError, match="--reduction only applies"):
        build_objective("targeted_margin", 3, "ce")
    with pytest.raises(ValueError, match="targeted or targeted_margin"):
        build_objective("least_likely", 3)
    with pytest.raises(ValueError, match="target class 10"):
        TargetedMargin(10).validate(10)
    with pytest.raises(ValueError, match="-1"):
        TargetedMargin(1, confidence=-1)
