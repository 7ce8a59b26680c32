"""Shuffling before decoding, fresh orders per epoch, and seeded samples.

Every image written here is one flat colour that encodes its own index, so a
test can tell exactly which files a pipeline delivered and in what order.
"""

import os

import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

from keras_gap.data import HELD_OUT
from keras_gap.data import load_image_data
from keras_gap.data.examples import sample_indices

CLASSES, PER_CLASS = 40, 5
SHAPE = (8, 8, 3)


def _colour(index):
    return (index % 256, index // 256, 7)


def _indices(images):
    """Recovers each image's index from its colour."""
    pixels = np.rint(np.asarray(images)[:, 0, 0, :2] * 255).astype(int)
    return (pixels[:, 0] + 256 * pixels[:, 1]).tolist()


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """``train/c00..c39``, 5 images each; file i of the sorted list has index i."""
    root = tmp_path_factory.mktemp("classes")
    for index in range(CLASSES * PER_CLASS):
        name = root / "train" / f"c{index // PER_CLASS:02d}"
        os.makedirs(name, exist_ok=True)
        Image.new("RGB", SHAPE[:2], _colour(index)).save(name / f"{index % PER_CLASS}.png")
    return load_image_data(f"folder:{root}", "train", SHAPE)


def _stream(data, batches, **kwargs):
    iterator = iter(data.dataset(20, **kwargs))
    indices, labels = [], []
    for _ in range(batches):
        images, batch_labels = next(iterator)
        indices += _indices(images)
        labels += batch_labels.numpy().tolist()
    return indices, labels


def test_folder_order_is_file_order_without_a_seed(folder):
    indices, labels = _stream(folder, 10)
    assert indices == list(range(200))
    assert labels == [i // PER_CLASS for i in range(200)]


def test_first_shuffled_batch_mixes_classes(folder):
    indices, labels = _stream(folder, 1, shuffle_seed=3)
    # File order would give 4 classes, none from the upper half.
    assert len(set(labels)) >= 12
    assert sum(label >= CLASSES // 2 for label in labels) >= 5
    assert labels == [i // PER_CLASS for i in indices]


def test_every_epoch_is_a_fresh_permutation_of_every_file(folder):
    indices, _ = _stream(folder, 30, shuffle_seed=3, repeat=True)
    epochs = [indices[:200], indices[200:400], indices[400:]]
    assert all(sorted(epoch) == list(range(200)) for epoch in epochs)
    assert epochs[0] != epochs[1] != epochs[2] != epochs[0]
    assert _stream(folder, 30, shuffle_seed=3, repeat=True)[0] == indices
    assert _stream(folder, 10, shuffle_seed=4)[0] != epochs[0]


def test_each_iteration_of_a_finite_dataset_is_reshuffled(folder):
    """Keras ``fit`` iterates a finite dataset anew every epoch."""
    dataset = folder.dataset(200, shuffle_seed=3)
    first, second = (_indices(images) for images, _ in (next(iter(dataset)), next(iter(dataset))))
    assert sorted(first) == sorted(second) == list(range(200)) and first != second
    again = _indices(next(iter(folder.dataset(200, shuffle_seed=3)))[0])
    assert again == first


def test_a_sample_is_seeded_and_spread_over_the_whole_split(folder):
    sample = folder.sample(20, seed=0)
    indices = _indices(np.concatenate([images for images, _ in sample.dataset(8)]))
    assert sample.num_examples == 20 and indices == sorted(set(indices))
    assert sum(i >= 100 for i in indices) >= 5  # not the first 20 files
    assert _indices(next(iter(folder.dataset(20, limit=20)))[0]) == indices
    assert _indices(next(iter(folder.sample(20, seed=1).dataset(20)))[0]) != indices
    assert folder.sample(10_000) is folder
    with pytest.raises(ValueError, match="count >= 1"):
        folder.sample(0)


def test_a_shuffled_sample_stays_within_the_sample(folder):
    chosen = set(_indices(next(iter(folder.dataset(20, limit=20)))[0]))
    indices, _ = _stream(folder, 3, limit=20, shuffle_seed=5, repeat=True)
    assert set(indices) == chosen and indices[:20] != sorted(indices[:20])


class CountedImages(tfds.core.GeneratorBasedBuilder):
    """60 flat-colour images whose colour is their index; test labels are -1
    like ImageNet's."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(None, None, 3)),
                "label": tfds.features.ClassLabel(num_classes=6),
            }),
            supervised_keys=("image", "label"),
        )

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples(60, True),
                "validation": self._generate_examples(12, True),
                "test": self._generate_examples(12, False)}

    def _generate_examples(self, count, labelled):
        for index in range(count):
            image = np.zeros(SHAPE, np.uint8) + np.array(_colour(index), np.uint8)
            yield index, {"image": image, "label": index % 6 if labelled else -1}


@pytest.fixture(scope="module")
def tfds_dir(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("tfds"))
    CountedImages(data_dir=directory).download_and_prepare()
    return directory


def test_tfds_shuffles_with_the_seed_and_reshuffles_each_epoch(tfds_dir):
    train = load_image_data("tfds:counted_images", "train", SHAPE, tfds_dir)
    in_order = _stream(train, 3)[0]
    indices = _stream(train, 9, shuffle_seed=2, repeat=True)[0]
    epochs = [indices[:60], indices[60:120], indices[120:]]
    assert all(sorted(epoch) == sorted(in_order) for epoch in epochs)
    assert epochs[0] != in_order and epochs[0] != epochs[1]
    assert _stream(train, 9, shuffle_seed=2, repeat=True)[0] == indices


def test_tfds_sample_takes_the_same_examples_as_the_file_order(tfds_dir):
    train = load_image_data("tfds:counted_images", "train", SHAPE, tfds_dir)
    in_order = _stream(train, 3)[0]
    sample = train.sample(10, seed=0)
    expected = [in_order[i] for i in sample_indices(60, 10, seed=0)]
    assert _indices(next(iter(sample.dataset(10)))[0]) == expected
    assert _indices(next(iter(train.dataset(10, limit=10)))[0]) == expected


def test_unlabelled_test_split_is_refused_and_held_out_is_validation(tfds_dir):
    with pytest.raises(ValueError, match=r"test has no labels.*--split validation"):
        load_image_data("tfds:counted_images", "test", SHAPE, tfds_dir)
    held_out = load_image_data("tfds:counted_images", HELD_OUT, SHAPE, tfds_dir)
    assert (held_out.split, held_out.num_examples) == ("validation", 12)
