"""python -m train.targeted_protocol: one targeted run per sampled class."""

import json
import os

import pytest

from keras_gap.runs.attack_config import AttackConfig
from keras_gap.runs.targeted_protocol import sample_classes
from train import targeted_protocol

TINY = ["--epochs", "1", "--steps-per-epoch", "2", "--batch-size", "16",
        "--generator-filters", "4", "--generator-blocks", "1", "--eval-images", "100"]


def test_class_sample_is_seeded_distinct_and_checked():
    first = sample_classes(10, 4, seed=3)
    assert first == sample_classes(10, 4, seed=3)
    assert len(set(first)) == 4 and all(0 <= c < 10 for c in first)
    assert first != sample_classes(10, 4, seed=4)
    assert sorted(sample_classes(10, 10, seed=0)) == list(range(10))
    with pytest.raises(ValueError, match="got 11"):
        sample_classes(10, 11, seed=0)


def test_protocol_reports_each_class_and_the_average_and_resumes(tiny_victim_path, tmp_path):
    output = tmp_path / "protocol"
    argv = ["--victim", tiny_victim_path, "--classes", "2", "--sample-seed", "1",
            "--reduction", "batch_mean", "--output-dir", str(output), *TINY]
    assert targeted_protocol.main(argv) == 0
    report = json.loads((output / "protocol.json").read_text())
    classes = sample_classes(10, 2, seed=1)
    assert report["classes"] == classes and report["complete"]
    assert [row["class"] for row in report["per_class"]] == classes
    success = [row["target_success_rate"] for row in report["per_class"]]
    assert report["average_target_success_rate"] == pytest.approx(sum(success) / 2)
    for target in classes:
        config = json.loads((output / f"class_{target}" / "config.json").read_text())
        assert (config["objective"], config["target_class"]) == ("targeted", target)
        assert config["reduction"] == "batch_mean"
    markdown = (output / "protocol.md").read_text()
    assert "**average**" in markdown and f"| {classes[0]} |" in markdown
    # Re-running reads the finished classes back instead of training again.
    stamps = {t: os.path.getmtime(output / f"class_{t}" / "perturber.keras") for t in classes}
    assert targeted_protocol.main(argv) == 0
    assert stamps == {
        t: os.path.getmtime(output / f"class_{t}" / "perturber.keras") for t in classes}


def test_protocol_resumes_after_the_finished_classes(tiny_victim_path, tmp_path):
    output = tmp_path / "partial"
    common = ["--victim", tiny_victim_path, "--sample-seed", "2",
              "--output-dir", str(output), *TINY]
    assert targeted_protocol.main(["--classes", "1", *common]) == 0
    first = sample_classes(10, 2, seed=2)[0]
    stamp = os.path.getmtime(output / f"class_{first}" / "perturber.keras")
    assert targeted_protocol.main(["--classes", "2", *common]) == 0
    assert os.path.getmtime(output / f"class_{first}" / "perturber.keras") == stamp
    assert json.loads((output / "protocol.json").read_text())["complete"]


def test_too_many_classes_are_refused_before_anything_is_written(tiny_victim_path, tmp_path):
    with pytest.raises(ValueError, match="between 1 and the victim's 10, got 12"):
        targeted_protocol.main(["--victim", tiny_victim_path, "--classes", "12",
                                "--output-dir", str(tmp_path / "out"), *TINY])
    assert not os.path.exists(tmp_path / "out")


def test_image_dependent_protocol_takes_the_image_dependent_defaults():
    # The parser once took its defaults from the universal kind whatever --kind said,
    # so an image-dependent protocol trained with the universal generator and schedule.
    config = targeted_protocol.protocol_of(["--kind", "image_dependent"])[0]
    defaults = AttackConfig(kind="image_dependent")
    assert (config.kind, config.generator, config.epochs, config.learning_rate,
            config.ema_momentum) == ("image_dependent", defaults.generator, defaults.epochs,
                                     defaults.learning_rate, defaults.ema_momentum)
    assert config.generator != AttackConfig(kind="universal").generator
    universal = targeted_protocol.protocol_of(["--epochs", "3"])[0]
    assert (universal.kind, universal.epochs) == ("universal", 3)
