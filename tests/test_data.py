import functools
import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from PIL import Image

from keras_gap.data import HELD_OUT
from keras_gap.data import load_image_data


def test_fashion_mnist_splits_are_real_and_in_unit_range():
    train = load_image_data("fashion_mnist", "train")
    test = load_image_data("fashion_mnist", "test")
    assert (train.num_examples, test.num_examples) == (60000, 10000)
    images, labels = next(iter(test.dataset(1000)))
    assert images.dtype == tf.float32 and images.shape == (1000, 28, 28, 1)
    assert 0.0 <= float(tf.reduce_min(images)) and float(tf.reduce_max(images)) == 1.0
    assert sorted(set(labels.numpy().tolist())) == list(range(10))
    assert test.class_names[9] == "Ankle boot"


def test_fashion_mnist_can_be_fitted_to_an_rgb_shape():
    data = load_image_data("fashion_mnist", "test", image_shape=(32, 32, 3))
    images, _ = next(iter(data.dataset(4)))
    assert images.shape == (4, 32, 32, 3)


def test_missing_fashion_mnist_explains_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_GAP_FASHION_MNIST_DIR", str(tmp_path))
    with pytest.raises(ValueError, match="apt-get install dataset-fashion-mnist"):
        load_image_data("fashion_mnist", "train")


def _write_images(root, classes, per_class, size=(40, 50)):
    rng = np.random.default_rng(0)
    for name in classes:
        os.makedirs(root / name, exist_ok=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, size + (3,), dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i:03d}.png")


def test_image_folder_with_imagenet_layout(tmp_path):
    _write_images(tmp_path / "train", ["n01", "n02"], 3)
    _write_images(tmp_path / "val", ["n01", "n02"], 2)
    train = load_image_data(f"folder:{tmp_path}", "train", image_shape=(32, 32, 3))
    held_out = load_image_data(f"folder:{tmp_path}", HELD_OUT, image_shape=(32, 32, 3))
    assert (train.num_examples, held_out.num_examples) == (6, 4)
    assert train.class_names == ["n01", "n02"] and held_out.split == "validation"
    images, labels = next(iter(held_out.dataset(10)))
    assert images.shape == (4, 32, 32, 3)
    assert labels.numpy().tolist() == [0, 0, 1, 1]
    assert 0.0 <= float(tf.reduce_min(images)) and float(tf.reduce_max(images)) <= 1.0
    # An explicit split is that split or an error naming the ones there are.
    with pytest.raises(ValueError, match="no test split .*train, validation"):
        load_image_data(f"folder:{tmp_path}", "test", image_shape=(32, 32, 3))


def test_test_folder_is_used_only_when_asked_for(tmp_path):
    _write_images(tmp_path / "train", ["a", "b"], 2)
    _write_images(tmp_path / "validation", ["a", "b"], 1)
    _write_images(tmp_path / "test", ["a", "b"], 3)
    load = functools.partial(load_image_data, f"folder:{tmp_path}", image_shape=(8, 8, 3))
    assert (load(split="test").num_examples, load(split="test").split) == (6, "test")
    assert (load(split="validation").num_examples, load(split=HELD_OUT).num_examples) == (2, 2)


def test_class_ids_agree_across_splits_when_one_lacks_a_class(tmp_path):
    _write_images(tmp_path / "train", ["ant", "bee", "cat"], 1)
    _write_images(tmp_path / "val", ["ant", "cat"], 1)
    held_out = load_image_data(f"folder:{tmp_path}", HELD_OUT, image_shape=(8, 8, 3))
    assert held_out.class_names == ["ant", "bee", "cat"]
    assert [int(label) for _, label in held_out.make_dataset()] == [0, 2]


def test_flat_image_folder_holds_out_every_fifth_image(tmp_path):
    _write_images(tmp_path, ["cat", "dog"], 10)
    load = functools.partial(load_image_data, f"folder:{tmp_path}", image_shape=(16, 16, 3))
    assert [load(split=s).num_examples for s in ("train", "validation", "test", HELD_OUT)] == [
        16, 4, 4, 4]


class TinyImages(tfds.core.GeneratorBasedBuilder):
    """A Cityscapes/ImageNet-shaped stand-in prepared locally by the test."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(None, None, 3)),
                "label": tfds.features.ClassLabel(names=["ant", "bee", "cat"]),
            }),
            supervised_keys=("image", "label"),
        )

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples(0, 6), "validation": self._generate_examples(1, 3)}

    def _generate_examples(self, seed, count):
        rng = np.random.default_rng(seed)
        for i in range(count):
            yield i, {"image": rng.integers(0, 256, (48, 64, 3), dtype=np.uint8),
                      "label": i % 3}


def test_tfds_source_reads_a_prepared_data_set(tmp_path):
    TinyImages(data_dir=str(tmp_path)).download_and_prepare()
    train = load_image_data("tfds:tiny_images", "train", (32, 32, 3), str(tmp_path))
    test = load_image_data("tfds:tiny_images", HELD_OUT, (32, 32, 3), str(tmp_path))
    assert (train.num_examples, test.num_examples) == (6, 3) and test.split == "validation"
    with pytest.raises(ValueError, match="no test split"):
        load_image_data("tfds:tiny_images", "test", (32, 32, 3), str(tmp_path))
    assert test.class_names == ["ant", "bee", "cat"]
    images, labels = next(iter(test.dataset(8)))
    assert images.shape == (3, 32, 32, 3) and sorted(labels.numpy().tolist()) == [0, 1, 2]


def test_tfds_source_explains_unprepared_data(tmp_path):
    with pytest.raises(ValueError, match="not prepared"):
        load_image_data("tfds:tiny_images", "train", (32, 32, 3), str(tmp_path / "empty"))


@pytest.mark.parametrize("spec", ["mnist", "folder:", "tfds:", "s3://bucket"])
def test_unknown_data_sets_are_rejected(spec):
    with pytest.raises(ValueError, match="unknown dataset"):
        load_image_data(spec, "train", (28, 28, 1))


def test_unknown_split_is_rejected():
    with pytest.raises(ValueError, match="'val'"):
        load_image_data("fashion_mnist", "val")
    with pytest.raises(ValueError, match="fashion_mnist has no validation split"):
        load_image_data("fashion_mnist", "validation")
    assert load_image_data("fashion_mnist", HELD_OUT).split == "test"
