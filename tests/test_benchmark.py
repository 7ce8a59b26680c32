"""The benchmark program on a tiny budget: matched budgets, samples, costs."""

import json
import os
from types import SimpleNamespace

import keras
import numpy as np
import pytest

from keras_gap.data import load_image_data
from keras_gap.runs.benchmark import BenchmarkConfig
from keras_gap.runs.benchmark import available_methods
from keras_gap.runs.benchmark import budget_lines
from keras_gap.runs.benchmark import sample_images
from keras_gap.runs.benchmark_methods import DATA_DRIVEN
from keras_gap.runs.benchmark_methods import BenchmarkMethod
from keras_gap.runs.benchmark_methods import Built
from keras_gap.runs.benchmark_methods import METHODS
from keras_gap.runs.benchmark_methods import StopAfter
from train.benchmark import main

TINY = ["--train-steps", "2", "--batch-size", "16", "--generator-filters", "4",
        "--generator-blocks", "1", "--uap-passes", "1", "--eval-images", "40",
        "--eval-batch-size", "20"]


@pytest.fixture(scope="module")
def victim_path(tiny_victim_path):
    """The session's tiny conv net, saved as .keras."""
    return tiny_victim_path


def test_benchmark_matches_budgets_and_reports_costs(victim_path, tmp_path, capsys):
    output_dir = tmp_path / "bench"
    assert main(["--victim", victim_path, "--epsilons", "0.05,0.1", "--train-images", "48",
                 "--output-dir", str(output_dir), *TINY]) == 0
    with open(output_dir / "benchmark.json") as handle:
        report = json.load(handle)
    rows, budgets = report["rows"], report["budgets"]
    methods = available_methods()
    assert set(METHODS) <= set(methods)
    assert {(r["method"], r["epsilon"]) for r in rows} == {
        (m, e) for m in methods for e in (0.05, 0.1)}
    assert budgets["train_images"] == 48 and budgets["test_images"] == 40
    assert budgets["train_steps"] == {"gap_universal": 2, "gap_image_dependent": 2}
    assert budgets["time_budget"] is None
    # Each GAP kind's own defaults, as its train program: the image-dependent
    # generator's weights are averaged, the universal one's are not.
    assert budgets["gap_settings"]["gap_image_dependent"]["ema_momentum"] == 0.99
    assert budgets["gap_settings"]["gap_universal"]["ema_momentum"] == 0.0
    assert budgets["gap_settings"]["gap_universal"]["train_steps"] == 2
    for row in rows:
        assert 0.0 <= row["fooling_rate"] <= 1.0 and row["ms_per_image"] > 0
        assert row["train_images"] == (48 if row["method"] in DATA_DRIVEN else None)
        assert row["flops_per_image"] > 0
    by_method = {r["method"]: r for r in rows if r["epsilon"] == 0.1}
    forward = budgets["victim_forward_flops"]
    assert by_method["fgsm"]["flops_per_image"] == 3 * forward
    assert by_method["pgd10"]["flops_per_image"] == 30 * forward
    assert by_method["gap_image_dependent"]["budget_used"] == "2 steps of 16"
    # Adding a ready δ costs a few FLOPs per pixel, the generator far more.
    assert by_method["gap_universal"]["flops_per_image"] == 3 * 28 * 28
    assert by_method["gap_image_dependent"]["flops_per_image"] > 100 * 28 * 28
    table = (output_dir / "benchmark.md").read_text()
    assert "Training images: the same 48 drawn at random (seed 0)" in table
    assert "Test images: 40 drawn at random (seed 0)" in table
    assert "GAP 2 steps (gap_universal), 2 steps (gap_image_dependent), batch 16" in table
    assert all(f"| {m} | 0.1 |" in table for m in methods)
    assert os.path.getsize(output_dir / "benchmark.png") > 1000
    assert f"[{len(rows)}/{len(rows)}]" in capsys.readouterr().out


def test_time_budget_replaces_steps_and_passes(victim_path, tmp_path):
    output_dir = tmp_path / "timed"
    assert main(["--victim", victim_path, "--epsilons", "0.1", "--train-images", "32",
                 "--time-budget", "0.5", "--methods", "gap_image_dependent,uap,fgsm",
                 "--output-dir", str(output_dir), *TINY]) == 0
    report = json.loads((output_dir / "benchmark.json").read_text())
    assert report["budgets"]["time_budget"] == 0.5
    assert report["budgets"]["train_steps"] is None
    assert report["budgets"]["gap_settings"]["gap_image_dependent"]["train_steps"] is None
    assert list(report["budgets"]["gap_settings"]) == ["gap_image_dependent"]
    gap = report["rows"][0]
    assert gap["budget_used"].endswith("steps of 16")
    assert "until the time budget" in report["rows"][1]["budget_used"]
    table = (output_dir / "benchmark.md").read_text()
    assert "the same wall-clock budget of 0.5 s per method" in table


def test_stop_after_ends_fit_once_its_seconds_are_spent():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    data = np.zeros((64, 2), np.float32), np.zeros((64, 1), np.float32)
    stopped = StopAfter(0.0)
    model.fit(*data, batch_size=1, epochs=1, verbose=0, callbacks=[stopped])
    assert stopped.steps == 1
    unlimited = StopAfter(None)
    model.fit(*data, batch_size=1, epochs=1, verbose=0, callbacks=[unlimited])
    assert unlimited.steps == 64


def test_samples_are_seeded_random_and_not_the_first_images():
    test = load_image_data("fashion_mnist", "test")
    first, _ = sample_images(test, 30, seed=0)
    again, labels = sample_images(test, 30, seed=0)
    other, _ = sample_images(test, 30, seed=1)
    head = next(iter(test.dataset(30)))[0].numpy()
    np.testing.assert_array_equal(first, again)
    assert first.shape == (30, 28, 28, 1) and labels.shape == (30,)
    assert not np.array_equal(first, other) and not np.array_equal(first, head)
    assert len(np.unique(labels)) > 3


@pytest.mark.parametrize("argv, message", [
    (["--epsilons", "0.1,-0.2"], "epsilon must be finite and > 0, got '-0.2'"),
    (["--methods", "fgsm,magic"], "unknown method(s) ['magic']"),
    (["--train-steps", "0"], "must be an integer >= 1, got '0'"),
    (["--train-images", "0"], "must be an integer >= 1, got '0'"),
    (["--time-budget", "-1"], "must be a finite number > 0, got '-1'"),
    (["--generator", "gan"], "invalid choice: 'gan'"),
])
def test_bad_arguments_raise_clear_errors(victim_path, tmp_path, argv, message):
    with pytest.raises(ValueError) as error:
        main(["--victim", victim_path, "--output-dir", str(tmp_path)] + argv)
    assert message in str(error.value)


def test_the_header_states_each_gap_kinds_own_defaults_and_only_the_methods_run():
    bench = SimpleNamespace(test_images=np.zeros((40, 28, 28, 1)),
                            train_images=np.zeros((48, 28, 28, 1)), test_split="test",
                            victim=SimpleNamespace(input_shape=(28, 28, 1)))
    config = BenchmarkConfig(victim="victim.keras", output_dir="out")
    text = "\n".join(budget_lines(config, bench, ("gap_image_dependent", "fgsm")))
    assert "Compute: GAP 4,000 steps (gap_image_dependent), batch 64." in text
    assert ("gap_image_dependent: separable_resnet generator (filters 32, num residual "
            "blocks 4), Adam learning rate 0.001, β₁ 0.5, weights averaged (EMA momentum "
            "0.99).") in text
    assert "UAP" not in text and "gap_universal" not in text
    text = "\n".join(budget_lines(config, bench, ("gap_universal", "uap")))
    assert "GAP 500 steps (gap_universal), batch 64; UAP and ART's UAP at most 2 passes" in text
    assert "gap_universal: resnet generator (filters 32, num residual blocks 3), " \
           "Adam learning rate 0.0002, β₁ 0.5.\n" in text + "\n"
    chosen = BenchmarkConfig(victim="victim.keras", output_dir="out", generator="unet",
                             train_steps=7, learning_rate=0.01, ema_momentum=0.0)
    assert chosen.gap_settings("universal") == chosen.gap_settings("image_dependent") == (
        "unet", 7, 0.01, 0.0)
    averaged = BenchmarkConfig(victim="victim.keras", output_dir="out", ema_momentum=0.9)
    assert averaged.gap_settings("universal").ema_momentum == 0.9


class GaussianNoise(BenchmarkMethod):
    """The example of docs/benchmarks.md's "Adding a baseline", as written there."""

    name = "gaussian"
    description = "Gaussian noise clipped to the L∞ budget, a second floor"

    def build(self, bench, epsilon):
        def attack(images, index):
            rng = np.random.default_rng(bench.config.seed + index)
            noise = np.clip(rng.normal(0.0, epsilon, images.shape), -epsilon, epsilon)
            return np.clip(images + noise, 0.0, 1.0).astype("float32")

        return Built(0.0, attack, 3 * bench.pixels, "none")


def test_a_new_baseline_is_one_class_and_its_registry_entry(victim_path, tmp_path, monkeypatch,
                                                             capsys):
    monkeypatch.setitem(METHODS, GaussianNoise.name, GaussianNoise())
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "gaussian (Gaussian noise clipped to the L∞ budget" in " ".join(
        capsys.readouterr().out.split())
    output_dir = tmp_path / "gaussian"
    assert main(["--victim", victim_path, "--epsilons", "0.1", "--methods", "gaussian,random",
                 "--output-dir", str(output_dir), *TINY]) == 0
    rows = json.loads((output_dir / "benchmark.json").read_text())["rows"]
    gaussian = next(row for row in rows if row["method"] == "gaussian")
    assert gaussian["flops_per_image"] == 3 * 28 * 28 and gaussian["budget_used"] == "none"
    assert 0.0 <= gaussian["fooling_rate"] <= 1.0
    assert "| gaussian | 0.1 |" in (output_dir / "benchmark.md").read_text()
