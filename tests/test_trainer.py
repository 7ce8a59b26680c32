import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import tiny_classifier
from keras_gap import GAPTrainer
from keras_gap import Targeted
from keras_gap import Untargeted
from keras_gap import Victim
from keras_gap.perturbers import build_perturber


def _perturber(kind="universal", shape=(28, 28, 1)):
    return build_perturber(kind, "resnet", shape, "linf", 0.1, seed=0,
                           filters=4, num_residual_blocks=1)


def _dataset(images, labels, batch_size=32):
    return tf.data.Dataset.from_tensor_slices((images, labels)).batch(batch_size)


@pytest.mark.parametrize("kind", ["universal", "image_dependent"])
def test_fit_updates_only_the_generator(kind, fashion_train):
    images, labels = fashion_train[0][:128], fashion_train[1][:128]
    keras.utils.set_random_seed(0)
    victim_model = tiny_classifier(batch_norm=True)  # batch norm: moving stats too
    victim_before = [w.copy() for w in victim_model.get_weights()]
    perturber = _perturber(kind)
    generator_before = [w.copy() for w in perturber.generator.get_weights()]
    pattern_before = perturber.get_weights()[0].copy() if kind == "universal" else None
    trainer = GAPTrainer(perturber, victim_model, Untargeted())
    trainer.compile()
    history = trainer.fit(_dataset(images, labels), epochs=1, verbose=0)
    assert {"loss", "fooling_rate"} <= set(history.history)
    for before, after in zip(victim_before, victim_model.get_weights()):
        np.testing.assert_array_equal(before, after)
    changed = [not np.array_equal(b, a)
               for b, a in zip(generator_before, perturber.generator.get_weights())]
    assert sum(changed) > len(changed) // 2
    if kind == "universal":
        np.testing.assert_array_equal(pattern_before, perturber.pattern.numpy())
    np.testing.assert_array_equal(trainer(images[:4]).numpy(), perturber(images[:4]).numpy())


def test_images_only_data_is_accepted(fashion_train):
    trainer = GAPTrainer(_perturber(), tiny_classifier(), Targeted(3))
    trainer.compile()
    data = tf.data.Dataset.from_tensor_slices(fashion_train[0][:64]).batch(32)
    history = trainer.fit(data, epochs=1, verbose=0)
    assert "target_success_rate" in history.history


def test_multi_victim_loss_is_the_weighted_sum(fashion_train):
    images, labels = fashion_train[0][:16], fashion_train[1][:16]
    keras.utils.set_random_seed(0)
    first, second = tiny_classifier(name="first"), tiny_classifier(name="second")
    perturber = _perturber()
    objective = Untargeted()

    def per_example(trainer):
        loss, _, _ = trainer._losses_and_logits(tf.constant(images), labels, training=False)
        return loss.numpy()

    alone_first = per_example(GAPTrainer(perturber, first, objective))
    alone_second = per_example(GAPTrainer(perturber, second, objective))
    both = GAPTrainer(perturber, [first, second], objective, loss_weights=[1.0, 0.5])
    np.testing.assert_allclose(per_example(both), alone_first + 0.5 * alone_second, rtol=1e-5)
    names = [m.name for m in both.metrics]
    assert "fooling_rate_first" in names and "fooling_rate_second" in names


def test_softmax_victims_are_attacked_through_log_probabilities(fashion_train):
    keras.utils.set_random_seed(0)
    logits_model = tiny_classifier()
    softmax_model = keras.Sequential([logits_model, keras.layers.Softmax()])
    softmax_model.build((None, 28, 28, 1))
    victim = Victim(softmax_model)
    assert victim.output == "probabilities"
    images = fashion_train[0][:4]
    reference = tf.nn.log_softmax(logits_model(images)).numpy()
    np.testing.assert_allclose(victim.logits(images).numpy(), reference, atol=1e-4)


def test_bad_configurations_are_rejected():
    perturber = _perturber()
    with pytest.raises(ValueError, match="target class 12"):
        GAPTrainer(perturber, tiny_classifier(), Targeted(12))
    with pytest.raises(ValueError, match="2 loss weights for 1 victims"):
        GAPTrainer(perturber, tiny_classifier(), Untargeted(), loss_weights=[1, 2])
    with pytest.raises(ValueError, match="class count"):
        GAPTrainer(perturber, [tiny_classifier(name="a"),
                               tiny_classifier(num_classes=5, name="b")], Untargeted())
    with pytest.raises(ValueError, match="input shape"):
        GAPTrainer(perturber, [tiny_classifier(name="a"),
                               tiny_classifier((32, 32, 1), name="b")], Untargeted())
    with pytest.raises(ValueError, match=r"perturber makes \(28, 28, 1\)"):
        GAPTrainer(perturber, tiny_classifier((32, 32, 3)), Untargeted())
    with pytest.raises(ValueError, match="loss weights must be finite"):
        GAPTrainer(perturber, tiny_classifier(), Untargeted(), loss_weights=[float("nan")])


def test_images_outside_the_unit_range_stop_training():
    trainer = GAPTrainer(_perturber(), tiny_classifier(), Untargeted())
    trainer.compile()
    pixels = np.full((8, 28, 28, 1), 255.0, np.float32)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"\[0, 1\]"):
        trainer.fit(tf.data.Dataset.from_tensor_slices(pixels).batch(8), verbose=0)
