"""Real attacks on real Fashion-MNIST against a really trained victim."""

import time

import keras
import pytest
import tensorflow as tf

from keras_gap import GAPTrainer
from keras_gap import Untargeted
from keras_gap import Victim
from keras_gap.perturbers import build_perturber
from keras_gap.data import load_image_data
from keras_gap.evaluation.classification import evaluate_classification
from keras_gap.victims import build_classifier

pytestmark = pytest.mark.end_to_end


@pytest.fixture(scope="module")
def trained_victim(fashion_train):
    """small_cnn trained for one epoch on the 60,000 training images (~60 s)."""
    keras.utils.set_random_seed(0)
    images, labels = fashion_train
    model = build_classifier("small_cnn", (28, 28, 1), 10)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.fit(images, labels, epochs=1, batch_size=128, verbose=0)
    return Victim(model, name="small_cnn")


def test_universal_attack_fools_far_more_than_random_noise(trained_victim):
    keras.utils.set_random_seed(0)
    train = load_image_data("fashion_mnist", "train")
    test = load_image_data("fashion_mnist", "test")
    victim_before = [w.copy() for w in trained_victim.model.get_weights()]
    perturber = build_perturber("universal", "resnet", (28, 28, 1), "linf", 0.1, seed=0,
                                filters=32, num_residual_blocks=3)
    trainer = GAPTrainer(perturber, trained_victim, Untargeted())
    trainer.compile()
    start = time.perf_counter()
    trainer.fit(train.dataset(64, shuffle_seed=0, repeat=True), steps_per_epoch=300,
                epochs=1, verbose=0)
    seconds = time.perf_counter() - start
    metrics = evaluate_classification(perturber, [trained_victim], test)
    result = metrics["victims"]["small_cnn"]
    print(f"\nuniversal linf 0.1: fooling {result['fooling_rate']:.3f}, random noise "
          f"{result['random_noise_fooling_rate']:.3f}, clean accuracy "
          f"{result['clean_accuracy']:.3f}, trained {seconds:.0f} s")
    assert metrics["num_images"] == 10000
    assert metrics["linf"] <= 0.1 + 1e-6
    assert result["clean_accuracy"] > 0.8
    assert result["fooling_rate"] >= 0.6
    assert result["fooling_rate"] >= result["random_noise_fooling_rate"] + 0.3
    for before, after in zip(victim_before, trained_victim.model.get_weights()):
        tf.debugging.assert_equal(before, after)


def test_image_dependent_attack_reaches_080_at_linf_01(trained_victim):
    """A lean generator (16 filters, 2 residual blocks), one perturbation per image."""
    keras.utils.set_random_seed(0)
    train = load_image_data("fashion_mnist", "train")
    test = load_image_data("fashion_mnist", "test")
    perturber = build_perturber("image_dependent", "resnet", (28, 28, 1), "linf", 0.1,
                                seed=0, filters=16, num_residual_blocks=2)
    trainer = GAPTrainer(perturber, trained_victim, Untargeted())
    trainer.compile()
    start = time.perf_counter()
    trainer.fit(train.dataset(64, shuffle_seed=0, repeat=True), steps_per_epoch=500,
                epochs=1, verbose=0, shuffle=False)
    seconds = time.perf_counter() - start
    metrics = evaluate_classification(perturber, [trained_victim], test, limit=2000)
    result = metrics["victims"]["small_cnn"]
    print(f"\nimage-dependent linf 0.1: fooling {result['fooling_rate']:.3f}, random noise "
          f"{result['random_noise_fooling_rate']:.3f}, trained {seconds:.0f} s")
    assert metrics["linf"] <= 0.1 + 1e-6
    assert result["fooling_rate"] >= 0.8
    assert result["fooling_rate"] >= result["random_noise_fooling_rate"] + 0.4
