import numpy as np
import pytest

from backend_helpers import numpy
from keras_gap.perturbers import build_perturber
from keras_gap.perturbers import ImageDependentPerturber
from keras_gap.perturbers import UniversalPerturber
from keras_gap.perturbers import load_perturber


def _tiny(kind, norm="linf", epsilon=0.1, shape=(28, 28, 1), seed=0):
    return build_perturber(kind, "resnet", shape, norm, epsilon, seed=seed,
                           filters=4, num_residual_blocks=1)


def _images(count=8, shape=(28, 28, 1), seed=0):
    return np.random.default_rng(seed).random((count,) + shape).astype(np.float32)


def _norms(delta, norm):
    flat = delta.reshape(len(delta), -1)
    return np.abs(flat).max(axis=1) if norm == "linf" else np.sqrt((flat**2).sum(axis=1))


@pytest.mark.parametrize("kind", ["universal", "image_dependent"])
@pytest.mark.parametrize("norm,epsilon", [("linf", 0.1), ("linf", 8 / 255), ("l2", 1.5)])
def test_budget_holds_for_every_image_and_outputs_stay_in_range(kind, norm, epsilon):
    perturber = _tiny(kind, norm, epsilon)
    images = _images()
    before = images.copy()
    adversarial = numpy(perturber(images))
    np.testing.assert_array_equal(images, before)  # inputs are not modified
    assert adversarial.min() >= 0.0 and adversarial.max() <= 1.0
    assert np.all(_norms(adversarial - images, norm) <= epsilon + 1e-6)
    raw = numpy(perturber.perturbation(images))
    assert np.all(_norms(raw, norm) <= epsilon + 1e-6)


def test_universal_perturbation_is_identical_for_every_image():
    perturber = _tiny("universal")
    delta = numpy(perturber.perturbation(_images(5)))
    for d in delta[1:]:
        np.testing.assert_array_equal(d, delta[0])
    np.testing.assert_array_equal(delta[0], numpy(perturber.universal_perturbation())[0])
    # The generator saturates the budget: the whole ε is used.
    assert np.abs(delta).max() == pytest.approx(0.1, rel=1e-5)


def test_image_dependent_perturbation_differs_between_images():
    perturber = _tiny("image_dependent")
    delta = numpy(perturber.perturbation(_images(4)))
    assert not np.allclose(delta[0], delta[1])


def test_universal_pattern_is_seeded_and_not_trainable():
    a, b, c = _tiny("universal", seed=5), _tiny("universal", seed=5), _tiny("universal", seed=6)
    np.testing.assert_array_equal(numpy(a.pattern), numpy(b.pattern))
    assert not np.array_equal(numpy(a.pattern), numpy(c.pattern))
    assert all(v is not a.pattern for v in a.trainable_variables)
    assert 0.0 <= numpy(a.pattern).min() and numpy(a.pattern).max() <= 1.0


@pytest.mark.parametrize("kind,cls", [
    ("universal", UniversalPerturber), ("image_dependent", ImageDependentPerturber),
])
def test_keras_round_trip_keeps_outputs_and_pattern(kind, cls, tmp_path):
    perturber = _tiny(kind, "l2", 2.0)
    # Change the weights so the file must carry them (not just the seed).
    for variable in perturber.generator.trainable_variables[:2]:
        variable.assign(variable + 0.01)
    if kind == "universal":
        perturber.pattern.assign(np.full(perturber.pattern.shape, 0.3, np.float32))
    path = tmp_path / "perturber.keras"
    perturber.save(path)
    restored = load_perturber(path)
    assert isinstance(restored, cls)
    assert (restored.norm, restored.epsilon) == ("l2", 2.0)
    images = _images(3)
    np.testing.assert_allclose(numpy(restored(images)), numpy(perturber(images)), atol=1e-7)
    if kind == "universal":
        np.testing.assert_array_equal(numpy(restored.pattern), numpy(perturber.pattern))


def test_load_perturber_rejects_other_files(tmp_path, tiny_victim_path):
    with pytest.raises(ValueError, match="not found"):
        load_perturber(tmp_path / "missing.keras")
    corrupt = tmp_path / "corrupt.keras"
    corrupt.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="not a readable"):
        load_perturber(corrupt)
    with pytest.raises(ValueError, match="not a keras_gap perturber"):
        load_perturber(tiny_victim_path)


def test_unknown_perturber_kind_is_rejected():
    with pytest.raises(ValueError, match="'patch'"):
        build_perturber("patch", "resnet", (28, 28, 1), "linf", 0.1)


@pytest.mark.parametrize("images,fragment", [
    (np.full((2, 28, 28, 1), 255.0, np.float32), r"in \[0, 1\]"),
    (np.full((2, 28, 28, 1), np.nan, np.float32), r"in \[0, 1\]"),
    (np.zeros((2, 28, 28, 3), np.float32), r"shape \(batch,\) \+ \(28, 28, 1\)"),
    (np.zeros((28, 28, 1), np.float32), r"got \(28, 28, 1\)"),
])
def test_bad_images_are_rejected_with_a_clear_error(images, fragment):
    with pytest.raises(ValueError, match=fragment):
        _tiny("universal")(images)
