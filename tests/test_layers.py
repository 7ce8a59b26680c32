import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_gap.layers import ImagenetPreprocessing
from keras_gap.layers import InputDiversity
from keras_gap.layers import L2Projection
from keras_gap.layers import LinfProjection
from keras_gap.layers import ReflectionPadding2D
from keras_gap.layers import StraightThroughLinfProjection
from keras_gap.layers import projection_for_norm
from keras_gap.layers.budget_projection import MIN_EPSILON
from keras_gap.perturbers import ImageDependentPerturber
from keras_gap.perturbers import load_perturber
from keras_gap.generators import build_generator


def _random_perturbations(seed=0, shape=(16, 12, 10, 3)):
    # Per-image scales from tiny to large so some images are inside the
    # budget already and some far outside it.
    rng = np.random.default_rng(seed)
    scales = np.logspace(-4, 1, shape[0]).reshape(-1, 1, 1, 1)
    return (rng.standard_normal(shape) * scales).astype(np.float32)


@pytest.mark.parametrize("epsilon", [1e-3, 0.03, 0.1, 0.5])
def test_linf_projection_bounds_every_image(epsilon):
    delta = _random_perturbations()
    out = LinfProjection(epsilon)(delta).numpy()
    norms = np.abs(out).reshape(len(out), -1).max(axis=1)
    assert np.all(norms <= epsilon + 1e-6)
    original = np.abs(delta).reshape(len(delta), -1).max(axis=1)
    inside = original <= epsilon
    # Inside the budget nothing changes; outside it the norm equals epsilon.
    np.testing.assert_allclose(out[inside], delta[inside], rtol=1e-6)
    np.testing.assert_allclose(norms[~inside], epsilon, rtol=1e-5)


@pytest.mark.parametrize("epsilon", [0.01, 1.0, 2000 / 255])
def test_l2_projection_bounds_every_image(epsilon):
    delta = _random_perturbations(1)
    out = L2Projection(epsilon)(delta).numpy()
    norms = np.sqrt((out.reshape(len(out), -1) ** 2).sum(axis=1))
    assert np.all(norms <= epsilon * (1 + 1e-5))
    original = np.sqrt((delta.reshape(len(delta), -1) ** 2).sum(axis=1))
    np.testing.assert_allclose(norms[original > epsilon], epsilon, rtol=1e-5)


def test_projection_scales_direction_only():
    delta = _random_perturbations(2)
    out = LinfProjection(0.05)(delta).numpy()
    for d, o in zip(delta, out):
        ratio = o[d != 0] / d[d != 0]
        np.testing.assert_allclose(ratio, ratio[0], rtol=1e-5)


def test_the_smallest_epsilon_still_bounds_the_perturbation():
    delta = _random_perturbations(3)
    out = LinfProjection(MIN_EPSILON)(delta).numpy()
    assert np.abs(out).max() <= MIN_EPSILON * (1 + 1e-6)
    with pytest.raises(ValueError, match="effectively 0"):
        LinfProjection(MIN_EPSILON / 10)


def test_projection_gradient_is_finite_at_zero():
    zeros = tf.zeros((2, 4, 4, 1))
    for layer in (LinfProjection(0.1), L2Projection(0.1)):
        with tf.GradientTape() as tape:
            tape.watch(zeros)
            out = tf.reduce_sum(layer(zeros))
        gradient = tape.gradient(out, zeros).numpy()
        assert np.all(np.isfinite(gradient))


@pytest.mark.parametrize("bad", [0, -0.1, float("nan"), float("inf"), "abc"])
def test_projection_rejects_bad_epsilon(bad):
    with pytest.raises(ValueError, match="epsilon"):
        LinfProjection(bad)


def test_projection_for_norm_rejects_unknown_norm():
    with pytest.raises(ValueError, match="'l3'"):
        projection_for_norm("l3", 0.1)


def test_projection_for_norm_picks_the_method():
    assert type(projection_for_norm("linf", 0.1)) is LinfProjection
    chosen = projection_for_norm("linf", 0.1, "straight_through_2018")
    assert type(chosen) is StraightThroughLinfProjection
    with pytest.raises(ValueError, match="'sigmoid'"):
        projection_for_norm("linf", 0.1, "sigmoid")
    with pytest.raises(ValueError, match="supports the norms \\['linf'\\], not 'l2'"):
        projection_for_norm("l2", 0.1, "straight_through_2018")


@pytest.mark.parametrize("epsilon", [1e-3, 0.1, 0.5])
def test_straight_through_projection_bounds_every_image_and_channel(epsilon):
    delta = _random_perturbations(4)
    delta[..., 1] *= 0.01  # channels of one image far apart in size
    out = StraightThroughLinfProjection(epsilon)(delta).numpy()
    norms = np.abs(out).max(axis=(1, 2))  # (images, channels)
    original = np.abs(delta).max(axis=(1, 2))
    assert np.all(norms <= epsilon + 1e-6)
    inside = original <= epsilon
    np.testing.assert_allclose(norms[~inside], epsilon, rtol=1e-5)
    for image, channel in zip(*np.nonzero(inside)):
        np.testing.assert_array_equal(out[image, ..., channel], delta[image, ..., channel])


def _gradient(function, value, weights):
    value = tf.constant(value)
    with tf.GradientTape() as tape:
        tape.watch(value)
        out = tf.reduce_sum(function(value) * weights)
    return tape.gradient(out, value).numpy()


def test_straight_through_gradients_pass_the_scale_and_the_clip_unchanged():
    delta = _random_perturbations(5, shape=(4, 6, 6, 3))
    weights = np.random.default_rng(6).standard_normal(delta.shape).astype(np.float32)
    through = StraightThroughLinfProjection(0.05)
    np.testing.assert_allclose(_gradient(through, delta, weights), weights, rtol=1e-6)
    # The detached scaling multiplies the gradient by the (constant) scale.
    detached = _gradient(LinfProjection(0.05), delta, weights)
    scale = np.minimum(1.0, 0.05 / np.abs(delta).max(axis=(1, 2, 3), keepdims=True))
    np.testing.assert_allclose(detached, weights * scale, rtol=1e-5)
    images = np.full(delta.shape, 0.98, np.float32)  # x + δ leaves [0, 1] often
    clipped = _gradient(lambda d: through.add_to(images, d), delta, weights)
    np.testing.assert_allclose(clipped, weights, rtol=1e-6)
    stopped = _gradient(lambda d: LinfProjection(0.05).add_to(images, d), delta, weights)
    outside = (images + delta > 1) | (images + delta < 0)
    assert outside.any() and np.all(stopped[outside] == 0)
    for layer in (through, LinfProjection(0.05)):  # values identical, inside [0, 1]
        adversarial = layer.add_to(images, delta).numpy()
        np.testing.assert_array_equal(adversarial, np.clip(images + delta, 0.0, 1.0))


def test_straight_through_perturber_saves_and_loads(tmp_path):
    generator = build_generator("resnet", (8, 8, 3), seed=0, filters=4, num_residual_blocks=1)
    perturber = ImageDependentPerturber(
        generator, projection_for_norm("linf", 0.03, "straight_through_2018"))
    images = np.random.default_rng(7).random((2, 8, 8, 3)).astype(np.float32)
    expected = perturber(images).numpy()
    perturber.save(tmp_path / "perturber.keras")
    loaded = load_perturber(tmp_path / "perturber.keras")
    assert loaded.projection_method == "straight_through_2018" and loaded.epsilon == 0.03
    np.testing.assert_array_equal(loaded(images).numpy(), expected)
    assert np.abs(expected - images).max(axis=(1, 2)).max() <= 0.03 + 1e-6


@pytest.mark.parametrize("layer", [
    LinfProjection(0.25), L2Projection(2.0), StraightThroughLinfProjection(0.25),
    ReflectionPadding2D(((1, 2), (3, 0))),
    ImagenetPreprocessing("caffe"),
])
def test_layer_config_round_trip(layer):
    restored = type(layer).from_config(layer.get_config())
    assert restored.get_config() == layer.get_config()
    x = np.random.default_rng(0).random((2, 8, 8, 3)).astype(np.float32)
    np.testing.assert_array_equal(layer(x).numpy(), restored(x).numpy())
    serialized = keras.saving.serialize_keras_object(layer)
    again = keras.saving.deserialize_keras_object(serialized)
    np.testing.assert_array_equal(layer(x).numpy(), again(x).numpy())


@pytest.mark.parametrize("padding", [
    ((1, 2), (3, 0)), 1, ((3, 2), (3, 2)), ((0, 0), (0, 4)), ((4, 4), (5, 5)),
])
def test_reflection_padding_matches_tf_pad(padding):
    """The slices-and-concatenation padding equals MirrorPad in REFLECT mode,
    values and input gradient, up to the largest legal pad (side - 1)."""
    layer = ReflectionPadding2D(padding)
    (top, bottom), (left, right) = layer.padding
    x = tf.constant(np.random.default_rng(0).random((2, 5, 6, 3)).astype(np.float32))
    weights = tf.constant(np.random.default_rng(1).random(
        (2, 5 + top + bottom, 6 + left + right, 3)).astype(np.float32))

    def mirror(images):
        return tf.pad(images, [[0, 0], [top, bottom], [left, right], [0, 0]], mode="REFLECT")

    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        ours, theirs = layer(x), mirror(x)
        ours_sum, theirs_sum = tf.reduce_sum(ours * weights), tf.reduce_sum(theirs * weights)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    np.testing.assert_allclose(tape.gradient(ours_sum, x).numpy(),
                               tape.gradient(theirs_sum, x).numpy(), rtol=1e-6, atol=1e-6)
    symbolic = layer(keras.Input((5, 6, 3)))
    assert tuple(symbolic.shape) == (None, *theirs.shape[1:])


@pytest.mark.parametrize("mode,module", [
    ("caffe", keras.applications.vgg16),
    ("tf", keras.applications.mobilenet_v2),
    ("torch", keras.applications.densenet),
])
def test_imagenet_preprocessing_matches_keras_applications(mode, module):
    x = np.random.default_rng(0).random((2, 8, 8, 3)).astype(np.float32)
    ours = ImagenetPreprocessing(mode)(x).numpy()
    theirs = np.asarray(module.preprocess_input(x * 255.0))
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-4)


def test_input_diversity_shrinks_and_moves_each_image_in_training_only():
    images = np.ones((8, 28, 28, 1), np.float32)
    layer = InputDiversity(probability=1.0, min_scale=0.5, seed=3)
    out = keras.ops.convert_to_numpy(layer(images, training=True))
    assert out.shape == images.shape
    corners = set()
    for image in out[..., 0]:
        rows, columns = np.where(image.max(1) > 0.5)[0], np.where(image.max(0) > 0.5)[0]
        # the shrunk image: a box of 14-28 pixels a side, black around it
        assert 13 <= rows.size <= 28 and abs(rows.size - columns.size) <= 1
        assert rows.size == rows.max() - rows.min() + 1
        outside = np.ones_like(image, bool)
        outside[max(rows.min() - 1, 0):rows.max() + 2, max(columns.min() - 1, 0):columns.max() + 2] = False
        assert not image[outside].any()
        corners.add((rows.min(), columns.min()))
    assert len(corners) > 4  # positions are drawn per image
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(images)), images)
    again = InputDiversity.from_config(layer.get_config())
    assert (again.probability, again.min_scale, again.seed) == (1.0, 0.5, 3)
    # probability 0, or no shrinking at all: the images pass unchanged
    noise = np.random.default_rng(0).random((4, 12, 10, 3)).astype(np.float32)
    for unchanged in (InputDiversity(0.0), InputDiversity(1.0, min_scale=1.0)):
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(unchanged(noise, training=True)), noise, atol=1e-6)


def test_input_diversity_transforms_about_the_share_asked_for_and_refuses_bad_values():
    images = np.ones((400, 8, 8, 1), np.float32)
    out = keras.ops.convert_to_numpy(InputDiversity(0.5, seed=0)(images, training=True))
    changed = np.mean(np.abs(out - images).reshape(400, -1).max(1) > 1e-3)
    assert 0.4 < changed < 0.6
    with pytest.raises(ValueError, match="probability must be a number in \\[0, 1\\], got 2"):
        InputDiversity(2)
    with pytest.raises(ValueError, match="min_scale"):
        InputDiversity(0.5, min_scale=0)
