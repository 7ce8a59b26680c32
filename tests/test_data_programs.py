"""The data checks as the training programs apply them: bad files counted or
refused, class counts and splits checked before anything is written, and a
Cityscapes labelIds PNG accepted as ``--target-map``."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from keras_gap.data.target_maps import load_target_map
from keras_gap.data.target_maps import resolve_target_map_spec
from train import universal

TINY = ["--epochs", "1", "--steps-per-epoch", "2", "--batch-size", "8",
        "--generator-filters", "4", "--generator-blocks", "1"]


def _folder(root, classes, bad=True):
    """``train/`` with 3 images per class (and 2 bad files), ``val/`` with 1."""
    rng = np.random.default_rng(0)
    for split, count in (("train", 3), ("val", 1)):
        for label in range(classes):
            folder = root / split / f"class{label}"
            os.makedirs(folder, exist_ok=True)
            for i in range(count):
                pixels = rng.integers(0, 256, (30, 30, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.png")
    if bad:
        (root / "train" / "class0" / "empty.jpg").write_bytes(b"")
        os.symlink(str(root / "nowhere.png"), str(root / "train" / "class1" / "gone.png"))
    return f"folder:{root}"


def test_a_run_skips_bad_files_and_reports_them(tiny_victim_path, tmp_path, capsys):
    output = tmp_path / "run"
    argv = ["--victim", tiny_victim_path, "--dataset", _folder(tmp_path / "data", 10),
            "--output-dir", str(output), *TINY]
    assert universal.main(argv) == 0
    printed = capsys.readouterr().out
    assert "train: skipped 2 file(s) that are not readable images" in printed
    assert "empty file" in printed and "held-out validation images" in printed
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["split"] == "validation" and metrics["num_images"] == 10
    assert metrics["skipped_files"] == {"train": 2, "validation": 0}


def test_bad_files_can_be_refused_before_anything_is_written(tiny_victim_path, tmp_path):
    output = tmp_path / "run"
    argv = ["--victim", tiny_victim_path, "--dataset", _folder(tmp_path / "data", 10),
            "--output-dir", str(output), "--refuse-bad-images", *TINY]
    with pytest.raises(ValueError, match=r"holds 2 file\(s\) that are not readable images"):
        universal.main(argv)
    assert not output.exists()


def test_class_count_and_split_are_checked_before_anything_is_written(
        tiny_victim_path, tmp_path):
    output = tmp_path / "run"
    base = ["--victim", tiny_victim_path, "--output-dir", str(output), *TINY]
    with pytest.raises(ValueError, match="has 3 classes but victim tiny_victim predicts 10"):
        universal.main(base + ["--dataset", _folder(tmp_path / "three", 3, bad=False)])
    with pytest.raises(ValueError, match="no test split .*train, validation"):
        universal.main(base + ["--dataset", _folder(tmp_path / "ten", 10, bad=False),
                               "--split", "test"])
    assert not output.exists()


def test_cityscapes_target_map_spec(tmp_path):
    label_ids = np.full((64, 128), 7, np.uint8)  # all road
    label_ids[:, 64:] = 26  # right half car
    path = tmp_path / "frankfurt_000000_000294_gtFine_labelIds.png"
    Image.fromarray(label_ids, mode="L").save(path)
    spec = resolve_target_map_spec(f"cityscapes:{path}")
    assert spec == f"cityscapes:{os.path.abspath(path)}"
    target = load_target_map(spec, shape=(32, 64))
    assert target.shape == (32, 64)
    assert (target[:, :32] == 0).all() and (target[:, 32:] == 13).all()
    with pytest.raises(ValueError, match="Cityscapes label map not found"):
        resolve_target_map_spec(f"cityscapes:{tmp_path / 'missing.png'}")
