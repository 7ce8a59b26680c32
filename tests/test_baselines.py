"""Baseline attacks: budgets, ranges, strength and agreement with ART."""

import keras
import numpy as np
import pytest

from backend_helpers import numpy
from backend_helpers import on_tensorflow
from keras_gap import baselines
from keras_gap.data import load_image_data
from keras_gap.victims import Victim

EPSILON = 0.1
L2_EPSILON = 1.0


@pytest.fixture(scope="module")
def fashion():
    train = load_image_data("fashion_mnist", "train")
    test = load_image_data("fashion_mnist", "test")
    train_images, train_labels = next(iter(train.dataset(3000)))
    test_images, _ = next(iter(test.dataset(200)))
    return numpy(train_images), numpy(train_labels), numpy(test_images)


@pytest.fixture(scope="module")
def victim(tiny_victim_model):
    """The session's tiny conv net, trained on 6,000 real images."""
    return Victim(tiny_victim_model)


def _fooling_rate(victim, images, adversarial):
    clean = np.argmax(numpy(victim.logits(images)), -1)
    return float(np.mean(np.argmax(numpy(victim.logits(adversarial)), -1) != clean))


def _assert_within_budget(images, adversarial, norm, epsilon):
    adversarial = np.asarray(adversarial)
    assert adversarial.min() >= 0.0 and adversarial.max() <= 1.0
    delta = (adversarial - images).reshape(len(images), -1)
    if norm == "linf":
        assert np.abs(delta).max() <= epsilon + 1e-6
    else:
        assert np.linalg.norm(delta, axis=1).max() <= epsilon + 1e-5
    assert np.abs(delta).max() > 0.0


@pytest.mark.parametrize("norm, epsilon", [("linf", EPSILON), ("l2", L2_EPSILON)])
def test_every_baseline_keeps_its_budget_and_the_image_range(victim, fashion, norm, epsilon):
    train_images, _, test_images = fashion
    images = test_images[:32]
    attacks = {
        "fgsm": baselines.fgsm(victim, images, epsilon, norm),
        "pgd": baselines.pgd(victim, images, epsilon, norm, steps=3),
        "pgd_targeted": baselines.pgd(victim, images, epsilon, norm, steps=3,
                                      objective="targeted", target=8),
        "pgd_least_likely": baselines.pgd(victim, images, epsilon, norm, steps=3,
                                          objective="least_likely"),
        "random": baselines.random_noise(images, epsilon, norm),
        "random_universal": baselines.random_noise(images, epsilon, norm, universal=True),
    }
    for name, delta in {
        "uap": baselines.uap(victim, train_images[:64], epsilon, norm, max_passes=1),
        "universal_iterative": baselines.universal_iterative(
            victim, train_images[:64], epsilon, norm, passes=1),
    }.items():
        assert delta.shape == (1, 28, 28, 1), name
        attacks[name] = baselines.apply_universal(images, delta)
    for name, adversarial in attacks.items():
        _assert_within_budget(images, adversarial, norm, epsilon)


def test_pgd_fools_at_least_as_often_as_fgsm(victim, fashion):
    images = fashion[2]
    fgsm_rate = _fooling_rate(victim, images, baselines.fgsm(victim, images, EPSILON))
    pgd_rate = _fooling_rate(victim, images, baselines.pgd(victim, images, EPSILON))
    random_rate = _fooling_rate(victim, images, baselines.random_noise(images, EPSILON))
    assert pgd_rate >= fgsm_rate > random_rate


def test_targeted_and_least_likely_pgd_reach_their_classes(victim, fashion):
    images = fashion[2][:64]
    adversarial = baselines.pgd(victim, images, 0.2, objective="targeted", target=8)
    hits = np.mean(np.argmax(numpy(victim.logits(adversarial)), -1) == 8)
    clean_hits = np.mean(np.argmax(numpy(victim.logits(images)), -1) == 8)
    assert hits > clean_hits + 0.3
    least_likely = np.argmin(numpy(victim.logits(images)), -1)
    adversarial = baselines.pgd(victim, images, 0.2, objective="least_likely")
    assert np.mean(np.argmax(numpy(victim.logits(adversarial)), -1) == least_likely) > 0.2


def test_uap_returns_one_perturbation_that_beats_random_noise(victim, fashion):
    train_images, _, test_images = fashion
    delta = baselines.uap(victim, train_images[:256], EPSILON, max_passes=1)
    assert delta.shape == (1, 28, 28, 1)
    universal_rate = _fooling_rate(victim, test_images,
                                   baselines.apply_universal(test_images, delta))
    noise_rate = _fooling_rate(victim, test_images, baselines.random_noise(
        test_images, EPSILON, universal=True))
    assert universal_rate > noise_rate


def test_uap_stops_at_its_time_budget(victim, fashion):
    train_images = fashion[0][:256]
    unlimited = baselines.uap(victim, train_images, EPSILON, max_passes=1, batch_size=64)
    # A budget spent before the first batch leaves δ at zero; a generous one
    # changes nothing.
    assert not np.any(baselines.uap(victim, train_images, EPSILON, max_passes=1,
                                    time_budget=1e-9))
    np.testing.assert_array_equal(
        baselines.uap(victim, train_images, EPSILON, max_passes=1, batch_size=64,
                      time_budget=3600.0), unlimited)


@pytest.mark.skipif(not on_tensorflow(), reason="ART wraps victims as TensorFlow models")
def test_art_uap_stops_at_its_time_budget(victim, fashion):
    pytest.importorskip("art")
    from keras_gap.baselines.art_reference import art_universal_perturbation

    images = fashion[0][:64]
    spent = art_universal_perturbation(victim, images, EPSILON, max_passes=1000,
                                       target_fooling_rate=1.0, time_budget=1e-9)
    assert spent.shape == (1, 28, 28, 1) and not np.any(spent)
    free = art_universal_perturbation(victim, images, EPSILON, max_passes=1,
                                      time_budget=3600.0)
    assert np.any(free)


@pytest.mark.skipif(not on_tensorflow(), reason="ART wraps victims as TensorFlow models")
def test_our_pgd_agrees_with_arts(victim, fashion):
    pytest.importorskip("art")
    from keras_gap.baselines.art_reference import art_pgd

    images = fashion[2]
    ours = _fooling_rate(victim, images, baselines.pgd(victim, images, 0.05))
    theirs = _fooling_rate(victim, images, art_pgd(victim, images, 0.05))
    assert abs(ours - theirs) <= 0.05


def _tiny_segmenter():
    """A hand-built conv "segmenter": (batch, 8, 8, 1) → (batch, 8, 8, 3) logits."""
    keras.utils.set_random_seed(2)  # a draw PGD moves on TensorFlow and JAX alike
    return keras.Sequential([
        keras.Input((8, 8, 1)),
        keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
        keras.layers.Conv2D(3, 1),
    ])


def test_dense_cross_entropy_skips_ignored_pixels():
    logits = np.random.default_rng(1).normal(size=(2, 4, 4, 3)).astype(np.float32)
    labels = np.random.default_rng(0).integers(0, 3, (2, 4, 4))
    ignored = labels.copy()
    ignored[:, :2] = 255
    shifted = logits - logits.max(-1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    per_pixel = -np.take_along_axis(log_p, labels[..., None], -1)[..., 0]
    expected = per_pixel[:, 2:].mean(axis=(1, 2))
    loss = baselines.DenseCrossEntropy(ignore_label=255)(logits, ignored)
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    all_ignored = np.full((2, 4, 4), 255)
    np.testing.assert_allclose(baselines.DenseCrossEntropy()(logits, all_ignored), [0.0, 0.0])


def test_pgd_and_universal_attack_a_segmenter():
    segmenter = _tiny_segmenter()
    images = np.random.default_rng(2).random((6, 8, 8, 1), dtype=np.float32)
    labels = np.argmax(numpy(segmenter(images)), -1)
    labels[:, 0] = 255
    loss = baselines.DenseCrossEntropy()
    adversarial = baselines.pgd(segmenter, images, 0.3, steps=5, labels=labels, loss=loss)
    _assert_within_budget(images, adversarial, "linf", 0.3)
    changed = np.argmax(numpy(segmenter(adversarial)), -1) != np.argmax(numpy(segmenter(images)), -1)
    assert changed.mean() > 0.05
    targeted = baselines.pgd(segmenter, images, 0.3, steps=5, objective="targeted", target=2,
                             loss=loss)
    assert np.mean(np.argmax(numpy(segmenter(targeted)), -1) == 2) > np.mean(labels == 2)
    delta = baselines.universal_iterative(segmenter, images, 0.3, passes=3, batch_size=3,
                                          labels=labels, loss=loss)
    assert delta.shape == (1, 8, 8, 1)
    _assert_within_budget(images, baselines.apply_universal(images, delta), "linf", 0.3)


@pytest.mark.parametrize("call, message", [
    (lambda v, x: baselines.pgd(v, x, 0.0), "epsilon must be finite and > 0, got 0.0"),
    (lambda v, x: baselines.fgsm(v, x, -0.1), "got -0.1"),
    (lambda v, x: baselines.pgd(v, x, 0.1, norm="l1"), "norm must be one of"),
    (lambda v, x: baselines.pgd(v, x, 0.1, objective="sideways"), "'sideways'"),
    (lambda v, x: baselines.pgd(v, x, 0.1, objective="targeted"), "needs a target class"),
    (lambda v, x: baselines.pgd(v, x, 0.1, objective="targeted", target=10), "0..9"),
    (lambda v, x: baselines.pgd(v, x, 0.1, target=3), "only applies to the targeted"),
    (lambda v, x: baselines.pgd(v, x, 0.1, steps=0), "steps must be an integer >= 1, got 0"),
    (lambda v, x: baselines.pgd(v, x + 1.0, 0.1), "images must lie in [0, 1]"),
    (lambda v, x: baselines.uap(v, x, 0.1, max_passes=0), "max passes must be"),
    (lambda v, x: baselines.random_noise(x, float("nan")), "got nan"),
    (lambda v, x: baselines.uap(v, x, 0.1, time_budget=0), "time budget must be"),
    (lambda v, x: baselines.uap(v, x, 0.1, time_budget="1"), "got '1'"),
])
def test_bad_arguments_raise_clear_errors(victim, fashion, call, message):
    with pytest.raises(ValueError) as error:
        call(victim, fashion[2][:4])
    assert message in str(error.value)
