"""A run directory's guarantees (docs/guarantees.md): one run at a time, a
lock a killed run does not leave stuck, a backup replaced only by a complete
one, a run that resumes after a full disk or a stop while writing its
artifacts, and its own damaged files refused in one line."""

import errno
import json
import os
import signal
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_gap.cli import run_program
from keras_gap.perturbers import load_perturber
from keras_gap.runs import attack_run
from keras_gap.training import backup
from keras_gap.runs.attack_config import AttackConfig
from keras_gap.runs.attack_run import run_attack
from keras_gap.training.backup import read_backup
from keras_gap.runs.run_directory import LOCK_NAME
from keras_gap.runs.run_directory import RunLock
from train import universal

HERE = os.path.dirname(os.path.abspath(__file__))
REPOSITORY = os.path.dirname(HERE)
TINY = ["--generator-filters", "4", "--generator-blocks", "1", "--steps-per-epoch", "2",
        "--batch-size", "8", "--eval-images", "64", "--epochs", "2"]


def _environment():
    return {**os.environ, "PYTHONPATH": REPOSITORY, "PYTHONUNBUFFERED": "1",
            "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}


def _config(victim, output, **changes):
    settings = dict(epochs=3, steps_per_epoch=2, batch_size=8, generator_filters=4,
                    generator_blocks=1, eval_images=64)
    return AttackConfig(victims=[victim], output_dir=str(output), **{**settings, **changes})


def _one_error(captured):
    errors = [line for line in captured.err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in captured.err, captured.err
    return errors[0]


class _Epochs(keras.callbacks.Callback):
    """Records the epochs that begin (1-based)."""

    def __init__(self):
        super().__init__()
        self.begun = []

    def on_epoch_begin(self, epoch, logs=None):
        self.begun.append(epoch + 1)


def test_a_directory_in_use_refuses_a_second_run(tiny_victim_path, tmp_path, capsys):
    output = tmp_path / "run"
    with RunLock(output):
        status = run_program(universal.main, ["--victim", tiny_victim_path,
                                              "--output-dir", str(output), *TINY])
        error = _one_error(capsys.readouterr())
        assert os.listdir(output) == [LOCK_NAME]  # nothing of the refused run
    assert status == 2 and "in use by another run" in error and str(os.getpid()) in error
    assert not output.exists()  # the lock made it, and took it away unused


def test_a_lock_left_by_a_killed_run_does_not_stick(tmp_path):
    output = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom keras_gap.runs.run_directory "
         "import RunLock\nlock = RunLock(sys.argv[1])\nlock.__enter__()\n"
         "print('locked', flush=True)\n"
         "time.sleep(300)", str(output)],
        cwd=REPOSITORY, env=_environment(), stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(ValueError, match=f"in use by another run .process {holder.pid}"):
            RunLock(output).__enter__()
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=30)
    finally:
        if holder.poll() is None:
            holder.kill()
    assert (output / LOCK_NAME).exists()  # left behind by kill -9, but not held
    with RunLock(output):
        assert (output / LOCK_NAME).read_text().strip() == str(os.getpid())
    assert not (output / LOCK_NAME).exists()


def test_two_runs_started_together_one_proceeds(tiny_victim_path, tmp_path):
    output = tmp_path / "run"
    runs = [subprocess.Popen(
        [sys.executable, "-m", "train.universal", "--victim", tiny_victim_path,
         "--output-dir", str(output), *TINY, "--epsilon", epsilon],
        cwd=REPOSITORY, env=_environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True) for epsilon in ("0.1", "0.05")]
    results = [run.communicate(timeout=300) for run in runs]
    codes = [run.returncode for run in runs]
    assert sorted(codes) == [0, 2], results
    winner = codes.index(0)
    loser_errors = [line for line in results[1 - winner][1].splitlines()
                    if line.startswith("error:")]
    assert len(loser_errors) == 1 and "Traceback" not in results[1 - winner][1]
    assert "in use by another run" in loser_errors[0] or "different run" in loser_errors[0]
    # Every artifact is the winner's: config, perturbation, metrics agree.
    epsilon = (0.1, 0.05)[winner]
    assert json.loads((output / "config.json").read_text())["epsilon"] == epsilon
    delta = np.load(output / "perturbation.npy")
    np.testing.assert_array_equal(
        delta, np.asarray(load_perturber(output / "perturber.keras")
                          .universal_perturbation())[0])
    assert np.abs(delta).max() <= epsilon + 1e-6
    assert json.loads((output / "metrics.json").read_text())["linf"] <= epsilon + 1e-6
    assert sorted(os.listdir(output)) == ["config.json", "logs", "metrics.json",
                                          "perturbation.npy", "perturbation.png",
                                          "perturber.keras", "samples.png"]


class _FullDiskAtEpoch(keras.callbacks.Callback):
    """From epoch ``epoch`` on, writing a backup writes half a file and then
    fails as a full disk does."""

    def __init__(self, epoch, monkeypatch):
        super().__init__()
        self.epoch = epoch
        self.monkeypatch = monkeypatch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch + 1 == self.epoch:
            def full_disk(path, data):
                with open(path, "wb") as handle:
                    handle.write(data[:100])
                raise OSError(errno.ENOSPC, "No space left on device", str(path))

            self.monkeypatch.setattr(backup, "write_bytes", full_disk)


def test_a_full_disk_keeps_the_previous_backup_and_the_run_resumes(
        tiny_victim_path, tmp_path, capsys, monkeypatch):
    output = tmp_path / "run"
    config = _config(tiny_victim_path, output)
    status = run_program(lambda _: run_attack(config, log=lambda *_: None, verbose=0,
                                              callbacks=[_FullDiskAtEpoch(2, monkeypatch)]), [])
    error = _one_error(capsys.readouterr())
    assert status == 2 and "No space left on device" in error
    assert "the backup of epoch 1 is kept" in error and "run the same command" in error
    backup_dir = output / "backup"
    assert sorted(os.listdir(backup_dir)) == ["epoch-00001.weights.h5", "training_metadata.json"]
    assert read_backup(str(backup_dir))[0] == 1
    # What a kill in the middle of the next save leaves: a half-written
    # temporary and a renamed but uncommitted weights file.
    (backup_dir / ".epoch-00002.x.tmp.weights.h5").write_bytes(b"\x89HDF half")
    (backup_dir / "epoch-00002.weights.h5").write_bytes(b"\x89HDF half")
    monkeypatch.undo()  # the disk has room again
    epochs, messages = _Epochs(), []
    run_attack(config, log=messages.append, verbose=0, callbacks=[epochs])
    assert any("Resuming" in m for m in messages) and epochs.begun == [2, 3]
    assert not (output / "backup").exists()
    assert np.abs(np.load(output / "perturbation.npy")).max() <= 0.1 + 1e-6


def test_a_real_write_failure_ends_in_one_line_without_h5py_noise(tiny_victim_path, tmp_path):
    """The file-size limit makes the operating system refuse the backup's
    writes inside h5py, as a full disk does."""
    output = tmp_path / "run"
    arguments = ["--victim", tiny_victim_path, "--output-dir", str(output), *TINY,
                 "--epochs", "3"]
    failed = subprocess.run(
        [sys.executable, os.path.join(HERE, "file_limit_run.py"), "2", *arguments],
        cwd=REPOSITORY, env=_environment(), capture_output=True, text=True, timeout=300)
    assert failed.returncode == 2, failed.stderr[-3000:]  # not a crash (139)
    errors = [line for line in failed.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "the backup of epoch 1 is kept" in errors[0], failed.stderr
    assert "Traceback" not in failed.stderr and "HDF5" not in failed.stderr
    assert read_backup(str(output / "backup"))[0] == 1
    resumed = subprocess.run(
        [sys.executable, "-m", "train.universal", *arguments], cwd=REPOSITORY,
        env=_environment(), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Resuming" in resumed.stdout and "Epoch 1/" not in resumed.stdout
    assert not (output / "backup").exists()


def test_a_run_stopped_while_writing_artifacts_resumes_without_training(
        tiny_victim_path, tmp_path, monkeypatch):
    output = tmp_path / "run"
    config = _config(tiny_victim_path, output, epochs=2)

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(attack_run, "save_perturbation_png", no_space)
    with pytest.raises(OSError, match="No space"):
        run_attack(config, log=lambda *_: None, verbose=0)
    assert read_backup(str(output / "backup"))[0] == 2  # the trained generator is kept
    monkeypatch.undo()
    epochs, messages = _Epochs(), []
    run_attack(config, log=messages.append, verbose=0, callbacks=[epochs])
    assert any("Resuming" in m for m in messages) and epochs.begun == []
    assert {"perturber.keras", "perturbation.png", "metrics.json"} <= set(os.listdir(output))
    assert not (output / "backup").exists()


@pytest.mark.parametrize("text,fragment", [
    ("", "not valid JSON"), ("[]", "JSON array"), ("{}", "lacks"),
    ('{"num_images": "x", "linf": "y", "l2": 0, "victims": {}}', "damaged"),
])
def test_a_finished_run_with_damaged_metrics_is_refused_in_one_line(
        text, fragment, finished_run, capsys):
    output, config = finished_run
    path = output / "metrics.json"
    original = path.read_text()
    path.write_text(text)
    try:
        status = run_program(lambda _: run_attack(config, log=print, verbose=0), [])
        error = _one_error(capsys.readouterr())
    finally:
        path.write_text(original)
    assert status == 2 and "metrics.json" in error and fragment in error
    assert LOCK_NAME not in os.listdir(output)


@pytest.fixture(scope="module")
def finished_run(tiny_victim_path, tmp_path_factory):
    output = tmp_path_factory.mktemp("finished") / "run"
    config = _config(tiny_victim_path, output, epochs=1)
    run_attack(config, log=lambda *_: None, verbose=0)
    return output, config
