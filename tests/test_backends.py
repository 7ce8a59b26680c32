"""The trainer on every Keras backend: the same training under TensorFlow,
JAX and PyTorch, the victim frozen on each, data parallelism on several JAX devices, a JAX-trained perturber
served through TensorFlow, and a PyTorch classifier attacked through the
torch backend. Each other backend runs in its own interpreter
(``KERAS_BACKEND`` is read when Keras is first imported)."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from backend_runs import CASES
from backend_runs import train_cases
from conftest import tiny_classifier
from keras_gap.perturbers import build_perturber
from keras_gap.perturbers import load_perturber

pytestmark = pytest.mark.backends

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS = os.path.join(REPOSITORY, "tests")


def _run(backend, *arguments, environment=None, timeout=600):
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3",
           "PYTHONPATH": os.pathsep.join([REPOSITORY, TESTS]), **(environment or {})}
    result = subprocess.run([sys.executable, *arguments], cwd=REPOSITORY, env=env,
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr[-4000:]
    return result


def _torch_installed():
    try:
        import importlib.util
        return importlib.util.find_spec("torch") is not None
    except ImportError:
        return False


def test_the_core_imports_no_tensorflow_under_jax():
    code = ("import sys\n"
            "import keras_gap, keras_gap.layers, keras_gap.generators, keras_gap.perturbers\n"
            "import keras_gap.objectives, keras_gap.victims, keras_gap.baselines\n"
            "import keras_gap.training.gap_trainer, keras_gap.training.optimizer\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'tensorflow'))\n")
    assert _run("jax", "-c", code).stdout.strip().splitlines()[-1] == "[]"


@pytest.fixture(scope="module")
def saved_models(tmp_path_factory, fashion_train):
    """A tiny victim and one perturber of each kind, saved: every backend
    starts from the same weights."""
    directory = tmp_path_factory.mktemp("backends")
    keras.utils.set_random_seed(3)
    victim = tiny_classifier(batch_norm=True)  # its statistics must not move either
    victim.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    images, labels = fashion_train
    victim.fit(images[:2000], labels[:2000], epochs=1, batch_size=64, verbose=0)
    victim.save(directory / "victim.keras")
    for kind in ("universal", "image_dependent"):
        build_perturber(kind, "resnet", (28, 28, 1), "linf", 0.1, seed=0, filters=4,
                        num_residual_blocks=1).save(directory / f"{kind}.keras")
    np.save(directory / "images.npy", images[:16])
    np.save(directory / "labels.npy", labels[:16])
    return directory


@pytest.fixture(scope="module")
def tensorflow_updates(saved_models):
    train_cases(str(saved_models))  # TensorFlow, in this process
    return saved_models


@pytest.mark.parametrize("other", [
    "jax",
    pytest.param("torch", marks=pytest.mark.skipif(
        not _torch_installed(),
        reason="PyTorch is an optional extra: pip install -r requirements-torch.txt")),
])
def test_every_backend_trains_the_same_generator_and_leaves_the_victim_frozen(
        tensorflow_updates, other):
    directory = tensorflow_updates
    _run(other, os.path.join(TESTS, "backend_runs.py"), "same-update", str(directory))
    for backend in ("tensorflow", other):
        changes = json.loads((directory / f"{backend}_victim_change.json").read_text())
        assert set(changes) == set(CASES) and max(changes.values()) == 0, (backend, changes)
    for case, (kind, _, _) in CASES.items():
        start = load_perturber(directory / f"{kind}.keras").generator.get_weights()
        tf_weights = np.load(directory / f"tensorflow_{case}.npz")
        other_weights = np.load(directory / f"{other}_{case}.npz")
        moved = max(np.abs(tf_weights[f"arr_{i}"] - w).max() for i, w in enumerate(start))
        assert moved > 1e-4, f"{case}: training did not move the generator"
        # Adam moves every weight by about its rate (1e-3) a step, even a bias in
        # front of batch norm whose gradient is only round-off: there the two
        # backends agree to a few percent of one step, not to float precision.
        atol = 1e-4 if case.endswith("adam") else 2e-5
        for index in range(len(start)):
            np.testing.assert_allclose(other_weights[f"arr_{index}"], tf_weights[f"arr_{index}"],
                                       atol=atol, rtol=1e-4, err_msg=f"{other}: {case}")


def test_data_parallel_on_two_jax_devices_gives_the_one_device_update(saved_models):
    _run("jax", os.path.join(TESTS, "backend_runs.py"), "data-parallel", str(saved_models),
         environment={"XLA_FLAGS": "--xla_force_host_platform_device_count=2"})
    report = json.loads((saved_models / "data_parallel.json").read_text())
    assert len(report["devices"]) == 2
    for case, difference in report["differences"].items():
        assert difference < 1e-5, (case, difference)


def test_a_perturber_trained_under_jax_is_served_through_tensorflow(tiny_victim_path,
                                                                    tmp_path):
    from keras_gap.runs.attack_config import AttackConfig
    from keras_gap.runs.attack_run import run_attack
    from keras_gap.serving.export import export_savedmodel

    run = tmp_path / "jax_run"
    _run("jax", "-m", "train.universal", "--victim", tiny_victim_path, "--epochs", "1",
         "--steps-per-epoch", "3", "--batch-size", "8", "--generator-filters", "4",
         "--generator-blocks", "1", "--eval-images", "64", "--output-dir", str(run))
    config = json.loads((run / "config.json").read_text())
    assert config["backend"] == "jax"
    perturber = load_perturber(run / "perturber.keras")  # now under TensorFlow
    delta = np.load(run / "perturbation.npy")
    np.testing.assert_allclose(perturber.fixed_perturbation()[0], delta, atol=1e-6)
    path = export_savedmodel(perturber, tmp_path / "serving", "gap")  # verified on reload
    assert os.path.isfile(os.path.join(path, "saved_model.pb"))
    with pytest.raises(ValueError, match="trained under KERAS_BACKEND=jax; resume it"):
        run_attack(AttackConfig(**{k: v for k, v in config.items() if k != "backend"}),
                   log=lambda *_: None, verbose=0)


@pytest.mark.skipif(not _torch_installed(),
                    reason="PyTorch is an optional extra: pip install -r requirements-torch.txt")
def test_a_torch_classifier_is_attacked_through_the_torch_backend(tmp_path):
    _run("torch", os.path.join(TESTS, "torch_victim_run.py"), str(tmp_path))
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["clean_accuracy"] > 0.75, report
    assert report["frozen"] and report["status"] == 0, report
    errors = report["errors"]
    assert "TorchScript victim file not found" in errors["missing_file"], errors
    assert "cannot take (32, 32, 3) images" in errors["wrong_shape"], errors
    assert "2 channel means for 1-channel images" in errors["bad_preprocessing"], errors
    assert "--jit-compile on is XLA, which KERAS_BACKEND=torch does not have" in errors["xla"]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    floor = metrics["random_noise_fooling_rate"]
    assert metrics["fooling_rate"] > max(4 * floor, floor + 0.25), metrics
    assert json.loads((tmp_path / "run" / "config.json").read_text())["backend"] == "torch"
    # The torch-trained perturber, now under TensorFlow: the same perturbation, exported.
    from keras_gap.serving.export import export_savedmodel

    perturber = load_perturber(tmp_path / "run" / "perturber.keras")
    np.testing.assert_allclose(perturber.fixed_perturbation()[0],
                               np.load(tmp_path / "run" / "perturbation.npy"), atol=1e-6)
    path = export_savedmodel(perturber, tmp_path / "serving", "gap")  # verified on reload
    assert os.path.isfile(os.path.join(path, "saved_model.pb"))


NO_TENSORFLOW = """
import sys
class NoTensorFlow:  # as on a GPU machine that has JAX and no TensorFlow
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "tensorflow":
            raise ImportError("TensorFlow is not installed here")
sys.meta_path.insert(0, NoTensorFlow())
from train import speed
sys.exit(speed.main(sys.argv[1:]))
"""


def test_the_speed_program_times_a_training_step_under_jax_without_tensorflow(
        tiny_victim_path, tmp_path):
    output = tmp_path / "speed.json"
    _run("jax", "-c", NO_TENSORFLOW, "--victim", tiny_victim_path, "--generator-filters", "4",
         "--generator-blocks", "1", "--generator-batch-size", "2", "--batch-size", "2",
         "--warmup", "1", "--repeats", "1", "--output", str(output))
    result = json.loads(output.read_text())
    assert result["jit_compile"] is True  # "auto" compiles under JAX
    assert sorted(result["results"]) == ["bfloat16", "float32"]
    for figures in result["results"].values():
        assert figures["training"]["images_per_second"] > 0
