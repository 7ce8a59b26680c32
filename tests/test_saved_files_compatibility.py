"""Perturbers saved by earlier releases still load and compute the same images.

``tests/data/perturber_*_main_918bf9c.keras`` were written by main at commit
918bf9c (before the package was regrouped into training/, evaluation/,
serving/ and reports/), together with the inputs they were called on and the
adversarial images they returned.
"""

import os

import numpy as np
import pytest

from keras_gap.perturbers import load_perturber

DATA = os.path.join(os.path.dirname(__file__), "data")


@pytest.mark.parametrize("kind, norm", [("universal", "linf"), ("image_dependent", "l2")])
def test_a_perturber_saved_before_the_regrouping_loads_and_agrees(kind, norm):
    stem = os.path.join(DATA, f"perturber_{kind}_main_918bf9c")
    perturber = load_perturber(stem + ".keras")
    assert perturber.kind == kind
    assert perturber.norm == norm
    images = np.load(stem + "_inputs.npy")
    expected = np.load(stem + "_outputs.npy")
    np.testing.assert_allclose(np.asarray(perturber(images)), expected, atol=1e-6)
