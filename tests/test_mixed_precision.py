"""Mixed precision (Keras' mixed policies) and XLA with ``GAPTrainer``, on the CPU.

Under a mixed policy only the generator (and the victims built under it)
compute in 16 bits: the budget projection, the clip, the victims' logits and
the objective stay float32, so the budget holds exactly.
"""

import json

import keras
import numpy as np
import pytest

from backend_helpers import numpy
from conftest import tiny_classifier
from keras_gap.backend import visible_gpus
from keras_gap.objectives import Untargeted
from keras_gap.perturbers import build_perturber
from keras_gap.perturbers import load_perturber
from keras_gap.runs.attack_run import run_attack
from keras_gap.training.gap_trainer import GAPTrainer
from keras_gap.training.precision import computes_in_float16
from keras_gap.training.precision import mixed_precision_scope
from keras_gap.victims import Victim
from train import universal
from train.attack_arguments import parse_attack_config

MIXED = ["bfloat16", "float16"]
TINY = ["--epochs", "1", "--steps-per-epoch", "3", "--batch-size", "16",
        "--generator-filters", "4", "--generator-blocks", "1", "--eval-images", "100"]


def _perturber(kind, norm, epsilon, precision, image_shape=(28, 28, 1)):
    with mixed_precision_scope(precision):
        return build_perturber(kind, "resnet", image_shape, norm, epsilon, seed=0,
                               filters=4, num_residual_blocks=1)


def _mixed_victim(trained, precision):
    """The trained tiny victim rebuilt under ``precision``'s policy."""
    with mixed_precision_scope(precision):
        model = tiny_classifier()
    model.set_weights(trained.get_weights())
    return Victim(model)


def _norms(difference, norm):
    flat = difference.reshape(len(difference), -1).astype(np.float64)
    return np.abs(flat).max(axis=1) if norm == "linf" else np.linalg.norm(flat, axis=1)


@pytest.mark.parametrize("precision", MIXED)
@pytest.mark.parametrize("kind,norm,epsilon", [("universal", "linf", 0.1),
                                               ("image_dependent", "l2", 1.5)])
def test_a_mixed_perturber_keeps_its_budget_exactly(precision, kind, norm, epsilon):
    perturber = _perturber(kind, norm, epsilon, precision)
    images = np.random.default_rng(0).random((8, 28, 28, 1), np.float32)
    images[0], images[1] = 0.0, 1.0
    assert keras.backend.standardize_dtype(perturber.generator(images).dtype) == precision  # 16 bits
    assert perturber.dtype_policy.name == perturber.projection.dtype_policy.name == "float32"
    adversarial = numpy(perturber(images))
    assert adversarial.dtype == np.float32
    assert 0.0 <= adversarial.min() and adversarial.max() <= 1.0
    assert _norms(adversarial - images, norm).max() <= epsilon * (1 + 1e-6)
    delta = numpy(perturber.perturbation(images))
    assert delta.dtype == np.float32
    assert _norms(delta, norm).max() <= epsilon * (1 + 1e-6)
    assert _norms(delta, norm).max() >= epsilon * (1 - 1e-6)  # a tanh output is scaled up to ε


@pytest.mark.skipif(keras.backend.backend() != "torch" or bool(visible_gpus()),
                    reason="PyTorch on a CPU only")
def test_float16_under_pytorch_on_a_cpu_is_refused_before_training(tiny_victim_model):
    # PyTorch's CPU float16 convolution backward raises "slow_conv2d: grad_weight must be
    # contiguous" in the first step (seen on 2026-12-07); the trainer and the command line
    # refuse it with a message that names the setting and what trains instead.
    perturber = _perturber("image_dependent", "linf", 0.1, "float16")
    trainer = GAPTrainer(perturber, [_mixed_victim(tiny_victim_model, "float16")], Untargeted())
    with pytest.raises(ValueError, match="'float16' cannot train under KERAS_BACKEND=torch"):
        trainer.compile(keras.optimizers.Adam(2e-3, beta_1=0.5))
    with pytest.raises(ValueError, match="use bfloat16"):
        parse_attack_config("image_dependent", "", ["--mixed-precision", "float16"])
    assert parse_attack_config(
        "image_dependent", "", ["--mixed-precision", "bfloat16"]).mixed_precision == "bfloat16"


@pytest.mark.parametrize("precision", MIXED)
def test_a_mixed_trainer_trains_saves_and_loads(precision, tiny_victim_model, fashion_train,
                                                tmp_path):
    if precision == "float16" and keras.backend.backend() == "torch" and not visible_gpus():
        pytest.skip("float16 under PyTorch needs a CUDA GPU; "
                    "test_float16_under_pytorch_on_a_cpu_is_refused_before_training checks the "
                    "error that says so")
    keras.utils.set_random_seed(0)
    perturber = _perturber("image_dependent", "linf", 0.1, precision)
    victim = _mixed_victim(tiny_victim_model, precision)
    trainer = GAPTrainer(perturber, [victim], Untargeted())
    trainer.compile(keras.optimizers.Adam(2e-3, beta_1=0.5))
    scaled = isinstance(trainer.optimizer, keras.optimizers.LossScaleOptimizer)
    assert scaled == (precision == "float16") == computes_in_float16(perturber)
    before = [w.copy() for w in perturber.get_weights()]
    images = fashion_train[0][:320]
    history = trainer.fit(images, batch_size=32, epochs=1, verbose=0, shuffle=False)
    assert np.isfinite(history.history["loss"][-1])
    inner = trainer.optimizer.inner_optimizer if scaled else trainer.optimizer
    assert int(inner.iterations) >= 8  # at most a couple of steps skipped by loss scaling
    assert any(not np.array_equal(a, b) for a, b in zip(before, perturber.get_weights()))
    path = tmp_path / "perturber.keras"
    perturber.save(path)
    loaded = load_perturber(path)
    assert loaded.generator.layers[-1].dtype_policy.name == f"mixed_{precision}"
    test = images[:16]
    np.testing.assert_array_equal(numpy(loaded(test)), numpy(perturber(test)))
    assert np.abs(numpy(loaded(test)) - test).max() <= 0.1 * (1 + 1e-6)


@pytest.mark.skipif(keras.backend.backend() == "torch",
                    reason="jit_compile under PyTorch is torch.compile, not XLA; it cannot "
                           "trace the universal perturber's pattern variable")
def test_xla_compiled_training_matches_graph_training(tiny_victim_model, fashion_train):
    weights = {}
    images = fashion_train[0][:96]
    for jit_compile in (False, True):
        keras.utils.set_random_seed(0)
        perturber = _perturber("universal", "linf", 0.1, None)
        trainer = GAPTrainer(perturber, [Victim(tiny_victim_model)], Untargeted())
        trainer.compile(keras.optimizers.SGD(0.1), jit_compile=jit_compile)
        trainer.fit(images, batch_size=32, epochs=1, verbose=0, shuffle=False)
        assert trainer.jit_compile is jit_compile
        weights[jit_compile] = perturber.get_weights()
    assert any(not np.allclose(a, b) for a, b in zip(
        _perturber("universal", "linf", 0.1, None).get_weights(), weights[True]))
    for graph, xla in zip(weights[False], weights[True]):
        np.testing.assert_allclose(xla, graph, rtol=1e-3, atol=1e-5)


def test_universal_program_takes_mixed_precision_and_xla(tiny_victim_path, tmp_path):
    output = tmp_path / "run"
    xla = "off" if keras.backend.backend() == "torch" else "on"  # torch has no XLA
    assert universal.main(["--victim", tiny_victim_path, "--mixed-precision", "bfloat16",
                           "--jit-compile", xla, "--output-dir", str(output), *TINY]) == 0
    config = json.loads((output / "config.json").read_text())
    assert (config["mixed_precision"], config["jit_compile"]) == ("bfloat16", xla)
    assert config["victim_weights"] is None  # a .keras victim carries its own
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["linf"] <= 0.1 + 1e-6
    assert metrics["victims"]["tiny_victim"]["weights"] == tiny_victim_path
    perturber = load_perturber(output / "perturber.keras")
    assert perturber.generator.layers[-1].dtype_policy.name == "mixed_bfloat16"
    assert keras.config.dtype_policy().name == "float32"  # the run restored the policy


def test_a_run_from_before_these_settings_still_resumes(tiny_victim_path, tmp_path):
    output = tmp_path / "run"
    argv = ["--victim", tiny_victim_path, "--output-dir", str(output), *TINY]
    assert universal.main(argv) == 0
    config_path = output / "config.json"
    old = json.loads(config_path.read_text())
    for key in ("mixed_precision", "jit_compile"):  # what an older version wrote
        old.pop(key)
    config_path.write_text(json.dumps(old))
    logged = []
    written = (output / "perturber.keras").stat().st_mtime_ns  # retraining rewrites it
    metrics_before = (output / "metrics.json").read_text()
    run_attack(parse_attack_config("universal", "", argv), log=logged.append)
    assert any("already holds a finished run" in line for line in logged)
    assert (output / "perturber.keras").stat().st_mtime_ns == written
    assert (output / "metrics.json").read_text() == metrics_before
    with pytest.raises(ValueError, match="mixed_precision"):
        universal.main([*argv, "--mixed-precision", "bfloat16"])
