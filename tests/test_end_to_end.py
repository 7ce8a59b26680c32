"""Real attacks on real Fashion-MNIST against a really trained victim."""

import fcntl
import os
import time

import keras
import pytest
import tensorflow as tf

from keras_gap import GAPTrainer
from keras_gap import Untargeted
from keras_gap.objectives import RelativisticCrossEntropy
from keras_gap import Victim
from keras_gap.perturbers import build_perturber
from keras_gap.data import load_image_data
from keras_gap.metrics.classification import evaluate_classification
from keras_gap.generators import generator_arguments
from keras_gap.runs.attack_config import AttackConfig
from keras_gap.training.optimizer import gap_optimizer
from keras_gap.victims import build_classifier

pytestmark = pytest.mark.end_to_end

# The transfer test's generator and length (a universal δ needs few weights).
TRANSFER_GENERATOR = {"filters": 8, "num_residual_blocks": 1}
TRANSFER_STEPS = 150


def _train_small_cnn(images, labels):
    keras.utils.set_random_seed(0)
    model = build_classifier("small_cnn", (28, 28, 1), 10)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.fit(images, labels, epochs=1, batch_size=128, verbose=0)
    return model


@pytest.fixture(scope="module")
def trained_victim(fashion_train, tmp_path_factory, worker_id):
    """small_cnn trained for one epoch on the 60,000 training images (~60 s).

    Under pytest-xdist the first worker to need it trains and saves it in
    the session's folder, which every worker shares, and the others wait for
    it and load it (the training is seeded, so each would train the same
    model): once per session, not once per worker."""
    if worker_id == "master":
        return Victim(_train_small_cnn(*fashion_train), name="small_cnn")
    shared = tmp_path_factory.getbasetemp().parent  # this session's, one for all workers
    path = shared / "end_to_end_small_cnn.keras"
    with open(shared / "end_to_end_small_cnn.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            _train_small_cnn(*fashion_train).save(path.with_suffix(".partial.keras"))
            os.replace(path.with_suffix(".partial.keras"), path)
        fcntl.flock(lock, fcntl.LOCK_UN)
    return Victim(keras.saving.load_model(path), name="small_cnn")


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
    """The default image-dependent design, learning rate and weight averaging
    (``KIND_DEFAULTS``: separable_resnet 32/4, Adam 1e-3, EMA 0.99), one
    perturbation per image, trained for a fifth of the default 2,000 steps."""
    defaults = AttackConfig(kind="image_dependent")
    sizes = generator_arguments(defaults.generator, (28, 28, 1))
    keras.utils.set_random_seed(0)
    train = load_image_data("fashion_mnist", "train")
    test = load_image_data("fashion_mnist", "test")
    perturber = build_perturber("image_dependent", defaults.generator, (28, 28, 1), "linf",
                                0.1, seed=0, **sizes)
    trainer = GAPTrainer(perturber, trained_victim, Untargeted())
    trainer.compile(gap_optimizer(defaults.learning_rate, defaults.ema_momentum))
    start = time.perf_counter()
    trainer.fit(train.dataset(64, shuffle_seed=0, repeat=True), steps_per_epoch=400,
                epochs=1, verbose=0, shuffle=False)
    seconds = time.perf_counter() - start
    metrics = evaluate_classification(perturber, [trained_victim], test, limit=2000)
    result = metrics["victims"]["small_cnn"]
    print(f"\nimage-dependent linf 0.1: fooling {result['fooling_rate']:.3f}, random noise "
          f"{result['random_noise_fooling_rate']:.3f}, trained {seconds:.0f} s")
    assert metrics["linf"] <= 0.1 + 1e-6
    assert result["fooling_rate"] >= 0.8
    assert result["fooling_rate"] >= result["random_noise_fooling_rate"] + 0.4


def test_a_transfer_objective_beats_the_papers_loss_on_an_unseen_victim(
        trained_victim, fashion_train):
    """CDA trained against small_cnn fools an unseen small ResNet (batch
    norm, residual blocks: another architecture, other training images) at
    least about as often as the paper's loss trained the same way, and well
    above the noise floor. Seen in development on two generator sizes in
    seven runs: +0.11 to +0.19 over the paper's loss; on the machine of
    2026-12-07 the same code (and the code of commit 6d6c3ab) gave only
    +0.026 (0.438 against 0.412, floor 0.309), so the lead is not asserted
    (docs: evaluation and transfer). A broken objective (no gradient, wrong
    sign) stays at or under the noise floor."""
    images, labels = fashion_train
    keras.utils.set_random_seed(2)
    unseen_model = build_classifier("small_resnet", (28, 28, 1), 10)
    unseen_model.compile(optimizer=keras.optimizers.Adam(1e-3),
                         loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    unseen_model.fit(images[6000:18000], labels[6000:18000], epochs=1, batch_size=128,
                     verbose=0)
    unseen = Victim(unseen_model, name="unseen_small_resnet")
    train = load_image_data("fashion_mnist", "train")
    test = load_image_data("fashion_mnist", "test")
    fooling = {}
    for name, objective, projection in [("paper", Untargeted(), "scale"),
                                        ("cda", RelativisticCrossEntropy(), "clip")]:
        keras.utils.set_random_seed(0)
        perturber = build_perturber("universal", "resnet", (28, 28, 1), "linf", 0.1, seed=0,
                                    projection=projection, **TRANSFER_GENERATOR)
        trainer = GAPTrainer(perturber, trained_victim, objective)  # the source only
        trainer.compile(keras.optimizers.Adam(2e-3, beta_1=0.5))
        trainer.fit(train.dataset(32, shuffle_seed=0, repeat=True),
                    steps_per_epoch=TRANSFER_STEPS, epochs=1, verbose=0, shuffle=False)
        metrics = evaluate_classification(perturber, [trained_victim, unseen], test,
                                          limit=1000)
        fooling[name] = metrics["victims"]["unseen_small_resnet"]
    floor = fooling["paper"]["random_noise_fooling_rate"]
    print(f"\nunseen small ResNet: paper loss {fooling['paper']['fooling_rate']:.3f}, "
          f"CDA {fooling['cda']['fooling_rate']:.3f}, noise floor {floor:.3f}")
    assert fooling["cda"]["fooling_rate"] >= fooling["paper"]["fooling_rate"] - 0.03
    assert fooling["cda"]["fooling_rate"] >= floor + 0.1
