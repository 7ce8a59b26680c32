"""Frozen victims: the classifiers and segmenters a perturbation must fool.

``Victim`` wraps any Keras model that maps images in [0, 1] to class scores
(logits or softmax) or score maps. ``loading.py`` loads victims by name
(``.keras`` files or Keras Applications names), ``checks.py`` checks that
victims fit each other and the perturber, ``applications.py`` builds Keras
Applications victims with their own preprocessing inside, ``classifiers.py``
and ``segmenters.py`` hold the networks this project trains itself (training
them is ``keras_gap.training.victim_training``), ``torch_victims.py`` wraps
PyTorch modules (``from_torch``, ``torchscript:PATH.pt``) under the torch
backend.
"""

from keras_gap.victims.applications import APPLICATIONS
from keras_gap.victims.applications import application_classifier
from keras_gap.victims.checks import check_victims_agree
from keras_gap.victims.checks import check_victims_fit
from keras_gap.victims.classifiers import ARCHITECTURES
from keras_gap.victims.classifiers import build_classifier
from keras_gap.victims.loading import application_head_classes
from keras_gap.victims.loading import check_victim_weights
from keras_gap.victims.loading import describe_weights
from keras_gap.victims.loading import is_application
from keras_gap.victims.loading import load_victim
from keras_gap.victims.loading import load_victims
from keras_gap.victims.loading import resolve_victim_weights
from keras_gap.victims.loading import victim_name
from keras_gap.victims.torch_victims import from_torch
from keras_gap.victims.victim import Victim

__all__ = [
    "APPLICATIONS",
    "ARCHITECTURES",
    "Victim",
    "application_classifier",
    "application_head_classes",
    "build_classifier",
    "check_victim_weights",
    "describe_weights",
    "from_torch",
    "is_application",
    "check_victims_agree",
    "check_victims_fit",
    "load_victim",
    "load_victims",
    "resolve_victim_weights",
    "victim_name",
]
