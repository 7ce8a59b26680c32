"""``python -m train.evaluate``: one perturber against any victims, the transfer
table, the speed measurement and clear errors for inputs that do not fit."""

import json
import os
import subprocess
import sys

import keras
import pytest

from conftest import tiny_classifier
from conftest import train_briefly
from keras_gap.data import load_image_data
from keras_gap.perturbers import load_perturber
from keras_gap.cost.timing import measure_throughput
from keras_gap.runs.transfer import evaluate_perturber
from keras_gap.tasks import ClassificationTask
from keras_gap.victims import load_victims
from train import evaluate
from train import universal

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--epochs", "1", "--steps-per-epoch", "3", "--batch-size", "16",
        "--generator-filters", "4", "--generator-blocks", "1", "--eval-images", "200"]
EVAL_IMAGES = 200


@pytest.fixture(scope="module")
def other_victim_path(fashion_train, tmp_path_factory):
    """A second tiny victim, trained on other images with another seed."""
    keras.utils.set_random_seed(2)
    images, labels = fashion_train
    model = train_briefly(tiny_classifier(name="other"), images[6000:9000],
                          labels[6000:9000])
    path = tmp_path_factory.mktemp("victims_b") / "other.keras"
    model.save(path)
    return str(path)


@pytest.fixture(scope="module")
def two_runs(tiny_victim_path, other_victim_path, tmp_path_factory):
    """Run 1 trained on the tiny victim, run 2 on both victims (weighted)."""
    root = tmp_path_factory.mktemp("runs")
    single, ensemble = str(root / "single"), str(root / "ensemble")
    assert universal.main(["--victim", tiny_victim_path, "--output-dir", single, *TINY]) == 0
    assert universal.main(["--victim", tiny_victim_path, "--victim", other_victim_path,
                           "--loss-weight", "1", "--loss-weight", "0.5",
                           "--output-dir", ensemble, *TINY]) == 0
    return single, ensemble


def test_transfer_table_cells_equal_direct_evaluations(
        two_runs, tiny_victim_path, other_victim_path, tmp_path):
    table_dir = tmp_path / "table"
    assert evaluate.main(["--transfer", *two_runs, "--victim", tiny_victim_path,
                          "--victim", other_victim_path, "--eval-images", str(EVAL_IMAGES),
                          "--output-dir", str(table_dir), "--no-throughput"],
                         log=lambda *_: None) == 0
    assert sorted(os.listdir(table_dir)) == ["transfer.json", "transfer.md", "transfer.png"]
    table = json.loads((table_dir / "transfer.json").read_text())
    assert table["rows"] == ["tiny_victim", "tiny_victim + other"]
    assert table["columns"] == ["tiny_victim", "other"]
    assert table["seen"] == [[True, False], [True, True]]
    assert len(table["fooling_rate"]) == 2 and all(len(r) == 2 for r in table["fooling_rate"])
    assert table["num_images"] == EVAL_IMAGES
    test = load_image_data("fashion_mnist", "test", (28, 28, 1))
    for row, run in enumerate(two_runs):
        perturber = load_perturber(os.path.join(run, "perturber.keras"))
        for column, path in enumerate([tiny_victim_path, other_victim_path]):
            victims = load_victims([path], perturber.image_shape, num_classes=10)
            direct = evaluate_perturber(perturber, victims, test, ClassificationTask(),
                                        limit=EVAL_IMAGES)
            rate = direct["victims"][victims[0].name]["fooling_rate"]
            assert table["fooling_rate"][row][column] == pytest.approx(rate)
    markdown = (table_dir / "transfer.md").read_text()
    assert "| tiny_victim + other |" in markdown
    assert (table_dir / "transfer.png").read_bytes()[:4] == b"\x89PNG"


def test_one_perturber_against_victims_with_speed_and_json(
        two_runs, tiny_victim_path, other_victim_path, tmp_path):
    lines = []
    output = tmp_path / "out" / "eval.json"
    perturber_path = os.path.join(two_runs[0], "perturber.keras")
    assert evaluate.main(["--perturber", perturber_path, "--victim", tiny_victim_path,
                          "--victim", other_victim_path, "--eval-images", "100",
                          "--throughput-batch-size", "32", "--throughput-repeats", "2",
                          "--output", str(output)], log=lines.append) == 0
    result = json.loads(output.read_text())
    assert result["trained_on"] == ["tiny_victim"]  # read from config.json beside it
    assert result["num_images"] == 100 and result["linf"] <= 0.1 + 1e-6
    for name in ("tiny_victim", "other"):
        for key in ("fooling_rate", "random_noise_fooling_rate", "clean_accuracy",
                    "adversarial_accuracy"):
            assert 0.0 <= result["victims"][name][key] <= 1.0
    speed = result["throughput"]
    assert speed["batch_size"] == 32 and speed["device"]
    generator = speed["perturbers"]["perturber"]
    assert generator["ms_per_image"] > 0
    assert generator["images_per_second"] == pytest.approx(1000 / generator["ms_per_image"])
    assert set(speed["victims"]) == {"tiny_victim", "other"}
    assert set(speed["perturber_to_victim_ratio"]["perturber"]) == {"tiny_victim", "other"}
    text = "\n".join(lines)
    rows = {line.split("|")[1].strip(): line for line in text.splitlines()
            if line.startswith("| ")}
    assert "| no |" in rows["other"] and "| yes |" in rows["tiny_victim"]  # trained on it
    assert "ms/image" in text and not [n for n in os.listdir(output.parent) if ".tmp" in n]


def test_throughput_counts_images_of_the_stated_batch(tiny_victim_model):
    from keras_gap import Victim
    from keras_gap.perturbers import build_perturber

    perturber = build_perturber("image_dependent", "resnet", (28, 28, 1), "linf", 0.1,
                                filters=4, num_residual_blocks=1)
    speed = measure_throughput(perturber, [Victim(tiny_victim_model, name="v")],
                               batch_size=8, warmup=1, repeats=3)
    timing = speed["perturbers"]["perturber"]
    assert timing["batch_size"] == 8 and timing["repeats"] == 3
    assert timing["ms_per_image"] == pytest.approx(1000 * timing["seconds_per_batch"] / 8)
    assert speed["perturber_to_victim_ratio"]["perturber"]["v"] == pytest.approx(
        timing["ms_per_image"] / speed["victims"]["v"]["ms_per_image"])


def test_a_file_that_is_not_a_perturber_is_refused(tiny_victim_path, tmp_path):
    garbage = tmp_path / "perturber.keras"
    garbage.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="not a readable .keras perturber"):
        evaluate.main(["--perturber", str(garbage), "--victim", tiny_victim_path])
    with pytest.raises(ValueError, match="not a keras_gap perturber"):
        evaluate.main(["--perturber", tiny_victim_path, "--victim", tiny_victim_path])
    with pytest.raises(ValueError, match="holds no config.json"):
        evaluate.main(["--transfer", str(tmp_path), "--victim", tiny_victim_path])


def test_a_victim_of_another_input_shape_is_refused(two_runs, tiny_victim_path, tmp_path):
    rgb = tmp_path / "rgb32.keras"
    tiny_classifier(input_shape=(32, 32, 3), name="rgb32").save(rgb)
    perturber_path = os.path.join(two_runs[0], "perturber.keras")
    with pytest.raises(ValueError, match=r"\(32, 32, 3\).*\(28, 28, 1\)"):
        evaluate.main(["--perturber", perturber_path, "--victim", str(rgb)])
    with pytest.raises(ValueError, match=r"\(32, 32, 3\).*\(28, 28, 1\)"):
        evaluate.main(["--transfer", *two_runs, "--victim", tiny_victim_path,
                       "--victim", str(rgb), "--output-dir", str(tmp_path / "t")])
    assert not os.path.exists(tmp_path / "t")  # refused before writing anything


def test_the_program_reports_bad_input_in_one_line(tmp_path):
    garbage = tmp_path / "broken.keras"
    garbage.write_bytes(b"not a zip file")
    result = subprocess.run(
        [sys.executable, "-m", "train.evaluate", "--perturber", str(garbage),
         "--victim", "small_cnn"],
        cwd=REPOSITORY, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "broken.keras" in errors[0], result.stderr
    assert "Traceback" not in result.stderr
