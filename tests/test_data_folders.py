"""Image folders as users have them: bad files, WordNet-id class names, and
class counts that must match the victim."""

import io
import os

import keras
import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

from keras_gap.data import IMAGENET_WNIDS
from keras_gap.data import load_image_data
from keras_gap.tasks import task_for
from keras_gap.victims import Victim

SHAPE = (16, 16, 3)


def _image_bytes(image_format, size=(24, 20), seed=0):
    pixels = np.random.default_rng(seed).integers(0, 256, size + (3,), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, image_format)
    return buffer.getvalue()


def _write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data)


@pytest.fixture
def damaged_folder(tmp_path):
    """Two classes of four good images each, and one file of every bad kind."""
    train = tmp_path / "train"
    for label in ("a", "b"):
        for i in range(4):
            _write(str(train / label / f"{i}.png"), _image_bytes("PNG", seed=i))
    png, jpeg = _image_bytes("PNG"), _image_bytes("JPEG")
    _write(str(train / "a" / "truncated.png"), png[: len(png) // 2])
    _write(str(train / "a" / "truncated.jpg"), jpeg[: len(jpeg) // 2])
    _write(str(train / "a" / "text.png"), b"<html>404 Not Found</html>\n")
    _write(str(train / "b" / "empty.jpg"), b"")
    os.symlink(str(tmp_path / "gone.jpg"), str(train / "b" / "dangling.jpg"))
    os.makedirs(train / "b" / "folder.png")
    _write(str(train / "b" / "notes.txt"), b"not an image name: not listed, not counted")
    return tmp_path


def test_bad_files_are_skipped_and_counted(damaged_folder):
    data = load_image_data(f"folder:{damaged_folder}", "train", SHAPE)
    reasons = {os.path.basename(path): reason for path, reason in data.skipped_files}
    assert reasons == {
        "truncated.png": "truncated PNG (no end marker)",
        "truncated.jpg": "truncated JPEG (no end marker)",
        "text.png": "not an image (no JPEG, PNG, GIF or BMP signature)",
        "empty.jpg": "empty file",
        "dangling.jpg": "dangling symbolic link",
    }
    assert data.num_examples == 8
    assert data.skipped_report().startswith(f"folder:{damaged_folder} train: skipped 5 file(s)")
    # Two shuffled epochs run through without an error.
    labels = [label for _, batch in data.dataset(3, shuffle_seed=0, repeat=True).take(6)
              for label in batch.numpy().tolist()]
    assert sorted(labels[:8]) == [0] * 4 + [1] * 4 and sorted(labels[8:16]) == [0] * 4 + [1] * 4


def test_bad_files_can_be_refused_before_anything_is_decoded(damaged_folder):
    with pytest.raises(ValueError, match=r"holds 5 file\(s\) that are not readable.*empty file"):
        load_image_data(f"folder:{damaged_folder}", "train", SHAPE, refuse_bad_files=True)


def test_damage_inside_a_file_is_dropped_by_the_pipeline(tmp_path):
    for i in range(3):
        _write(str(tmp_path / "a" / f"{i}.png"), _image_bytes("PNG", size=(64, 64), seed=i))
    png = bytearray(_image_bytes("PNG", size=(64, 64), seed=9))
    png[200:600] = bytes(400)  # inside the compressed data; signature and IEND intact
    _write(str(tmp_path / "a" / "corrupt.png"), bytes(png))
    data = load_image_data(f"folder:{tmp_path}", "train", SHAPE)
    assert data.num_examples == 4 and not data.skipped_files  # it passes the scan
    images = [images for images, _ in data.dataset(2, shuffle_seed=1)]
    assert sum(len(batch) for batch in images) == 3


def test_folder_of_only_bad_files_is_refused(tmp_path):
    _write(str(tmp_path / "a" / "0.png"), b"")
    with pytest.raises(ValueError, match="none of its 1 files is a readable image"):
        load_image_data(f"folder:{tmp_path}", "train", SHAPE)


# Real WordNet ids with their Keras Applications output index (from Keras'
# imagenet_class_index.json: 0 tench, 1 goldfish, 401 accordion,
# 817 sports car, 999 toilet tissue).
KERAS_INDICES = {"n01440764": 0, "n01443537": 1, "n02672831": 401, "n04285008": 817,
                 "n15075141": 999}


def test_wordnet_id_folders_get_keras_applications_class_ids(tmp_path):
    for wnid in KERAS_INDICES:
        _write(str(tmp_path / "val" / wnid / "x.jpg"), _image_bytes("JPEG"))
    data = load_image_data(f"folder:{tmp_path}", "validation", SHAPE)
    assert len(data.class_names) == 1000
    labels = [int(label) for _, label in data.make_dataset()]
    assert labels == sorted(KERAS_INDICES.values())
    assert all(data.class_names[index] == wnid for wnid, index in KERAS_INDICES.items())


def test_imagenet_ids_are_those_of_tfds_imagenet2012():
    names = tfds.builder("imagenet2012").info.features["label"].names
    assert tuple(names) == IMAGENET_WNIDS == tuple(sorted(IMAGENET_WNIDS))
    assert all(IMAGENET_WNIDS[index] == wnid for wnid, index in KERAS_INDICES.items())


def test_other_class_names_keep_sorted_ids(tmp_path):
    for name in ("n01440764", "zebra_photos"):
        _write(str(tmp_path / name / "0.png"), _image_bytes("PNG"))
    data = load_image_data(f"folder:{tmp_path}", "train", SHAPE)
    assert data.class_names == ["n01440764", "zebra_photos"]


def _classifier(num_classes):
    model = keras.Sequential([keras.Input(SHAPE), keras.layers.Flatten(),
                              keras.layers.Dense(num_classes)], name=f"dense{num_classes}")
    return Victim(model)


def check_data_fits_victim(data, victim):
    task_for(victim).check_data(victim, data)


def test_class_count_must_match_the_victim(tmp_path):
    for name in ("n01440764", "n15075141", "cat"):
        _write(str(tmp_path / "plain" / name / "0.png"), _image_bytes("PNG"))
    for name in ("n01440764", "n15075141"):
        _write(str(tmp_path / "imagenet" / name / "0.png"), _image_bytes("PNG"))
    plain = load_image_data(f"folder:{tmp_path / 'plain'}", "train", SHAPE)
    imagenet = load_image_data(f"folder:{tmp_path / 'imagenet'}", "train", SHAPE)
    check_data_fits_victim(imagenet, _classifier(1000))
    check_data_fits_victim(plain, _classifier(3))
    with pytest.raises(ValueError, match="has 3 classes but victim dense1000 predicts 1000.*"
                                         "WordNet ids"):
        check_data_fits_victim(plain, _classifier(1000))
    with pytest.raises(ValueError, match="has 1000 classes but victim dense10 predicts 10"):
        check_data_fits_victim(imagenet, _classifier(10))
    scenes = load_image_data("fashion_scenes", "test", SHAPE)
    with pytest.raises(ValueError, match="yields label maps"):
        check_data_fits_victim(scenes, _classifier(11))
