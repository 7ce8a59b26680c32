"""``--objective cda|ltp|bia``, ``--feature-layer`` and ``--projection``
through the training programs, their config.json and the transfer table."""

import json

import pytest

from keras_gap.runs.run_directory import load_run
from keras_gap.runs.transfer import transfer_markdown
from keras_gap.runs.transfer import transfer_table
from keras_gap.layers import ClipProjection
from keras_gap.layers import LinfProjection
from keras_gap.perturbers import load_perturber
from keras_gap.victims import load_victim
from train import image_dependent
from train import universal

TINY = ["--generator-filters", "4", "--generator-blocks", "1", "--steps-per-epoch", "3",
        "--batch-size", "16", "--eval-images", "64", "--epochs", "1"]


def test_feature_objective_run_records_its_layer_and_clips(tiny_victim_path, tmp_path):
    layer = load_victim(tiny_victim_path).feature_layer_names[0]
    output = tmp_path / "ltp"
    argv = ["--victim", tiny_victim_path, "--objective", "ltp", "--feature-layer", layer,
            "--output-dir", str(output), *TINY]
    assert universal.main(argv) == 0
    config = json.loads((output / "config.json").read_text())
    assert config["objective"] == "ltp"
    assert config["feature_layers"] == [layer]
    assert config["projection"] == "clip"  # auto: CDA, LTP and BIA clip
    assert isinstance(load_perturber(output / "perturber.keras").projection, ClipProjection)
    run = load_run(output)
    assert run.description == f"universal ltp @{layer} linf ε 0.1 clip"
    table = transfer_table([run], [load_victim(tiny_victim_path)], limit=64)
    markdown = transfer_markdown(table)
    assert "| random ±ε noise | floor of universal linf ε 0.1 |" in markdown
    floor = table["runs"][0]["metrics"]["victims"]["tiny_victim"]["random_noise_fooling_rate"]
    assert table["noise_floor"] == {"universal linf ε 0.1": [floor]}


@pytest.mark.parametrize("objective,projection,expected", [
    ("cda", "auto", ClipProjection), ("cda", "scale", LinfProjection),
    ("untargeted", "clip", ClipProjection), ("untargeted", "auto", LinfProjection)])
def test_projection_flag(objective, projection, expected, tiny_victim_path, tmp_path):
    output = tmp_path / "run"
    argv = ["--victim", tiny_victim_path, "--objective", objective, "--projection",
            projection, "--output-dir", str(output), *TINY]
    assert image_dependent.main(argv) == 0
    assert isinstance(load_perturber(output / "perturber.keras").projection, expected)


def test_a_run_directory_from_before_these_flags_still_resumes(tiny_victim_path, tmp_path):
    output = tmp_path / "run"
    argv = ["--victim", tiny_victim_path, "--output-dir", str(output), *TINY]
    assert universal.main(argv) == 0
    config_path = output / "config.json"
    config = json.loads(config_path.read_text())
    for key in ("feature_layers", "projection"):
        del config[key]  # what an older version wrote
    config_path.write_text(json.dumps(config))
    assert universal.main(argv) == 0  # found as the same, finished run


def test_rows_of_sweep_cells_are_told_apart_by_their_parent_folder(tmp_path):
    from types import SimpleNamespace

    from keras_gap.runs.run_directory import Run
    from keras_gap.runs.transfer import _unique_labels

    def run(directory, **config):
        return Run(str(tmp_path / directory), {"kind": "universal", "objective": "cda",
                                                "norm": "linf", "epsilon": 0.1, **config},
                   SimpleNamespace(kind="universal", norm="linf"), ["small_cnn"], "small_cnn")

    runs = [run("sweep/objective_cda/small_cnn"), run("sweep/objective_bia/small_cnn"),
            run("other/x/small_cnn"), run("alone", input_diversity=0.5)]
    assert _unique_labels(runs) == [
        "small_cnn [objective_cda/small_cnn]", "small_cnn [objective_bia/small_cnn]",
        "small_cnn [x/small_cnn]", "small_cnn [alone]"]
    assert runs[3].description == "universal cda linf ε 0.1 DI 0.5"
    assert runs[0].description == "universal cda linf ε 0.1"
