"""Baseline attacks GAP is measured against: FGSM, PGD, UAP, random noise.

Everything works on images in [0, 1] with budgets in pixel units, on any
victim the package accepts. ``art_reference`` runs the same attacks from the
Adversarial Robustness Toolbox when that optional extra is installed.
"""

from keras_gap.baselines.gradient_attacks import DenseCrossEntropy
from keras_gap.baselines.gradient_attacks import fgsm
from keras_gap.baselines.gradient_attacks import pgd
from keras_gap.baselines.random_noise import random_noise
from keras_gap.baselines.universal import apply_universal
from keras_gap.baselines.universal import uap
from keras_gap.baselines.universal import universal_iterative

__all__ = [
    "DenseCrossEntropy",
    "apply_universal",
    "fgsm",
    "pgd",
    "random_noise",
    "uap",
    "universal_iterative",
]
