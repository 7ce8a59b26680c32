"""CDA, LTP and BIA objectives: their values, their signs as the attack
succeeds, their training through ``GAPTrainer`` and their configs."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import tiny_classifier
from backend_helpers import numpy
from keras_gap import GAPTrainer
from keras_gap import Untargeted
from keras_gap import Victim
from keras_gap.objectives import FeatureDistance
from keras_gap.objectives import FeatureSimilarity
from keras_gap.objectives import RelativisticCrossEntropy
from keras_gap.objectives import build_objective
from keras_gap.perturbers import build_perturber

CLEAN = np.array([[3.0, 1.0, -2.0], [0.0, 2.0, 1.0]], np.float32)
ADVERSARIAL = np.array([[1.0, 2.0, 0.5], [0.5, 0.0, 3.0]], np.float32)
OBJECTIVES = [RelativisticCrossEntropy(), FeatureDistance(),
              FeatureSimilarity(), FeatureSimilarity(attention=False,
                                                      random_normalization=False)]


def _log_softmax(logits):
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _features(seed=0, shape=(2, 4, 4, 3)):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def test_cda_is_minus_ce_of_the_logit_change_to_the_clean_prediction():
    loss = numpy(RelativisticCrossEntropy().per_example_loss(CLEAN, ADVERSARIAL))
    relative = ADVERSARIAL - CLEAN
    expected = _log_softmax(relative)[np.arange(2), CLEAN.argmax(-1)]  # -CE = log p
    np.testing.assert_allclose(loss, expected, rtol=1e-5)


def test_cda_falls_as_the_clean_class_loses_ground():
    objective = RelativisticCrossEntropy()
    clean = np.array([[2.0, 0.0, 0.0]], np.float32)
    steps = [clean + np.array([[-shift, shift, 0.0]], np.float32) for shift in (0, 1, 3)]
    losses = [float(objective.per_example_loss(clean, s)[0]) for s in steps]
    assert losses[0] > losses[1] > losses[2]


def test_ltp_is_minus_the_mean_squared_feature_distance():
    clean, adversarial = _features(0), _features(1)
    loss = numpy(FeatureDistance().per_example_feature_loss(clean, adversarial))
    expected = -((adversarial - clean) ** 2).reshape(2, -1).mean(axis=1)
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    assert np.all(numpy(FeatureDistance().per_example_feature_loss(clean, clean)) == 0)
    farther = FeatureDistance().per_example_feature_loss(clean, clean + 2 * (adversarial - clean))
    assert np.all(numpy(farther) < loss)


def test_bia_is_the_cosine_similarity_of_attention_weighted_features():
    clean, adversarial = _features(0), _features(1)
    plain = FeatureSimilarity(attention=False, random_normalization=False)
    np.testing.assert_allclose(plain.per_example_feature_loss(clean, clean), 1.0, rtol=1e-5)
    np.testing.assert_allclose(plain.per_example_feature_loss(clean, -clean), -1.0, rtol=1e-5)
    weight = np.abs(clean.mean(axis=-1, keepdims=True))
    a, c = (adversarial * weight).reshape(2, -1), (clean * weight).reshape(2, -1)
    expected = (a * c).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(c, axis=1)
    loss = numpy(FeatureSimilarity().per_example_feature_loss(clean, adversarial))
    np.testing.assert_allclose(loss, expected, rtol=1e-5)


def test_bia_random_normalization_only_in_training_and_shared_by_both_images():
    images = np.random.default_rng(0).random((2, 8, 8, 1)).astype(np.float32)
    objective = FeatureSimilarity(seed=3)
    same = objective.victim_inputs(images, images + 0.1, training=False)
    np.testing.assert_array_equal(same[0], images)
    clean, adversarial = (np.asarray(t) for t in objective.victim_inputs(
        images, images + 0.1, training=True))
    assert not np.allclose(clean, images)
    # One affine draw for both: the adversarial difference is scaled, not shifted.
    scale = (clean[0, 0, 0, 0] - clean[0, 0, 1, 0]) / (images[0, 0, 0, 0] - images[0, 0, 1, 0])
    np.testing.assert_allclose(adversarial - clean, 0.1 * scale, rtol=1e-4, atol=1e-6)
    identity = FeatureSimilarity(mean_spread=0.0, std_spread=0.0)
    np.testing.assert_allclose(identity.victim_inputs(images, images, training=True)[0],
                               images, atol=1e-6)


@pytest.mark.parametrize("objective", OBJECTIVES, ids=repr)
def test_config_round_trip(objective):
    restored = type(objective).from_config(objective.get_config())
    assert restored.get_config() == objective.get_config()
    clean, adversarial = _features(0, (2, 3)), _features(1, (2, 3))
    if isinstance(objective, RelativisticCrossEntropy):
        compute = lambda o: o.per_example_loss(clean, adversarial)  # noqa: E731
    else:
        compute = lambda o: o.per_example_feature_loss(clean, adversarial)  # noqa: E731
    np.testing.assert_allclose(compute(objective), compute(restored), rtol=1e-6)


def test_build_objective_knows_the_transfer_objectives_and_checks_feature_layers():
    assert isinstance(build_objective("cda"), RelativisticCrossEntropy)
    assert build_objective("ltp", feature_layers="conv_2").feature_layers == "conv_2"
    assert build_objective("bia").get_config()["attention"] is True
    with pytest.raises(ValueError, match="only applies to the feature objectives.*'cda'"):
        build_objective("cda", feature_layers="conv_2")
    with pytest.raises(ValueError, match="feature_layers must be"):
        FeatureDistance(feature_layers=3)
    with pytest.raises(ValueError, match="mean_spread must be in"):
        FeatureSimilarity(mean_spread=-1)
    with pytest.raises(ValueError, match="is a loss on feature maps"):
        FeatureDistance().per_example_loss(CLEAN, ADVERSARIAL)


def test_the_trainer_checks_feature_layers_against_each_victim():
    first, second = tiny_classifier(name="first"), tiny_classifier(name="second")
    perturber = build_perturber("universal", "resnet", (28, 28, 1), "linf", 0.1,
                                filters=4, num_residual_blocks=1)
    with pytest.raises(ValueError, match="victim 'first' has no layer 'nope'; its layers"):
        GAPTrainer(perturber, first, FeatureDistance("nope"))
    with pytest.raises(ValueError, match="got 3 feature layers for 2 victims"):
        GAPTrainer(perturber, [first, second], FeatureDistance([None, None, None]))


@pytest.mark.parametrize("objective", OBJECTIVES[:3], ids=repr)
@pytest.mark.parametrize("kind", ["universal", "image_dependent"])
def test_training_moves_the_generator_only_and_lowers_the_loss(objective, kind, fashion_train):
    images = fashion_train[0][:256]
    keras.utils.set_random_seed(0)
    victims = [tiny_classifier(batch_norm=True, name="first"), tiny_classifier(name="second")]
    before = [[w.copy() for w in v.get_weights()] for v in victims]
    perturber = build_perturber(kind, "resnet", (28, 28, 1), "linf", 0.1, seed=0,
                                filters=4, num_residual_blocks=1)
    generator_before = [w.copy() for w in perturber.generator.get_weights()]
    trainer = GAPTrainer(perturber, victims, objective)
    trainer.compile(keras.optimizers.Adam(2e-3, beta_1=0.5))
    data = tf.data.Dataset.from_tensor_slices(images).batch(64)
    first = trainer.evaluate(data, verbose=0, return_dict=True)["loss"]
    trainer.fit(data, epochs=3, verbose=0)
    last = trainer.evaluate(data, verbose=0, return_dict=True)["loss"]
    assert last < first
    for victim, weights in zip(victims, before):
        for old, new in zip(weights, victim.get_weights()):
            np.testing.assert_array_equal(old, new)
    changed = [not np.array_equal(b, a)
               for b, a in zip(generator_before, perturber.generator.get_weights())]
    assert sum(changed) > len(changed) // 2


def test_feature_loss_of_two_victims_is_the_weighted_sum(fashion_train):
    images = fashion_train[0][:8]
    keras.utils.set_random_seed(0)
    first, second = tiny_classifier(name="first"), tiny_classifier(name="second")
    perturber = build_perturber("universal", "resnet", (28, 28, 1), "linf", 0.1,
                                filters=4, num_residual_blocks=1)

    def per_example(trainer):
        return numpy(trainer.losses_and_logits(images)[0])

    objective = FeatureDistance()
    both = GAPTrainer(perturber, [first, second], objective, loss_weights=[1.0, 0.5])
    expected = (per_example(GAPTrainer(perturber, first, objective))
                + 0.5 * per_example(GAPTrainer(perturber, second, objective)))
    np.testing.assert_allclose(per_example(both), expected, rtol=1e-5)
    # The feature path also reports each victim's logits, as the paper loss does.
    _, clean, adversarial = both.losses_and_logits(images)
    reference = GAPTrainer(perturber, [first, second], Untargeted())
    _, clean_reference, _ = reference.losses_and_logits(images)
    for got, want in zip(clean, clean_reference):
        np.testing.assert_allclose(got, want, rtol=1e-5)
    assert Victim(first).features(images).shape[0] == 8
