"""Frozen victims: classifiers the perturbation must fool.

``Victim`` wraps any Keras model that maps images in [0, 1] to class scores
(logits or softmax). ``applications.py`` builds Keras Applications victims
with their own preprocessing inside; ``classifiers.py`` holds the small
networks this project trains for Fashion-MNIST.
"""

from keras_gap.victims.applications import APPLICATIONS
from keras_gap.victims.applications import application_classifier
from keras_gap.victims.classifiers import ARCHITECTURES
from keras_gap.victims.checks import check_data_fits_victim
from keras_gap.victims.checks import check_victims_agree
from keras_gap.victims.classifiers import build_classifier
from keras_gap.victims.victim import Victim
from keras_gap.victims.victim import load_victim

__all__ = [
    "APPLICATIONS",
    "ARCHITECTURES",
    "Victim",
    "application_classifier",
    "build_classifier",
    "check_data_fits_victim",
    "check_victims_agree",
    "load_victim",
]
