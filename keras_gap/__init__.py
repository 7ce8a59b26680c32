"""keras_gap: Generative Adversarial Perturbations (Poursaeed et al., 2018)
for TensorFlow / Keras 3.

Images enter every public API as float32 in [0, 1]; epsilon is in the same
pixel units. Start with ``UniversalPerturber`` or ``ImageDependentPerturber``
(the deployable models), wrap them with frozen ``Victim``s and an objective in
a ``GAPTrainer``, ``compile`` and ``fit``.
"""

from keras_gap.generators import build_generator
from keras_gap.generators import resnet_generator
from keras_gap.generators import unet_generator
from keras_gap.layers import ClipProjection
from keras_gap.layers import ImagenetPreprocessing
from keras_gap.layers import L2Projection
from keras_gap.layers import LinfProjection
from keras_gap.layers import ReflectionPadding2D
from keras_gap.layers import projection_for_norm
from keras_gap.objectives import FeatureDistance
from keras_gap.objectives import FeatureSimilarity
from keras_gap.objectives import LeastLikely
from keras_gap.objectives import RelativisticCrossEntropy
from keras_gap.objectives import SegmentationTargeted
from keras_gap.objectives import Targeted
from keras_gap.objectives import Untargeted
from keras_gap.objectives import build_objective
from keras_gap.perturbers import ImageDependentPerturber
from keras_gap.perturbers import UniversalPerturber
from keras_gap.perturbers import load_perturber
from keras_gap.training.gap_trainer import GAPTrainer
from keras_gap.training.optimizer import gap_optimizer
from keras_gap.version import __version__
from keras_gap.victims import Victim
from keras_gap.victims import load_victim

__all__ = [
    "ClipProjection",
    "FeatureDistance",
    "FeatureSimilarity",
    "GAPTrainer",
    "ImageDependentPerturber",
    "ImagenetPreprocessing",
    "L2Projection",
    "LeastLikely",
    "LinfProjection",
    "ReflectionPadding2D",
    "RelativisticCrossEntropy",
    "SegmentationTargeted",
    "Targeted",
    "UniversalPerturber",
    "Untargeted",
    "Victim",
    "__version__",
    "build_generator",
    "build_objective",
    "gap_optimizer",
    "load_perturber",
    "load_victim",
    "projection_for_norm",
    "resnet_generator",
    "unet_generator",
]
