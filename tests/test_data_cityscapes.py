"""Cityscapes at the paper's size: full 2048 x 1024 records read at 1024 x 512,
an unlabelled test split refused, and a labelIds PNG as the static target."""

import keras
import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

from keras_gap.data import HELD_OUT
from keras_gap.data import cityscapes_target_map
from keras_gap.data import load_image_data
from keras_gap.metrics.segmentation import evaluate_segmentation
from keras_gap.generators import build_generator
from keras_gap.layers import projection_for_norm
from keras_gap.perturbers import ImageDependentPerturber
from keras_gap.victims import Victim

FULL = (1024, 2048)
PAPER_SHAPE = (512, 1024, 3)


def _label_ids(shape=FULL):
    """Four vertical bands: road (7), car (26), unlabeled (0), bicycle (33)."""
    label_ids = np.zeros(shape, np.uint8)
    quarter = shape[1] // 4
    label_ids[:, :quarter] = 7
    label_ids[:, quarter:2 * quarter] = 26
    label_ids[:, 3 * quarter:] = 33
    return label_ids


def _check_bands(train_ids):
    quarter = train_ids.shape[1] // 4
    assert (train_ids[:, :quarter] == 0).all() and (train_ids[:, quarter:2 * quarter] == 13).all()
    assert (train_ids[:, 2 * quarter:3 * quarter] == 255).all()
    assert (train_ids[:, 3 * quarter:] == 18).all()


def test_labelids_png_becomes_a_train_id_target_map(tmp_path):
    path = tmp_path / "monchengladbach_000000_026602_gtFine_labelIds.png"
    Image.fromarray(_label_ids(), mode="L").save(path)
    target = cityscapes_target_map(path, PAPER_SHAPE[:2])
    assert target.shape == PAPER_SHAPE[:2] and target.dtype == np.int32
    _check_bands(target)
    _check_bands(cityscapes_target_map(str(path)))  # full size when no shape is given


def test_bad_target_maps_are_refused(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        cityscapes_target_map(tmp_path / "missing.png")
    colour = tmp_path / "x_gtFine_color.png"
    Image.new("RGB", (64, 32)).save(colour)
    with pytest.raises(ValueError, match="RGB image.*labelIds"):
        cityscapes_target_map(colour)
    unlabeled = tmp_path / "unlabeled.png"
    Image.new("L", (64, 32)).save(unlabeled)
    with pytest.raises(ValueError, match="no pixel of the 19"):
        cityscapes_target_map(unlabeled)
    text = tmp_path / "text.png"
    text.write_text("not a png")
    with pytest.raises(ValueError, match="not a readable image"):
        cityscapes_target_map(text)


class FullSizeCityscapes(tfds.core.GeneratorBasedBuilder):
    """Cityscapes' features at Cityscapes' size; the test split is unlabelled
    (every labelId 0) as in the real data set."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            features=tfds.features.FeaturesDict({
                "image_id": tfds.features.Text(),
                "image_left": tfds.features.Image(shape=FULL + (3,), encoding_format="png"),
                "segmentation_label": tfds.features.Image(
                    shape=FULL + (1,), encoding_format="png"),
            }),
        )

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples("train", 1),
                "validation": self._generate_examples("validation", 3),
                "test": self._generate_examples("test", 1)}

    def _generate_examples(self, split, count):
        gradient = np.linspace(0, 255, FULL[1]).astype(np.uint8)
        image = np.broadcast_to(gradient[None, :, None], FULL + (3,))
        label_ids = _label_ids() if split != "test" else np.zeros(FULL, np.uint8)
        for i in range(count):
            yield f"{split}_{i}", {"image_id": f"{split}_{i}", "image_left": image,
                                   "segmentation_label": label_ids[..., None]}


@pytest.fixture(scope="module")
def cityscapes_dir(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("cityscapes"))
    FullSizeCityscapes(data_dir=directory).download_and_prepare()
    return directory


def test_held_out_is_the_labelled_validation_split_at_1024x512(cityscapes_dir):
    data = load_image_data("tfds:full_size_cityscapes", HELD_OUT, PAPER_SHAPE, cityscapes_dir)
    assert (data.split, data.num_examples, len(data.class_names)) == ("validation", 3, 19)
    images, maps = next(iter(data.dataset(2)))
    assert images.shape == (2,) + PAPER_SHAPE and maps.shape == (2,) + PAPER_SHAPE[:2]
    _check_bands(maps.numpy()[0])
    with pytest.raises(ValueError, match="test has no labels"):
        load_image_data("tfds:full_size_cityscapes", "test", PAPER_SHAPE, cityscapes_dir)


def test_segmentation_evaluation_runs_at_1024x512(cityscapes_dir):
    data = load_image_data("tfds:full_size_cityscapes", HELD_OUT, PAPER_SHAPE, cityscapes_dir)
    keras.utils.set_random_seed(0)
    segmenter = keras.Sequential([keras.Input(PAPER_SHAPE), keras.layers.Conv2D(19, 1)])
    generator = build_generator("resnet", PAPER_SHAPE, filters=4, num_residual_blocks=1)
    perturber = ImageDependentPerturber(generator, projection_for_norm("linf", 8 / 255))
    metrics = evaluate_segmentation(perturber, [Victim(segmenter, name="seg")], data,
                                    batch_size=2)
    scores = metrics["victims"]["seg"]
    assert metrics["num_images"] == 3 and metrics["linf"] <= 8 / 255 + 1e-6
    assert 0.0 <= scores["clean_miou"] <= 1.0 and 0.0 <= scores["adversarial_miou"] <= 1.0
