"""Files the bad-input suite feeds the programs: victims of shapes no attack
can use, archives that inflate past what they may, run directories whose
own files were damaged, image folders and perturbers."""

import json
import os
import warnings
import zipfile

import keras
from PIL import Image

from keras_gap.perturbers import build_perturber


def more_bad_files(root):
    """``{name: path}`` of every file below, made under ``root``."""
    files = {}
    for make in (_victims_of_bad_shape, _bad_archives, _damaged_runs, _image_folders,
                 _perturbers):
        files.update(make(root))
    return files


def _victims_of_bad_shape(root):
    """Models that load but cannot be victims (checks.py)."""
    inputs = keras.Input((28, 28, 1))
    flat = keras.layers.Flatten()(inputs)
    tiny_inputs = keras.Input((4, 4, 1))
    models = {
        "two_outputs": keras.Model(inputs, [keras.layers.Dense(10)(flat),
                                            keras.layers.Dense(10)(flat)]),
        "unbuilt": keras.Sequential([keras.layers.Flatten(), keras.layers.Dense(10)]),
        "tiny_input": keras.Model(
            tiny_inputs, keras.layers.Dense(10)(keras.layers.Flatten()(tiny_inputs))),
        "one_class": keras.Model(inputs, keras.layers.Dense(1)(flat)),
        "sigmoid": keras.Model(inputs, keras.layers.Dense(10, activation="sigmoid")(flat)),
    }
    files = {}
    for name, model in models.items():
        files[name] = str(root / f"{name}.keras")
        with warnings.catch_warnings():  # saving the unbuilt model warns
            warnings.simplefilter("ignore")
            model.save(files[name])
    return files


def _zip(path, members):
    """A zip archive of ``{name: (size, byte)}`` members, written in chunks."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, (size, byte) in members.items():
            with archive.open(name, "w", force_zip64=True) as member:
                for start in range(0, size, 2**22):
                    member.write(byte * min(2**22, size - start))
    return str(path)


def _bad_archives(root):
    """.keras files whose zip directory promises too much."""
    return {
        "bomb": _zip(root / "bomb.keras", {"config.json": (10, b" "),
                                           "model.weights.h5": (128 * 2**20, b"\0")}),
        "big_config": _zip(root / "big_config.keras", {"config.json": (65 * 2**20, b" ")}),
        "many_entries": _zip(root / "many_entries.keras",
                             {f"assets/{i}": (0, b"") for i in range(1001)}),
    }


def _damaged_runs(root):
    """Run directories whose own files were damaged."""
    runs = {"list_config": "[1, 2]\n",
            "number_victims": json.dumps({"victims": [1, 2], "kind": "universal"})}
    files = {}
    for name, text in runs.items():
        os.makedirs(root / name)
        (root / name / "config.json").write_text(text)
        files[name] = str(root / name)
    return files


def _image_folders(root):
    """Image folders train.classifier cannot take as they are."""
    folders = {"mixed_sizes": [("a", 8), ("a", 8), ("b", 9), ("b", 9)],
               "one_class_folder": [("a", 8)] * 5}
    files = {}
    for name, images in folders.items():
        for index, (label, side) in enumerate(images):
            os.makedirs(root / name / label, exist_ok=True)
            Image.new("RGB", (side, side)).save(root / name / label / f"{index}.png")
        files[name] = str(root / name)
    return files


def _perturbers(root):
    files = {}
    for kind in ("universal", "image_dependent"):
        files[kind] = str(root / f"{kind}.keras")
        build_perturber(kind, "resnet", (28, 28, 1), "linf", 0.1, filters=4,
                        num_residual_blocks=1).save(files[kind])
    return files
