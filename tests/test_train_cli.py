import json
import os
import warnings
import subprocess
import sys

import keras
import numpy as np
import pytest
from PIL import Image

from keras_gap.data.native_size import native_image_shape
from keras_gap.objectives import Untargeted
from keras_gap.perturbers import load_perturber
from keras_gap.runs.attack_config import AttackConfig
from keras_gap.runs.attack_config import resolve_config
from keras_gap.runs.attack_run import run_attack
from keras_gap.cli import parse_epsilon
from keras_gap.victims import load_victims
from train import classifier
from train.attack_arguments import parse_attack_config
from train import universal

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--epochs", "1", "--steps-per-epoch", "3", "--batch-size", "16",
        "--generator-filters", "4", "--generator-blocks", "1", "--eval-images", "200"]


@pytest.mark.parametrize("text,value", [
    ("0.1", 0.1), ("10/255", 10 / 255), ("2000/255", 2000 / 255), (" 8 / 255 ", 8 / 255),
])
def test_parse_epsilon_accepts_decimals_and_fractions(text, value):
    assert parse_epsilon(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["0", "-0.1", "abc", "nan", "inf", "1/0", ""])
def test_parse_epsilon_rejects_bad_values(text):
    with pytest.raises(ValueError, match="epsilon"):
        parse_epsilon(text)


def test_universal_main_writes_every_artifact(tiny_victim_path, tmp_path):
    output = tmp_path / "run"
    argv = ["--victim", tiny_victim_path, "--output-dir", str(output),
            "--epsilon", "10/255", *TINY]
    assert universal.main(argv) == 0
    names = set(os.listdir(output))
    assert {"config.json", "perturber.keras", "perturbation.npy", "perturbation.png",
            "samples.png", "metrics.json", "logs"} <= names
    assert not [n for n in names if ".tmp" in n]
    assert "backup" not in names  # removed once training finished
    config = json.loads((output / "config.json").read_text())
    assert config["epsilon"] == pytest.approx(10 / 255)
    assert config["victims"] == [tiny_victim_path]
    # config.json records the resolved reduction and projection.
    assert config["reduction"] == Untargeted.default_reduction
    assert config["projection"] == "scale"
    delta = np.load(output / "perturbation.npy")
    assert delta.shape == (28, 28, 1)
    assert np.abs(delta).max() <= 10 / 255 + 1e-6
    metrics = json.loads((output / "metrics.json").read_text())
    for key in ("fooling_rate", "clean_accuracy", "adversarial_accuracy", "linf", "l2",
                "num_images", "random_noise_fooling_rate"):
        assert key in metrics
    assert metrics["num_images"] == 200
    assert metrics["linf"] <= 10 / 255 + 1e-6
    assert metrics["clean_accuracy"] > 0.5  # the tiny victim is really trained
    # The same command again finds the finished run instead of retraining.
    assert universal.main(argv) == 0
    # A different configuration in the same directory is refused.
    with pytest.raises(ValueError, match="different run's config.*epsilon"):
        universal.main(argv[:-len(TINY)] + ["--epsilon", "0.2", *TINY])


def test_targeted_run_reports_target_success(tiny_victim_path, tmp_path):
    argv = ["--victim", tiny_victim_path, "--output-dir", str(tmp_path / "t"),
            "--objective", "targeted", "--target-class", "8", "--norm", "l2",
            "--epsilon", "1.5", "--generator", "unet", *TINY]
    assert universal.main(argv) == 0
    metrics = json.loads((tmp_path / "t" / "metrics.json").read_text())
    assert 0.0 <= metrics["target_success_rate"] <= 1.0
    assert 0.0 <= metrics["target_success_rate_excluding_target_class"] <= 1.0
    assert metrics["l2"] <= 1.5 + 1e-5


def test_reduction_and_projection_flags_reach_the_objective_config_and_perturber(
        tiny_victim_path, tmp_path):
    output = tmp_path / "ll"
    argv = ["--victim", tiny_victim_path, "--output-dir", str(output),
            "--objective", "least_likely", "--reduction", "ce",
            "--projection", "straight_through_2018", *TINY]
    assert universal.main(argv) == 0
    config = json.loads((output / "config.json").read_text())
    assert (config["reduction"], config["projection"]) == ("ce", "straight_through_2018")
    perturber = load_perturber(output / "perturber.keras")
    assert perturber.projection_method == "straight_through_2018"
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["linf"] <= 0.1 + 1e-6
    # Resuming with another reduction is another run.
    with pytest.raises(ValueError, match="reduction: 'ce' there vs 'batch_mean' now"):
        universal.main([a if a != "ce" else "batch_mean" for a in argv])


class _Interrupt(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 1:
            raise KeyboardInterrupt


class _EpochRecorder(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.epochs = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch)


def test_an_interrupted_run_resumes_from_its_backup(tiny_victim_path, tmp_path):
    config = AttackConfig(
        victims=[tiny_victim_path], output_dir=str(tmp_path / "r"), epochs=3,
        steps_per_epoch=2, batch_size=8, generator_filters=4, generator_blocks=1,
        eval_images=64,
    )
    with pytest.raises(KeyboardInterrupt):
        run_attack(config, log=lambda *_: None, verbose=0, callbacks=[_Interrupt()])
    assert os.path.isdir(tmp_path / "r" / "backup")
    assert not os.path.exists(tmp_path / "r" / "perturber.keras")
    messages, recorder = [], _EpochRecorder()
    run_attack(config, log=messages.append, verbose=0, callbacks=[recorder])
    assert any("Resuming" in m for m in messages)
    assert recorder.epochs == [1, 2]  # epoch 0 was not trained again
    assert os.path.isfile(tmp_path / "r" / "perturber.keras")


class _Averages(keras.callbacks.Callback):
    """The optimizer's moving averages of the generator's weights when an
    epoch begins (after a backup is restored); stops at ``stop_epoch``."""

    def __init__(self, stop_epoch=None):
        super().__init__()
        self.stop_epoch = stop_epoch
        self.at_epoch = {}

    def on_epoch_begin(self, epoch, logs=None):
        if self.model.optimizer.built:  # not before the first step
            averages = self.model.optimizer.averages
            self.at_epoch[epoch] = [np.array(v) for v in averages]
        if epoch == self.stop_epoch:
            raise KeyboardInterrupt


def test_an_averaged_run_resumes_with_its_averages(tiny_victim_path, tmp_path):
    """The backup holds the moving averages with the optimizer's state: a
    resumed run goes on averaging from where it stopped, not from its raw
    weights."""
    config = AttackConfig(
        kind="image_dependent", victims=[tiny_victim_path], output_dir=str(tmp_path / "r"),
        epochs=3, steps_per_epoch=2, batch_size=8, generator_filters=4, generator_blocks=1,
        eval_images=32, ema_momentum=0.9, learning_rate=1e-2,
    )
    first = _Averages(stop_epoch=1)
    with pytest.raises(KeyboardInterrupt):
        run_attack(config, log=lambda *_: None, verbose=0, callbacks=[first])
    resumed = _Averages()
    run_attack(config, log=lambda *_: None, verbose=0, callbacks=[resumed])
    assert sorted(resumed.at_epoch) == [1, 2]
    for before, after in zip(first.at_epoch[1], resumed.at_epoch[1]):
        np.testing.assert_array_equal(before, after)
    assert any(np.abs(a).max() > 0 for a in resumed.at_epoch[1])
    with open(tmp_path / "r" / "config.json") as handle:
        assert json.load(handle)["ema_momentum"] == 0.9


class _Rates(keras.callbacks.Callback):
    """The optimizer's step count and learning rate when an epoch begins
    (after a backup is restored); stops at ``stop_epoch``."""

    def __init__(self, stop_epoch=None):
        super().__init__()
        self.stop_epoch = stop_epoch
        self.at_epoch = {}

    def on_epoch_begin(self, epoch, logs=None):
        if self.model.optimizer.built:
            optimizer = self.model.optimizer
            self.at_epoch[epoch] = (int(optimizer.iterations), float(optimizer.learning_rate))
        if epoch == self.stop_epoch:
            raise KeyboardInterrupt


def test_a_cosine_run_resumes_where_its_schedule_stopped(tiny_victim_path, tmp_path):
    """``--learning-rate-schedule cosine`` decays over the whole run's
    epochs × steps, and a resumed run goes on from the step its backup
    holds, not from the peak rate again."""
    config = AttackConfig(
        kind="image_dependent", victims=[tiny_victim_path], output_dir=str(tmp_path / "r"),
        epochs=3, steps_per_epoch=2, batch_size=8, generator_filters=4, generator_blocks=1,
        eval_images=32, learning_rate=1e-2, learning_rate_schedule="cosine",
    )
    with pytest.raises(KeyboardInterrupt):
        run_attack(config, log=lambda *_: None, verbose=0, callbacks=[_Rates(stop_epoch=1)])
    resumed = _Rates()
    run_attack(config, log=lambda *_: None, verbose=0, callbacks=[resumed])
    steps, rate = resumed.at_epoch[2]
    assert steps == 4
    np.testing.assert_allclose(rate, 1e-2 * (1 + np.cos(np.pi * 4 / 6)) / 2, rtol=1e-5)
    with open(tmp_path / "r" / "config.json") as handle:
        assert json.load(handle)["learning_rate_schedule"] == "cosine"
    with pytest.raises(ValueError, match="learning rate schedule must be one of "
                                         "\\['constant', 'cosine'\\], got 'step'"):
        AttackConfig(kind="image_dependent", learning_rate_schedule="step")


def _run_cli(*arguments):
    return subprocess.run(
        [sys.executable, "-m", "train.universal", *arguments], cwd=REPOSITORY,
        capture_output=True, text=True, timeout=120,
    )


# The real entry point, once: test_bad_inputs.py runs every bad value in-process.
def test_bad_arguments_exit_2_with_one_line(tmp_path):
    fragment = "'1'"
    result = _run_cli("--ema-momentum", "1", "--output-dir", str(tmp_path / "out"))
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and fragment in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert not os.path.exists(tmp_path / "out")  # nothing half-written


def _image_folder(root, size, classes=3, per_class=6):
    """``root/<class>/*.png``: each class its own colour, ``size`` = (w, h)."""
    for label in range(classes):
        os.makedirs(root / f"class_{label}")
        colour = tuple(int(c) for c in np.eye(3)[label] * 255)
        for index in range(per_class):
            Image.new("RGB", size, colour).save(root / f"class_{label}" / f"{index}.png")
    return root


def test_classifier_trains_on_a_folder_at_its_own_image_size(tmp_path):
    folder = _image_folder(tmp_path / "images", size=(12, 10))
    output = tmp_path / "victim.keras"
    arguments = ["--dataset", f"folder:{folder}", "--epochs", "2", "--batch-size", "4",
                 "--output", str(output)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert classifier.main(arguments) == 0
    # A folder's pipeline has no known length (unreadable files are left out
    # as they are read): it is repeated, each epoch the split's own batches.
    assert not [w for w in caught if "ran out of data" in str(w.message)]
    model = keras.saving.load_model(output)
    assert model.input_shape == (None, 10, 12, 3) and model.output_shape == (None, 3)
    before = output.read_bytes()
    with pytest.raises(ValueError, match="already exists; pass --overwrite"):
        classifier.main(arguments)
    assert output.read_bytes() == before
    assert classifier.main([*arguments, "--overwrite", "--image-size", "16"]) == 0
    assert keras.saving.load_model(output).input_shape == (None, 16, 16, 3)


def test_classifier_with_a_softmax_output_is_attacked_through_its_logits(tmp_path):
    folder = _image_folder(tmp_path / "images", size=(12, 10))
    output = tmp_path / "softmax.keras"
    assert classifier.main(["--dataset", f"folder:{folder}", "--epochs", "2",
                            "--batch-size", "4", "--output-activation", "softmax",
                            "--output", str(output)]) == 0
    model = keras.saving.load_model(output)
    images = np.random.default_rng(0).random((5, 10, 12, 3)).astype(np.float32)
    probabilities = keras.ops.convert_to_numpy(model(images))
    np.testing.assert_allclose(probabilities.sum(-1), 1.0, rtol=1e-5)
    assert (probabilities > 0).all()
    victim = load_victims([str(output)])[0]
    logits = keras.ops.convert_to_numpy(victim.logits(images))
    # The victim takes the softmax off: its scores are logits, not probabilities.
    assert not np.allclose(logits.sum(-1), 1.0)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(keras.ops.softmax(logits)),
                               probabilities, rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="'sigmoid'"):
        classifier.main(["--dataset", f"folder:{folder}", "--output-activation", "sigmoid",
                         "--output", str(tmp_path / "other.keras")])
    assert not (tmp_path / "other.keras").exists()


def test_tfds_sets_give_their_image_size_or_ask_for_one():
    assert native_image_shape("tfds:mnist") == (28, 28, 1)
    with pytest.raises(ValueError, match="vary in size .*give --image-size"):
        native_image_shape("tfds:imagenet2012")


def test_each_kind_has_its_defaults_and_flags_override_them():
    """A universal δ is computed once: the paper's generator, rate and plain
    Adam. An image-dependent generator runs on every attacked image: the
    design built for cost, trained longer at a higher rate, its weights
    averaged (``KIND_DEFAULTS``)."""
    def settings(config):
        return config.generator, config.epochs, config.learning_rate, config.ema_momentum

    assert settings(parse_attack_config("universal", "", [])) == ("resnet", 5, 2e-4, 0.0)
    assert settings(parse_attack_config("image_dependent", "", [])) == (
        "separable_resnet", 40, 1e-3, 0.99)
    assert settings(AttackConfig(kind="image_dependent")) == ("separable_resnet", 40, 1e-3, 0.99)
    chosen = parse_attack_config("image_dependent", "", [
        "--generator", "resnet", "--epochs", "5", "--learning-rate", "2e-4",
        "--ema-momentum", "0"])
    assert settings(chosen) == ("resnet", 5, 2e-4, 0.0)
    assert settings(AttackConfig(kind="image_dependent", generator="unet")) == (
        "unet", 40, 1e-3, 0.99)
    assert parse_attack_config("universal", "", ["--ema-momentum", "0.9"]).ema_momentum == 0.9


def test_each_objective_resolves_its_measured_default_reduction(tiny_victim_path, tmp_path):
    # The sweeps over four victims chose batch_mean for targeted classifiers
    # (both kinds) and image-dependent least-likely; a segmenter's targeted objective (a --target-map) keeps its own measured per_image.
    def reduction(**fields):
        config = AttackConfig(victims=[tiny_victim_path], output_dir=str(tmp_path / "r"),
                              **fields)
        return resolve_config(config, log=lambda line: None).reduction

    assert reduction(objective="targeted", target_class=8) == "batch_mean"
    assert reduction(objective="untargeted") == "per_image"
    assert reduction(objective="least_likely") == "per_image"
    # The image-dependent sweep chose batch_mean for least-likely, and only there.
    assert reduction(objective="least_likely", kind="image_dependent") == "batch_mean"
    assert reduction(objective="least_likely", kind="image_dependent",
                     reduction="per_image") == "per_image"
    assert reduction(objective="untargeted", kind="image_dependent") == "per_image"
    assert reduction(objective="targeted", target_class=8, kind="image_dependent") == "batch_mean"
    assert reduction(objective="targeted", target_class=8, reduction="ce") == "ce"
    assert reduction(objective="targeted", target_map="scene:0",
                     dataset="fashion_scenes") == "per_image"
    assert reduction(objective="targeted_margin", target_class=8) is None
    assert not (tmp_path / "r").exists()
