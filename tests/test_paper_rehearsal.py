"""A rehearsal of the paper's ImageNet path at its real sizes, on the CPU.

A generated ImageNet-layout folder (class folders named by real WordNet ids,
JPEGs of 300–500 pixels), a Keras Applications victim at the paper's input
size with weights from a local ``.weights.h5`` file, a generator of 64
filters and 6 residual blocks (the paper's ResNet for the universal run, the
image-dependent default ``separable_resnet`` for the other) trained for one
step, then
``train.evaluate`` with the weights file, ``export.savedmodel``, and the
exported signature run on a JPEG. It proves the wiring, shapes,
preprocessing and weights at paper size, not accuracy (the weights are
untrained). About a minute on 2 CPU cores: ``pytest -m rehearsal`` runs only
this, ``-m "not rehearsal"`` skips it.
"""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from export.savedmodel import main as export_main
from keras_gap.data.image_data import fit_to_shape
from keras_gap.perturbers import load_perturber
from keras_gap.victims import APPLICATIONS
from train import evaluate
from train import image_dependent
from train import universal

pytestmark = pytest.mark.rehearsal

# tench, English springer, cassette player: Keras Applications classes 0, 217, 482.
WORDNET_IDS = ("n01440764", "n02102040", "n02979186")
EPSILON = 10 / 255
PROGRAMS = {"universal": universal.main, "image_dependent": image_dependent.main}
# The paper's victims at their input sizes; one run of each perturber kind.
PAPER_SHAPES = [("mobilenet_v2", 224, "image_dependent"), ("inception_v3", 299, "universal")]


@pytest.fixture(scope="module")
def imagenet_folder(tmp_path_factory):
    """``train/<wnid>/*.JPEG`` (2 per class) and ``val/<wnid>/*.JPEG`` (1 per
    class), smooth colour images of 300–500 pixels a side."""
    root = tmp_path_factory.mktemp("imagenet")
    rng = np.random.default_rng(0)
    for wnid in WORDNET_IDS:
        for split, count in (("train", 2), ("val", 1)):
            os.makedirs(root / split / wnid)
            for index in range(count):
                height, width = (int(side) for side in rng.integers(300, 501, 2))
                coarse = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
                Image.fromarray(coarse).resize((width, height), Image.BILINEAR).save(
                    root / split / wnid / f"{wnid}_{index}.JPEG", format="JPEG", quality=90)
    return str(root)


def _weights_file(architecture, size, directory):
    """A local weights file of the bare Keras application (untrained)."""
    keras.utils.set_random_seed(1)
    network = getattr(keras.applications, APPLICATIONS[architecture].constructor)(
        include_top=True, weights=None, input_shape=(size, size, 3), classes=1000,
        classifier_activation=None)
    path = os.path.join(directory, f"{architecture}.weights.h5")
    network.save_weights(path)
    return path


def _serve_jpeg(version_directory, jpeg, size):
    """The exported ``serve_uint8`` signature on a JPEG brought to the
    model's size the way the data pipeline does it."""
    image = tf.io.decode_jpeg(tf.io.read_file(jpeg), channels=3)
    fitted = fit_to_shape(tf.cast(image, tf.float32) / 255.0, (size, size, 3))
    pixels = tf.cast(tf.round(fitted * 255.0), tf.uint8)[tf.newaxis]
    loaded = tf.saved_model.load(version_directory)  # kept alive while it runs
    adversarial = loaded.signatures["serve_uint8"](images=pixels)["adversarial_images"]
    return pixels.numpy(), adversarial.numpy()


@pytest.mark.parametrize("architecture,size,kind", PAPER_SHAPES)
def test_the_paper_path_at_paper_size(architecture, size, kind, imagenet_folder, tmp_path):
    weights = _weights_file(architecture, size, tmp_path)
    run = str(tmp_path / "run")
    dataset = f"folder:{imagenet_folder}"
    victim = ["--victim", architecture, "--victim-weights", weights, "--dataset", dataset]
    assert PROGRAMS[kind]([*victim, "--epsilon", "10/255", "--generator-filters", "64",
                           "--generator-blocks", "6", "--epochs", "1", "--steps-per-epoch", "1",
                           "--batch-size", "2", "--eval-images", "3", "--output-dir", run]) == 0
    perturber = load_perturber(os.path.join(run, "perturber.keras"))
    assert perturber.image_shape == (size, size, 3)
    assert perturber.generator.get_layer("residual_block_5_add") is not None  # 6 blocks
    assert perturber.generator.get_layer("stem_conv").filters == 64
    config = json.loads(open(os.path.join(run, "config.json")).read())
    assert config["victim_weights"] == [weights]

    evaluation = tmp_path / "evaluation.json"
    assert evaluate.main([*victim, "--perturber", os.path.join(run, "perturber.keras"),
                          "--eval-images", "3", "--no-throughput", "--output",
                          str(evaluation)], log=lambda *_: None) == 0
    metrics = json.loads(evaluation.read_text())
    assert metrics["num_images"] == 3
    assert metrics["victims"][architecture]["weights"] == weights
    assert metrics["linf"] <= EPSILON + 1e-6

    serving = tmp_path / "serving"
    assert export_main(["--perturber", os.path.join(run, "perturber.keras"),
                        "--output", str(serving), "--name", "gap"]) == 0
    jpeg = os.path.join(imagenet_folder, "val", WORDNET_IDS[0], f"{WORDNET_IDS[0]}_0.JPEG")
    clean, adversarial = _serve_jpeg(str(serving / "gap" / "1"), jpeg, size)
    assert adversarial.dtype == np.uint8 and adversarial.shape == (1, size, size, 3)
    change = np.abs(adversarial.astype(int) - clean.astype(int))
    assert 0 < change.max() <= round(EPSILON * 255) + 1
