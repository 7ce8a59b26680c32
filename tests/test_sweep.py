"""python -m train.sweep: candidates side by side on several victims, resumable."""

import json
import os
import shutil

import keras
import numpy as np
import pytest
from keras import ops

from keras_gap import baselines
from keras_gap.data import load_image_data
from keras_gap.objectives import OBJECTIVES
from keras_gap.objectives import Targeted
from keras_gap.victims import load_victim
from keras_gap.runs import sweep_cost
from keras_gap.runs.sweep import Candidate
from keras_gap.runs.sweep import sweep_report
from keras_gap.runs.attack_config import AttackConfig
from train import sweep

TINY = ["--epochs", "1", "--steps-per-epoch", "2", "--batch-size", "16",
        "--generator-filters", "4", "--generator-blocks", "1", "--eval-images", "64"]


@pytest.fixture(scope="module")
def two_victims(tiny_victim_path, tmp_path_factory):
    folder = tmp_path_factory.mktemp("sweep_victims")
    paths = [str(folder / "first.keras"), str(folder / "second.keras")]
    for path in paths:
        shutil.copy(tiny_victim_path, path)
    return paths


def test_sweep_runs_every_candidate_on_every_victim_writes_the_table_and_resumes(
        two_victims, tmp_path):
    output = tmp_path / "sweep"
    argv = ["--objective", "targeted", "--target-class", "3", *TINY,
            "--victim", two_victims[0], "--victim", two_victims[1],
            "--candidate", "", "--candidate", "--reduction batch_mean",
            "--candidate", "--objective targeted_margin",
            "--output-dir", str(output)]
    assert sweep.main(argv) == 0
    report = json.loads((output / "sweep.json").read_text())
    assert report["complete"] and report["score"] == "target_success_rate"
    assert [row["candidate"] for row in report["candidates"]] == [
        "defaults", "--reduction batch_mean", "--objective targeted_margin"]
    folders = {"defaults": (Targeted.default_reduction, "targeted"),
               "reduction_batch_mean": ("batch_mean", "targeted"),
               "objective_targeted_margin": (None, "targeted_margin")}
    for row in report["candidates"]:
        assert set(row["scores"]) == {"first", "second"}
        for name in ("first", "second"):
            directory = output / row["directory"] / name
            config = json.loads((directory / "config.json").read_text())
            metrics = json.loads((directory / "metrics.json").read_text())
            assert (config["reduction"], config["objective"]) == folders[row["directory"]]
            assert config["victims"] == [os.path.abspath(two_victims[name == "second"])]
            assert (config["steps_per_epoch"], config["target_class"]) == (2, 3)
            assert row["scores"][name] == metrics["target_success_rate"]
        assert row["mean"] == pytest.approx(sum(row["scores"].values()) / 2)
    best = {name: max(r["scores"][name] for r in report["candidates"])
            for name in ("first", "second")}
    for row in report["candidates"]:
        assert row["worst_shortfall"] == pytest.approx(
            max(best[n] - row["scores"][n] for n in best))
    assert report["best_on_average"] == max(
        report["candidates"], key=lambda r: r["mean"])["candidate"]
    table = (output / "sweep.md").read_text()
    assert "| `--reduction batch_mean` |" in table and "Best on average" in table
    # Re-running reads every finished run back instead of training it again.
    stamps = sorted((p, os.path.getmtime(p)) for p in output.glob("*/*/perturber.keras"))
    assert len(stamps) == 6
    assert sweep.main(argv) == 0
    assert stamps == sorted((p, os.path.getmtime(p)) for p in output.glob("*/*/perturber.keras"))


def test_an_interrupted_sweep_reports_what_is_missing():
    configs = [Candidate("defaults", AttackConfig()),
               Candidate("--learning-rate 0.001", AttackConfig(learning_rate=1e-3))]
    cells = {("defaults", "a"): {"fooling_rate": 0.5, "random_noise_fooling_rate": 0.1,
                                 "train_seconds": 3.0},
             ("defaults", "b"): {"fooling_rate": 0.7, "random_noise_fooling_rate": 0.2},
             ("--learning-rate 0.001", "a"): {"fooling_rate": 0.6}}
    report = sweep_report(configs, ["a", "b"], cells)
    assert not report["complete"] and "best_on_average" not in report
    assert report["noise_floor"] == {"a": 0.1, "b": 0.2}
    first, second = report["candidates"]
    assert first["mean"] == pytest.approx(0.6) and "worst_shortfall" not in first
    assert "mean" not in second and second["scores"] == {"a": 0.6}


@pytest.mark.parametrize("extra, message", [
    (["--candidate", "--victim other.keras"], "sets --victim"),
    (["--candidate=--output-dir=x"], "sets --output-dir"),
    (["--candidate", "", "--candidate", ""], "given twice"),
    (["--candidate", "--learning-rate 0"], "--learning-rate: must be a finite number > 0"),
    (["--candidate", "", "--candidate", "--objective targeted --target-class 3"],
     "one score"),
    (["--objective", "targeted", "--target-class", "3",
      "--candidate", "", "--candidate", "--objective untargeted --target-class 3"],
     "only applies"),
    (["--target-class", "3", "--objective", "targeted",
      "--candidate", "", "--candidate", "--objective cda"], "only applies"),
])
def test_bad_candidates_are_refused_before_anything_is_written(
        two_victims, tmp_path, extra, message):
    output = tmp_path / "out"
    with pytest.raises(ValueError, match=message):
        sweep.main(["--victim", two_victims[0], "--output-dir", str(output), *TINY, *extra])
    assert not output.exists()


def test_two_victims_with_one_name_are_refused(two_victims, tmp_path):
    copy = tmp_path / "elsewhere" / "first.keras"
    copy.parent.mkdir()
    shutil.copy(two_victims[0], copy)
    with pytest.raises(ValueError, match="named 'first'"):
        sweep.main(["--victim", two_victims[0], "--victim", str(copy),
                    "--output-dir", str(tmp_path / "out"), *TINY])
    assert not (tmp_path / "out").exists()


def test_image_dependent_sweep_takes_the_image_dependent_defaults():
    candidates, victims, output_dir, cost = sweep.candidates_of(
        ["--kind", "image_dependent", "--candidate", "", "--candidate", "--epochs 3"],
        "image_dependent")
    defaults = AttackConfig(kind="image_dependent")
    first, second = (c.config for c in candidates)
    assert (first.kind, first.generator, first.epochs) == (
        "image_dependent", defaults.generator, defaults.epochs)
    assert (second.epochs, second.generator) == (3, defaults.generator)
    assert (victims, output_dir, cost) == ([], None, False)


def test_cost_half_times_every_run_beside_pgd10_scored_on_the_same_images(
        two_victims, tmp_path):
    output = tmp_path / "sweep"
    argv = ["--kind", "image_dependent", *TINY, "--victim", two_victims[0],
            "--victim", two_victims[1], "--cost", "--output-dir", str(output)]
    assert sweep.main(argv) == 0
    report = json.loads((output / "sweep.json").read_text())
    reference = report["cost"]["reference"]
    assert set(reference) == {"first", "second"}
    # PGD-10's score is that of PGD-10 run by hand on the runs' evaluation images.
    victim = load_victim(two_victims[0])
    images, _ = next(iter(load_image_data("fashion_mnist", "test").dataset(64, limit=64)))
    clean = np.argmax(ops.convert_to_numpy(victim.logits(images)), -1)
    adversarial = baselines.pgd(victim, images, 0.1, "linf", steps=10)
    fooled = np.argmax(ops.convert_to_numpy(victim.logits(adversarial)), -1) != clean
    assert reference["first"]["num_images"] == 64
    assert reference["first"]["fooling_rate"] == pytest.approx(float(np.mean(fooled)))
    for row in report["candidates"]:
        times = report["cost"]["ms_per_image"][row["candidate"]]
        against = report["against_reference"][row["candidate"]]
        for name in ("first", "second"):
            assert times[name] > 0
            assert against["times_cheaper"][name] == pytest.approx(
                reference[name]["ms_per_image"] / times[name])
            assert against["below_reference"][name] == pytest.approx(
                reference[name]["fooling_rate"] - row["scores"][name])
    table = (output / "sweep.md").read_text()
    assert "× cheaper than PGD-10" in table and "| PGD-10 (fooling_rate) |" in table
    # A re-run re-times but neither retrains a run nor re-scores PGD-10.
    stored = output / "pgd10" / "first" / "reference.json"
    stamps = [os.path.getmtime(p) for p in [stored, *sorted(output.glob("*/*/perturber.keras"))]]
    assert sweep.main(argv) == 0
    assert stamps == [os.path.getmtime(p)
                      for p in [stored, *sorted(output.glob("*/*/perturber.keras"))]]


def test_an_impossibly_fast_pgd10_time_is_re_timed_then_refused(tiny_victim_path):
    victim = load_victim(tiny_victim_path)
    images = np.random.default_rng(0).uniform(
        0.0, 1.0, (64,) + tuple(victim.input_shape)).astype(np.float32)
    calls = []

    def instant(batch):  # "PGD-10" that does nothing: faster than one forward pass
        calls.append(batch.shape[0])
        return batch

    with pytest.raises(RuntimeError, match=r"PGD-10 was timed at .* on victim .* under 5 of "
                                           r"its forward passes .* no cost table was written"):
        sweep_cost.time_reference(instant, victim, images)
    assert len(calls) == 2 * (sweep_cost.WARMUP + sweep_cost.REPEATS)  # re-timed once
    real = sweep_cost.IterativeReference(victim, "linf", 0.1, "untargeted")
    assert sweep_cost.time_reference(real, victim, images)["ms_per_image"] > 0


def test_pgd10_reference_aims_where_each_objective_aims():
    aims = {name: cls.baseline_objective for name, cls in OBJECTIVES.items()}
    assert aims["untargeted"] == "untargeted" and aims["least_likely"] == "least_likely"
    assert aims["targeted"] == aims["targeted_margin"] == "targeted"
    assert set(aims.values()) <= set(baselines.gradient_attacks.OBJECTIVES)


def test_cost_refuses_a_segmenter_before_anything_is_written(tmp_path):
    inputs = keras.Input((64, 128, 1))
    segmenter = keras.Model(inputs, keras.layers.Conv2D(3, 1)(inputs))
    path = str(tmp_path / "segmenter.keras")
    segmenter.save(path)
    output = tmp_path / "out"
    with pytest.raises(ValueError, match="--cost compares classifiers .* is a segmenter"):
        sweep.main(["--victim", path, "--dataset", "fashion_scenes", *TINY, "--cost",
                    "--output-dir", str(output)])
    assert not output.exists()
