"""Every command-line program, driven with wrong values.

Each case must end with exit status 2, exactly one ``error: ...`` line that
names the bad value, no traceback, and no new files anywhere under the test's
folders. The programs run in-process through ``run_program`` (what their
``__main__`` does) to keep the suite fast; test_train_cli.py runs the real
entry point in a subprocess for a few of the same cases.
"""

import os

import keras
import numpy as np
import pytest

from keras_gap.cli import run_program
from bad_input_files import more_bad_files
from conftest import tiny_classifier

TINY = ["--generator-filters", "4", "--generator-blocks", "1", "--steps-per-epoch", "2",
        "--batch-size", "8", "--eval-images", "64", "--epochs", "1"]


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory, tiny_victim_model):
    """Inputs that look plausible but are wrong, made once."""
    root = tmp_path_factory.mktemp("bad_inputs")
    files = {"victim": str(root / "victim.keras")}
    tiny_victim_model.save(files["victim"])
    files["corrupt"] = str(root / "corrupt.keras")
    with open(files["corrupt"], "wb") as handle:
        handle.write(b"PK\x03\x04 this is not a Keras archive")
    files["folder"] = str(root / "folder.keras")
    os.makedirs(files["folder"])
    files["text"] = str(root / "notes.txt")
    with open(files["text"], "w") as handle:
        handle.write("not a directory\n")
    inputs = keras.Input((28, 28, 1))
    scaled = keras.layers.Lambda(lambda x: x * 2.0)(inputs)
    files["lambda"] = str(root / "lambda.keras")
    keras.Model(inputs, keras.layers.Dense(10)(keras.layers.Flatten()(scaled))).save(
        files["lambda"])
    files["five"] = str(root / "five_classes.keras")
    tiny_classifier(num_classes=5, name="five").save(files["five"])
    files["big"] = str(root / "big_images.keras")
    tiny_classifier(input_shape=(32, 32, 3), name="big").save(files["big"])
    nan_model = keras.models.clone_model(tiny_victim_model)
    nan_model.set_weights([np.full_like(w, np.nan) for w in tiny_victim_model.get_weights()])
    files["nan"] = str(root / "nan_victim.keras")
    nan_model.save(files["nan"])
    files["readonly"] = "/proc/keras_gap_output"
    files.update(more_bad_files(root))
    return files


def _program(name):
    if name == "universal":
        from train.universal import main
    elif name == "image_dependent":
        from train.image_dependent import main
    elif name == "classifier":
        from train.classifier import main
    elif name == "segmenter":
        from train.segmenter import main
    elif name == "evaluate":
        from train.evaluate import main
    elif name == "benchmark":
        from train.benchmark import main
    elif name == "targeted_protocol":
        from train.targeted_protocol import main
    else:
        from export.savedmodel import main
    return main


ATTACK_CASES = [
    (["--epsilon", "0"], "'0'"),
    (["--epsilon", "-0.1"], "'-0.1'"),
    (["--epsilon", "nan"], "'nan'"),
    (["--epsilon", "inf"], "'inf'"),
    (["--epsilon", "abc"], "'abc'"),
    (["--learning-rate", "nan"], "'nan'"),
    (["--batch-size", "abc"], "'abc'"),
    (["--epochs", "0"], "'0'"),
    (["--norm", "l1"], "'l1'"),
    (["--reduction", "mean"], "'mean'"),
    (["--ema-momentum", "1"], "'1'"),
    (["--input-diversity", "1.5"], "--input-diversity: must be a number in [0, 1], got '1.5'"),
    (["--projection", "straight_through_2018", "--norm", "l2"], "not 'l2'"),
    (["--victim", "alexnet"], "'alexnet'"),
    (["--victim", "{missing}"], "missing.keras"),
    (["--victim", "{corrupt}"], "corrupt.keras"),
    (["--victim", "{folder}"], "folder.keras"),
    (["--victim", "{lambda}"], "--unsafe-deserialization"),
    (["--dataset", "imagenet"], "'imagenet'"),
    (["--dataset", "folder:{missing}"], "missing.keras"),
    (["--objective", "targeted", "--target-class", "10"], "10"),
    (["--objective", "targeted"], "--target-class"),
    (["--target-class", "3"], "--target-class 3"),
    (["--objective", "ltp", "--feature-layer", "conv_9"], "'conv_9'"),
    (["--objective", "bia", "--feature-layer", "a", "--feature-layer", "b"], "2 feature layers"),
    (["--objective", "cda", "--feature-layer", "conv_9"], "'cda'"),
    (["--projection", "clip", "--norm", "l2", "--epsilon", "1"], "'l2'"),
    (["--victim", "{five}"], "five"),  # ensemble: 10 vs 5 classes
    (["--victim", "{big}"], "big"),  # ensemble: 28x28x1 vs 32x32x3 images
    (["--loss-weight", "1", "--loss-weight", "2"], "2 --loss-weight"),
    (["--loss-weight", "nan"], "'nan'"),
    (["--victim-weights", "{missing}"], "--victim-weights"),
    (["--strategy", "multi_worker"], "TF_CONFIG"),
    (["--output-dir", "{text}"], "notes.txt"),
    (["--output-dir", "{text}/run"], "notes.txt"),
    (["--output-dir", "{readonly}"], "keras_gap_output"),
    # flag ranges, the flag named
    (["--seed", "-1"], "--seed"),
    (["--seed", "4294967296"], "--seed"),
    (["--epsilon", "1e-320"], "1e-320"),
    (["--generator-filters", "100000"], "--generator-filters"),
    (["--generator-blocks", "1000"], "--generator-blocks"),
    (["--generator", "unet", "--generator-blocks", "30"], "--generator-blocks"),
    (["--batch-size", "1000000000"], "--batch-size"),
    # victims of a shape no attack can use
    (["--victim", "{two_outputs}"], "2 outputs"),
    (["--victim", "{unbuilt}"], "unbuilt Sequential"),
    (["--victim", "{tiny_input}"], "4x4 images"),
    (["--victim", "{one_class}"], "1 output class"),
    (["--victim", "{sigmoid}"], "sigmoid"),
    # archives that inflate past what they may, refused before they are opened
    (["--victim", "{bomb}"], "bomb.keras"),
    (["--victim", "{big_config}"], "config.json inflates"),
    (["--victim", "{many_entries}"], "1001 archive entries"),
    # the run's own files, damaged
    (["--output-dir", "{list_config}"], "JSON array"),
]

CASES = [("universal", args, fragment) for args, fragment in ATTACK_CASES] + [
    ("image_dependent", ["--epsilon", "nan"], "'nan'"),
    ("image_dependent", ["--victim", "{corrupt}"], "corrupt.keras"),
    ("image_dependent", ["--victim", "{five}"], "five"),
    ("classifier", [], "--output"),
    ("classifier", ["--output", "{folder}"], "folder.keras"),
    ("classifier", ["--output", "model.h5"], "model.h5"),
    ("classifier", ["--output", "{text}/model.keras"], "notes.txt"),
    ("classifier", ["--output", "m.keras", "--epochs", "abc"], "'abc'"),
    ("classifier", ["--output", "m.keras", "--architecture", "alexnet"], "'alexnet'"),
    ("classifier", ["--output", "m.keras", "--dataset", "imagenet"], "'imagenet'"),
    ("segmenter", [], "--output"),
    ("segmenter", ["--output", "s.keras", "--architecture", "unet3"], "'unet3'"),
    ("segmenter", ["--output", "s.keras", "--backbone-weights", "{missing}"], "missing.keras"),
    ("segmenter", ["--output", "s.keras", "--width", "0"], "'0'"),
    ("segmenter", ["--output", "s.keras", "--dataset", "imagenet"], "imagenet"),
    ("evaluate", ["--victim", "{victim}"], "--perturber"),
    ("evaluate", ["--perturber", "{corrupt}", "--victim", "{victim}"], "corrupt.keras"),
    ("evaluate", ["--perturber", "{victim}", "--victim", "{victim}"], "victim.keras"),
    ("evaluate", ["--transfer", "{missing}", "--victim", "{victim}"], "missing.keras"),
    ("benchmark", ["--victim", "{victim}", "--epsilons", "0.1,abc"], "'abc'"),
    ("benchmark", ["--victim", "{victim}", "--epsilons", "0.1,0"], "'0'"),
    ("benchmark", ["--victim", "{victim}", "--methods", "magic"], "'magic'"),
    ("targeted_protocol", ["--classes", "11"], "got 11"),
    ("targeted_protocol", ["--classes", "0"], "'0'"),
    ("targeted_protocol", ["--reduction", "mean"], "'mean'"),
    ("targeted_protocol", ["--victim", "{corrupt}"], "corrupt.keras"),
    ("targeted_protocol", ["--output-dir", "{text}/run"], "notes.txt"),
    ("savedmodel", [], "--perturber"),
    ("savedmodel", ["--perturber", "{missing}"], "missing.keras"),
    ("savedmodel", ["--perturber", "{folder}"], "folder.keras"),
    ("savedmodel", ["--perturber", "{corrupt}"], "corrupt.keras"),
    ("savedmodel", ["--perturber", "{victim}"], "victim.keras"),  # not a perturber
    ("savedmodel", ["--perturber", "{lambda}"], "--unsafe-deserialization"),
    ("savedmodel", ["--perturber", "{victim}", "--version", "0"], "'0'"),
    ("savedmodel", ["--perturber", "{victim}", "--format", "onnx"], "'onnx'"),
    ("classifier", ["--output", "{victim}"], "already exists"),
    ("classifier", ["--output", "m.keras", "--seed", "-1"], "--seed"),
    ("classifier", ["--output", "m.keras", "--dataset", "folder:{mixed_sizes}"],
     "--image-size"),
    ("classifier", ["--output", "m.keras", "--dataset", "folder:{one_class_folder}"], "1 class"),
    ("classifier", ["--output", "m.keras", "--batch-size", "1000000000"], "--batch-size"),
    ("segmenter", ["--output", "{victim}"], "already exists"),
    ("evaluate", ["--perturber", "{universal}", "--victim", "{victim}", "--output",
                  "{text}/e.json"], "notes.txt"),
    ("evaluate", ["--perturber", "{universal}", "--victim", "{victim}", "--batch-size",
                  "1000000000"], "--batch-size"),
    ("evaluate", ["--perturber", "{bomb}", "--victim", "{victim}"], "bomb.keras"),
    ("evaluate", ["--perturber", "{universal}", "--victim", "{sigmoid}"], "sigmoid"),
    ("evaluate", ["--transfer", "{list_config}", "--victim", "{victim}"], "JSON array"),
    ("evaluate", ["--transfer", "{number_victims}", "--victim", "{victim}"], "victims"),
    ("evaluate", ["--transfer", "{number_victims}", "--victim", "{victim}", "--output-dir",
                  "{text}"], "notes.txt"),
    ("benchmark", ["--victim", "{victim}", "--methods", ""], "at least one method"),
    ("benchmark", ["--victim", "{victim}", "--methods", ","], "at least one method"),
    ("benchmark", ["--victim", "{victim}", "--output-dir", "{text}"], "notes.txt"),
    ("benchmark", ["--victim", "{victim}", "--seed", "-3"], "--seed"),
    ("benchmark", ["--victim", "{victim}", "--eval-batch-size", "1000000000"],
     "--eval-batch-size"),
    ("benchmark", ["--victim", "{victim}", "--generator-filters", "100000"],
     "--generator-filters"),
    ("benchmark", ["--victim", "{sigmoid}"], "sigmoid"),
    ("savedmodel", ["--perturber", "{universal}", "--name", "a\nb"], "model name"),
    ("savedmodel", ["--perturber", "{image_dependent}", "--format", "savedmodel", "keras",
                    "png"], "'png'"),
    ("savedmodel", ["--perturber", "{bomb}"], "bomb.keras"),
]


def _files_under(*roots):
    found = set()
    for root in roots:
        for directory, _, names in os.walk(root):
            found.update(os.path.join(directory, n) for n in names)
            found.add(directory)
    return found


@pytest.mark.parametrize("program,arguments,fragment", CASES,
                         ids=[f"{p}:{' '.join(a)}" for p, a, _ in CASES])
def test_bad_input_exits_2_with_one_clean_line(program, arguments, fragment, bad_files,
                                               tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TF_CONFIG", raising=False)
    monkeypatch.setenv("KERAS_GAP_CACHE", str(tmp_path / "cache"))
    names = {**bad_files, "missing": str(tmp_path / "missing.keras")}
    argv = [a.format(**names) for a in arguments]
    if program in ("universal", "image_dependent", "targeted_protocol"):
        if program != "targeted_protocol":
            argv = [*TINY, *argv]  # the case's own values win over TINY's
        if "--victim" not in arguments or arguments[-1] in ("{five}", "{big}"):
            argv = ["--victim", bad_files["victim"], *argv]  # an ensemble for five/big
        if "--output-dir" not in arguments:
            argv += ["--output-dir", str(tmp_path / "run")]
    if program == "savedmodel":
        argv += ["--output", str(tmp_path / "serving")]
    before = _files_under(tmp_path, os.path.dirname(bad_files["victim"]))
    status = run_program(_program(program), argv)
    captured = capsys.readouterr()
    assert status == 2, captured.err[-2000:]
    errors = [line for line in captured.err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, captured.err
    assert fragment in errors[0], errors[0]
    assert "Traceback" not in captured.err + captured.out
    after = _files_under(tmp_path, os.path.dirname(bad_files["victim"]))
    assert after == before, sorted(after - before)
