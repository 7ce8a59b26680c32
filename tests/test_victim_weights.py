"""Weights of Keras Applications victims on every program that loads one.

A local weights file gives exactly what Keras itself computes with that file
(and not what random weights give); random weights are only used when asked
for; every report names the weights each victim had.
"""

import json
import os

import keras
import numpy as np
import pytest
from PIL import Image

from keras_gap.cli import run_program
from keras_gap.data import load_image_data
from keras_gap.perturbers import build_perturber
from keras_gap.perturbers import load_perturber
from keras_gap.victims import load_victim
from keras_gap.victims import resolve_victim_weights
from train import benchmark
from train import evaluate
from train import universal

SHAPE = (32, 32, 3)
CLASSES = 1000  # an ImageNet head: the folder's classes are ImageNet's
# The first ten ImageNet classes by WordNet id: Keras Applications outputs 0-9.
WORDNET_IDS = ("n01440764", "n01443537", "n01484850", "n01491361", "n01494475",
               "n01496331", "n01498041", "n01514668", "n01514859", "n01518878")
HELD_OUT_PER_CLASS = 3


def test_weights_are_matched_to_the_applications_victims_in_order(tmp_path):
    weights_file = tmp_path / "r50.weights.h5"
    weights_file.write_bytes(b"")
    specs = ["a.keras", "vgg16", "resnet50"]
    assert resolve_victim_weights(specs) == [None, "imagenet", "imagenet"]
    assert resolve_victim_weights(specs, ["none", str(weights_file)]) == [
        None, "random", str(weights_file)]
    assert resolve_victim_weights(["vgg16"], "Random") == ["random"]
    with pytest.raises(ValueError, match=r"got 1 --victim-weights value\(s\) for 2 Keras "
                                         r"Applications victim\(s\) \(vgg16, resnet50\)"):
        resolve_victim_weights(specs, ["imagenet"])
    with pytest.raises(ValueError, match="got 3"):
        resolve_victim_weights(specs, ["imagenet"] * 3)
    with pytest.raises(ValueError, match="none of the victims is one"):
        resolve_victim_weights(["a.keras"], ["imagenet"])
    with pytest.raises(ValueError, match="missing.weights.h5"):
        resolve_victim_weights(["vgg16"], [str(tmp_path / "missing.weights.h5")])


def test_imagenet_weights_on_a_smaller_head_are_refused_before_any_download():
    # Fashion-MNIST gives an Applications victim a 10-class head.
    with pytest.raises(ValueError, match="ImageNet weights give victim mobilenet_v2 1000 "
                                         "classes, but this data has 10"):
        load_victim("mobilenet_v2", input_shape=SHAPE, num_classes=10)


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    """10 ImageNet classes of 32 × 32 RGB PNGs: 2 training and 3 held-out
    images each (labels 0-9 both as sorted folders and as ImageNet ids)."""
    root = tmp_path_factory.mktemp("folder")
    rng = np.random.default_rng(0)
    for wnid in WORDNET_IDS:
        tint = rng.uniform(0.2, 0.8, 3)
        for split, count in (("train", 2), ("test", HELD_OUT_PER_CLASS)):
            os.makedirs(root / split / wnid, exist_ok=True)
            for index in range(count):
                image = np.clip(tint + rng.normal(0, 0.2, SHAPE), 0, 1)
                Image.fromarray((image * 255).astype(np.uint8)).save(
                    root / split / wnid / f"{index}.png")
    return str(root)


def _held_out(root):
    data = load_image_data(f"folder:{root}", "test", SHAPE)
    batches = list(data.dataset(100))
    return (np.concatenate([np.asarray(i) for i, _ in batches]),
            np.concatenate([np.asarray(label) for _, label in batches]))


def _direct(network, images):
    """Keras' own DenseNet121 with its own preprocessing: predicted classes."""
    inputs = keras.applications.densenet.preprocess_input(np.asarray(images) * 255.0)
    return np.argmax(np.asarray(network(inputs)), -1)


@pytest.fixture(scope="module")
def fitted_weights(image_folder, tmp_path_factory):
    """A DenseNet121 weights file whose head is solved to classify every
    held-out image correctly (so it cannot be confused with random weights)."""
    keras.utils.set_random_seed(3)
    network = keras.applications.DenseNet121(
        include_top=True, weights=None, input_shape=SHAPE, classes=CLASSES,
        classifier_activation=None)
    images, labels = _held_out(image_folder)
    inputs = keras.applications.densenet.preprocess_input(images * 255.0)
    features = np.asarray(keras.Model(network.input, network.get_layer("avg_pool").output)(
        inputs), np.float64)
    design = np.concatenate([features, np.ones((len(features), 1))], axis=1)
    solution = np.linalg.lstsq(design, 10.0 * np.eye(CLASSES)[labels], rcond=None)[0]
    network.get_layer("predictions").set_weights([solution[:-1], solution[-1]])
    assert np.array_equal(_direct(network, images), labels)
    path = os.path.abspath(tmp_path_factory.mktemp("weights") / "densenet121.weights.h5")
    network.save_weights(path)
    return path, network


@pytest.fixture(scope="module")
def run(fitted_weights, tmp_path_factory):
    """A run directory as train.universal writes it (perturber.keras and
    config.json), trained against densenet121 with the weights file. Training
    itself with a weights file is rehearsed in test_paper_rehearsal.py."""
    directory = tmp_path_factory.mktemp("runs") / "run"
    os.makedirs(directory)
    perturber = build_perturber("universal", "resnet", SHAPE, "linf", 0.1, seed=0, filters=4,
                                num_residual_blocks=1)
    perturber.save(directory / "perturber.keras")
    config = {"kind": "universal", "objective": "untargeted", "norm": "linf", "epsilon": 0.1,
              "victims": ["densenet121"], "victim_weights": [fitted_weights[0]],
              "target_class": None, "target_map": None}
    (directory / "config.json").write_text(json.dumps(config))
    return str(directory)


def _evaluate(run, image_folder, weights, tmp_path, name):
    lines = []
    output = tmp_path / f"{name}.json"
    assert evaluate.main(["--perturber", os.path.join(run, "perturber.keras"), "--victim",
                          "densenet121", "--victim-weights", weights, "--dataset",
                          f"folder:{image_folder}", "--no-throughput", "--output",
                          str(output)], log=lines.append) == 0
    return json.loads(output.read_text())["victims"]["densenet121"], "\n".join(lines)


def test_evaluate_with_a_weights_file_equals_keras_and_differs_from_random(
        run, image_folder, fitted_weights, tmp_path):
    path, network = fitted_weights
    images, labels = _held_out(image_folder)
    perturber = load_perturber(os.path.join(run, "perturber.keras"))
    clean, adversarial = _direct(network, images), _direct(network, perturber(images))
    metrics, printed = _evaluate(run, image_folder, path, tmp_path, "file")
    assert metrics["weights"] == path
    assert metrics["clean_accuracy"] == np.mean(clean == labels) == 1.0
    assert metrics["adversarial_accuracy"] == pytest.approx(np.mean(adversarial == labels))
    assert metrics["fooling_rate"] == pytest.approx(np.mean(adversarial != clean))
    assert "| densenet121 | densenet121.weights.h5 | yes |" in printed
    random_metrics, printed = _evaluate(run, image_folder, "random", tmp_path, "random")
    assert random_metrics["weights"] == "random"
    assert random_metrics["clean_accuracy"] < 0.5
    assert "| densenet121 | random | no |" in printed  # trained on other weights


def test_transfer_and_benchmark_use_and_report_the_weights(
        run, image_folder, fitted_weights, tmp_path):
    path, network = fitted_weights
    table_dir = tmp_path / "table"
    assert evaluate.main(["--transfer", run, "--victim", "densenet121", "--victim-weights",
                          path, "--dataset", f"folder:{image_folder}", "--no-throughput",
                          "--output-dir", str(table_dir)], log=lambda *_: None) == 0
    table = json.loads((table_dir / "transfer.json").read_text())
    assert table["victim_weights"] == {"densenet121": path}
    assert table["seen"] == [[True]]
    images, _ = _held_out(image_folder)
    perturber = load_perturber(os.path.join(run, "perturber.keras"))
    direct = np.mean(_direct(network, perturber(images)) != _direct(network, images))
    assert table["fooling_rate"][0][0] == pytest.approx(direct)
    assert "densenet121 densenet121.weights.h5" in (table_dir / "transfer.md").read_text()
    bench_dir = tmp_path / "bench"
    assert benchmark.main(["--victim", "densenet121", "--victim-weights", path, "--dataset",
                           f"folder:{image_folder}", "--methods", "random",
                           "--epsilons", "0.05", "--eval-images", "4",
                           "--output-dir", str(bench_dir)]) == 0
    rows = json.loads((bench_dir / "benchmark.json").read_text())["rows"]
    assert {row["victim_weights"] for row in rows} == {path}
    assert "densenet121 (densenet121.weights.h5 weights," in (
        bench_dir / "benchmark.md").read_text()


def test_programs_refuse_mismatched_weights_with_one_error_line(run, image_folder, capsys):
    perturber = os.path.join(run, "perturber.keras")
    argv = ["--perturber", perturber, "--victim", "densenet121", "--victim-weights", "imagenet",
            "--victim-weights", "random", "--dataset", f"folder:{image_folder}",
            "--no-throughput"]
    assert run_program(evaluate.main, argv) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "got 2 --victim-weights value(s) for 1" in errors[0]
    assert run_program(universal.main, ["--victim-weights", "imagenet", "--dataset",
                                        "fashion_mnist"]) == 2
    assert "none of the victims is one" in capsys.readouterr().err
