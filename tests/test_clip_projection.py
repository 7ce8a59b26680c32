"""CDA's clip projection: its bounds, its place in the perturbers, saving and
TF Serving export."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_gap.artifacts import save_keras
from keras_gap.layers import ClipProjection
from keras_gap.layers import projection_for_norm
from keras_gap.perturbers import ImageDependentPerturber
from keras_gap.perturbers import UniversalPerturber
from keras_gap.perturbers import load_perturber
from keras_gap.serving import export as serving
from keras_gap.perturbers import build_perturber

EPSILON = 0.1


def _images(count=4, shape=(16, 16, 3), seed=0):
    return np.random.default_rng(seed).random((count, *shape)).astype(np.float32)


def _perturber(kind, generator_output, shape=(16, 16, 3)):
    perturber = build_perturber(kind, "resnet", shape, "linf", EPSILON, seed=0,
                                filters=4, num_residual_blocks=1)
    projection = ClipProjection(EPSILON, generator_output=generator_output)
    return type(perturber)(perturber.generator, projection)


def test_clipping_a_perturbation_and_an_unrestricted_image():
    raw = np.linspace(-1, 1, 2 * 4 * 4 * 3, dtype=np.float32).reshape(2, 4, 4, 3)
    np.testing.assert_allclose(ClipProjection(EPSILON)(raw), np.clip(raw, -EPSILON, EPSILON))
    images = _images(2, (4, 4, 3))
    delta = ClipProjection(EPSILON, generator_output="image")(raw, images).numpy()
    np.testing.assert_allclose(delta, np.clip((raw + 1) / 2 - images, -EPSILON, EPSILON),
                               rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("kind,generator_output", [
    ("universal", "perturbation"), ("image_dependent", "perturbation"),
    ("image_dependent", "image")])
def test_adversarial_images_lie_in_the_box_and_the_unit_range(kind, generator_output):
    perturber = _perturber(kind, generator_output)
    images = _images()
    adversarial = perturber(images).numpy()
    assert perturber.norm == "linf" and perturber.epsilon == EPSILON
    assert np.all(np.abs(adversarial - images) <= EPSILON + 1e-6)
    assert adversarial.min() >= 0.0 and adversarial.max() <= 1.0
    # Clipping lets elements use the whole budget, not one scaled maximum.
    assert np.mean(np.abs(adversarial - images) > 0.99 * EPSILON) > 0.05


def test_gradient_flows_where_the_clip_is_inactive():
    perturber = _perturber("image_dependent", "image")
    images = tf.constant(_images())
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(perturber(images, training=True))
    gradients = tape.gradient(loss, perturber.generator.trainable_variables)
    assert all(g is not None for g in gradients)
    assert any(float(tf.reduce_max(tf.abs(g))) > 0 for g in gradients)


def test_a_universal_perturber_refuses_an_image_relative_projection():
    perturber = build_perturber("universal", "resnet", (16, 16, 3), "linf", EPSILON,
                                filters=4, num_residual_blocks=1)
    with pytest.raises(ValueError, match="cannot depend on the image"):
        UniversalPerturber(perturber.generator, ClipProjection(EPSILON, "image"))


def test_projection_for_norm_builds_the_clip_and_checks_its_arguments():
    layer = projection_for_norm("linf", 0.05, method="clip", generator_output="image")
    assert isinstance(layer, ClipProjection) and layer.needs_images
    with pytest.raises(ValueError,
                       match="projection 'clip' supports the norms \\['linf'\\], not 'l2'"):
        projection_for_norm("l2", 0.5, method="clip")
    with pytest.raises(ValueError, match="projection must be one of.*'round'"):
        projection_for_norm("linf", 0.1, method="round")
    with pytest.raises(ValueError, match="generator_output must be one of.*'noise'"):
        ClipProjection(0.1, generator_output="noise")


@pytest.mark.parametrize("kind,generator_output", [
    ("universal", "perturbation"), ("image_dependent", "image")])
def test_keras_round_trip(kind, generator_output, tmp_path):
    perturber = _perturber(kind, generator_output)
    images = _images()
    path = tmp_path / "perturber.keras"
    save_keras(perturber, path)
    restored = load_perturber(path)
    assert isinstance(restored.projection, ClipProjection)
    assert restored.projection.get_config() == perturber.projection.get_config()
    np.testing.assert_array_equal(restored(images), perturber(images))


def test_image_dependent_clip_exports_to_tf_serving_with_stock_ops(tmp_path):
    perturber = _perturber("image_dependent", "image")
    assert isinstance(perturber, ImageDependentPerturber)
    # export_savedmodel reloads the SavedModel and compares it with the
    # in-memory perturber before it renames the export into place.
    path = serving.export_savedmodel(perturber, tmp_path, "clip")
    loaded = tf.saved_model.load(path)  # kept alive while its signature runs
    signature = loaded.signatures["serving_default"]
    images = _images()
    outputs = signature(images=tf.constant(images))
    np.testing.assert_allclose(outputs["adversarial_images"], perturber(images), atol=1e-5)
    graph = signature.graph.as_graph_def()
    ops = {node.op for node in graph.node} | {
        node.op for function in graph.library.function for node in function.node_def}
    assert "Conv2D" in ops
    assert [op for op in sorted(ops) if not hasattr(tf.raw_ops, op)] == []
    assert keras.saving.get_registered_name(ClipProjection) == "keras_gap>ClipProjection"
