"""Scale and resilience: two real workers, a real SIGKILL, NaN guards, seeds.

The subprocess tests print the figures they measure (run with ``-s``).
"""

import dataclasses
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

from keras_gap.runs.attack_config import AttackConfig
from keras_gap.runs.attack_run import run_attack
from keras_gap.perturbers import load_perturber
from keras_gap.training.gap_trainer import GAPTrainer
from keras_gap.victims import load_victim

HERE = os.path.dirname(os.path.abspath(__file__))
REPOSITORY = os.path.dirname(HERE)
TINY = ["--generator-filters", "4", "--generator-blocks", "1", "--steps-per-epoch", "2",
        "--batch-size", "8", "--eval-images", "64"]
UNIVERSAL_ARTIFACTS = {"config.json", "perturber.keras", "perturbation.npy",
                       "perturbation.png", "samples.png", "metrics.json", "logs"}


def _environment():
    return {**os.environ, "PYTHONPATH": REPOSITORY, "PYTHONUNBUFFERED": "1",
            "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _check_artifacts(output, epsilon=0.1, kind="universal"):
    names = set(os.listdir(output))
    expected = UNIVERSAL_ARTIFACTS if kind == "universal" else (
        UNIVERSAL_ARTIFACTS - {"perturbation.npy", "perturbation.png"})
    assert expected <= names, names
    assert not [n for n in names if ".tmp" in n or n.startswith(".workertemp")], names
    assert "backup" not in names
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["num_images"] == 64 and metrics["linf"] <= epsilon + 1e-6
    perturber = load_perturber(output / "perturber.keras")
    assert perturber.kind == kind
    if kind == "universal":
        delta = np.load(output / "perturbation.npy")
        assert np.all(np.isfinite(delta)) and np.abs(delta).max() <= epsilon + 1e-6


# image_dependent takes the same code path (about a minute more on 2 CPU cores):
# add it to the list to exercise it.
@pytest.mark.parametrize("kind", ["universal"])
def test_two_workers_train_the_same_generator(kind, tiny_victim_path, tmp_path):
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    output = tmp_path / "run"
    workers = []
    for index in range(2):
        tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        workers.append(subprocess.Popen(
            [sys.executable, os.path.join(HERE, "multi_worker_run.py"),
             str(tmp_path / f"weights{index}.npz"), kind, "--victim", tiny_victim_path,
             "--strategy", "multi_worker", "--epochs", "2", "--output-dir", str(output),
             *TINY],
            cwd=REPOSITORY, env={**_environment(), "TF_CONFIG": tf_config},
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        ))
    try:
        outputs = [w.communicate(timeout=240)[0] for w in workers]
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
    for worker, text in zip(workers, outputs):
        assert worker.returncode == 0, text[-3000:]
        assert "2 replica(s)" in text, text[-3000:]
    assert "Artifacts in" in outputs[0] and "the chief writes" in outputs[1]
    first, second = np.load(tmp_path / "weights0.npz"), np.load(tmp_path / "weights1.npz")
    assert first.files == second.files and first.files
    for name in first.files:
        np.testing.assert_array_equal(first[name], second[name])
    _check_artifacts(output, kind=kind)
    assert json.loads((output / "config.json").read_text())["strategy"] == "multi_worker"


def _start(arguments, log_path):
    handle = open(log_path, "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "train.universal", *arguments], cwd=REPOSITORY,
        env=_environment(), stdout=handle, stderr=subprocess.STDOUT,
    )
    return process, handle


def _epochs_started(log_path):
    return [int(m) for m in re.findall(r"^Epoch (\d+)/", log_path.read_text(), re.M)]


def test_a_killed_run_resumes_from_its_last_backup(tiny_victim_path, tmp_path):
    output = tmp_path / "run"
    epochs = 8
    arguments = ["--victim", tiny_victim_path, "--epochs", str(epochs),
                 "--output-dir", str(output), *TINY]
    metadata = output / "backup" / "training_metadata.json"
    first_log = tmp_path / "first.log"
    started = time.perf_counter()
    process, handle = _start(arguments, first_log)
    backup_epoch = 0
    try:
        while time.perf_counter() - started < 180 and process.poll() is None:
            try:
                backup_epoch = json.loads(metadata.read_text())["epoch"]
            except (OSError, ValueError, KeyError):
                backup_epoch = 0
            if backup_epoch >= 2:
                break
            time.sleep(0.05)
        assert process.poll() is None, first_log.read_text()[-3000:]
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
        handle.close()
    assert process.returncode == -signal.SIGKILL
    backup_epoch = json.loads(metadata.read_text())["epoch"]
    started_before_kill = max(_epochs_started(first_log))
    assert not (output / "perturber.keras").exists()

    second_log = tmp_path / "second.log"
    restarted = time.perf_counter()
    process, handle = _start(arguments, second_log)
    first_epoch_at = None
    try:
        while process.poll() is None and time.perf_counter() - restarted < 180:
            if first_epoch_at is None and _epochs_started(second_log):
                first_epoch_at = time.perf_counter() - restarted
            time.sleep(0.05)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
        handle.close()
    text = second_log.read_text()
    assert process.returncode == 0, text[-3000:]
    assert "Resuming" in text
    resumed_epochs = _epochs_started(second_log)
    # Training went on after the backed-up epochs instead of starting again.
    assert resumed_epochs == list(range(backup_epoch + 1, epochs + 1)), text[-2000:]
    _check_artifacts(output)
    steps = int(TINY[TINY.index("--steps-per-epoch") + 1])
    lost = (started_before_kill - 1 - backup_epoch) * steps
    print(f"\nkill-and-resume: killed in epoch {started_before_kill} with the backup at "
          f"epoch {backup_epoch}; steps lost <= {lost + steps} (complete epochs "
          f"redone: {max(lost, 0) // steps}); restart to first resumed epoch "
          f"{first_epoch_at:.1f} s; whole second run {time.perf_counter() - restarted:.1f} s")


def _tiny_config(victim, output, **changes):
    settings = dict(epochs=1, steps_per_epoch=2, batch_size=8, generator_filters=4,
                    generator_blocks=1, eval_images=64)
    return AttackConfig(victims=[victim], output_dir=str(output), **{**settings, **changes})


def test_the_same_seed_gives_the_same_perturbation(tiny_victim_path, tmp_path):
    for name in ("a", "b"):
        run_attack(_tiny_config(tiny_victim_path, tmp_path / name, seed=3),
                   log=lambda *_: None, verbose=0)
    first = (tmp_path / "a" / "perturbation.npy").read_bytes()
    assert first == (tmp_path / "b" / "perturbation.npy").read_bytes()


class _PoisonAtEpoch(keras.callbacks.Callback):
    """Makes the victim's (or the generator's) weights NaN when ``epoch`` begins."""

    def __init__(self, epoch, part="victim"):
        super().__init__()
        self.epoch, self.part = epoch, part

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            model = (self.model.victims[0].model if self.part == "victim"
                     else self.model.perturber.generator)
            model.set_weights([np.full_like(w, np.nan) for w in model.get_weights()])


def test_a_nan_loss_stops_the_run_and_keeps_the_last_good_backup(tiny_victim_path, tmp_path):
    output = tmp_path / "run"
    config = _tiny_config(tiny_victim_path, output, epochs=3)
    with pytest.raises(ValueError, match=r"loss became nan at epoch 2, step 1.*last good "
                       r"backup.*lower --learning-rate and a new --output-dir"):
        run_attack(config, log=lambda *_: None, verbose=0, callbacks=[_PoisonAtEpoch(1)])
    # The advice leads somewhere: this directory keeps its settings, a new one works.
    lower = dataclasses.replace(config, learning_rate=config.learning_rate / 10)
    with pytest.raises(ValueError, match="learning_rate.*choose another --output-dir"):
        run_attack(lower, log=lambda *_: None, verbose=0)
    run_attack(dataclasses.replace(lower, output_dir=str(tmp_path / "lower")),
               log=lambda *_: None, verbose=0)
    config_before = (output / "config.json").read_bytes()
    names = set(os.listdir(output))
    assert not names & {"perturber.keras", "perturbation.npy", "metrics.json", "samples.png"}
    assert json.loads((output / "backup" / "training_metadata.json").read_text())["epoch"] == 1
    # The backup holds the good epoch-1 weights; the same command resumes from it.
    messages = []
    run_attack(config, log=messages.append, verbose=0)
    assert any("Resuming" in m for m in messages)
    assert (output / "config.json").read_bytes() == config_before
    assert np.all(np.isfinite(np.load(output / "perturbation.npy")))


def test_nan_weights_behind_a_finite_loss_stop_the_run(tiny_victim_path, tmp_path):
    output = tmp_path / "run"
    with pytest.raises(ValueError, match="weights became non-finite in epoch 2"):
        run_attack(_tiny_config(tiny_victim_path, output, epochs=3), log=lambda *_: None,
                   verbose=0, callbacks=[_PoisonAtEpoch(1, part="generator")])
    assert json.loads((output / "backup" / "training_metadata.json").read_text())["epoch"] == 1
    assert not (output / "perturber.keras").exists()


def test_a_victim_giving_nan_fails_cleanly_without_artifacts(tiny_victim_model, tmp_path):
    model = keras.models.clone_model(tiny_victim_model)
    model.set_weights([np.full_like(w, np.nan) for w in tiny_victim_model.get_weights()])
    path = tmp_path / "nan_victim.keras"
    model.save(path)
    output = tmp_path / "run"
    with pytest.raises(ValueError, match="loss became nan.*no backup yet"):
        run_attack(_tiny_config(str(path), output), log=lambda *_: None, verbose=0)
    assert set(os.listdir(output)) <= {"config.json", "logs"}


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_images_are_rejected(bad, tiny_victim_model):
    from keras_gap.perturbers import build_perturber
    from keras_gap.objectives import Untargeted

    perturber = build_perturber("image_dependent", "resnet", (28, 28, 1), "linf", 0.1,
                                filters=4, num_residual_blocks=1)
    images = np.full((4, 28, 28, 1), 0.5, np.float32)
    images[1, 3, 4, 0] = bad
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        perturber(images)
    trainer = GAPTrainer(perturber, tiny_victim_model, Untargeted())
    trainer.compile()
    with pytest.raises(Exception, match=r"\[0, 1\]"):
        trainer.fit(images, epochs=1, batch_size=4, verbose=0)


def test_lambda_victims_need_the_explicit_opt_out(tmp_path):
    inputs = keras.Input((28, 28, 1))
    scaled = keras.layers.Lambda(lambda x: x * 2.0)(inputs)
    model = keras.Model(inputs, keras.layers.Dense(10)(keras.layers.Flatten()(scaled)))
    path = str(tmp_path / "lambda.keras")
    model.save(path)
    with pytest.raises(ValueError, match="--unsafe-deserialization"):
        load_victim(path)
    assert load_victim(path, safe_mode=False).num_classes == 10
