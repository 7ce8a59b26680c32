"""Fooling objectives: what the generator minimises against one victim.

Each objective is a small serialisable class with
``per_example_loss(clean_logits, adversarial_logits, labels)`` returning one
loss per image. Add a new objective as a class in its own module and list it
in ``OBJECTIVES`` so the command-line programs can pick it by name. The
built-in ones are log-cross-entropies (``LogCrossEntropyObjective``) with a
``reduction`` over the batch, one of ``REDUCTIONS``.
"""

from keras_gap.objectives.classification import LeastLikely
from keras_gap.objectives.classification import LogCrossEntropyObjective
from keras_gap.objectives.classification import Objective
from keras_gap.objectives.classification import Targeted
from keras_gap.objectives.classification import TargetedMargin
from keras_gap.objectives.classification import UntargetedMargin
from keras_gap.objectives.classification import Untargeted
from keras_gap.objectives.cross_entropy import REDUCTIONS
from keras_gap.objectives.cross_entropy import check_reduction
from keras_gap.objectives.cross_entropy import log_cross_entropy
from keras_gap.objectives.feature_space import FeatureDistance
from keras_gap.objectives.feature_space import FeatureObjective
from keras_gap.objectives.feature_space import FeatureSimilarity
from keras_gap.objectives.relativistic import RelativisticCrossEntropy
from keras_gap.objectives.segmentation import SEGMENTATION_OBJECTIVES
from keras_gap.objectives.segmentation import SegmentationTargeted
from keras_gap.objectives.segmentation import dense_objective

# The transfer objectives that came after GAP (CDA, LTP, BIA), by their short names.
TRANSFER_OBJECTIVES = {
    cls.name: cls for cls in (RelativisticCrossEntropy, FeatureDistance, FeatureSimilarity)
}
OBJECTIVES = {
    "untargeted": Untargeted,
    "untargeted_margin": UntargetedMargin,
    "least_likely": LeastLikely,
    "targeted": Targeted,
    "targeted_margin": TargetedMargin,
    **TRANSFER_OBJECTIVES,
}
# The objectives that move every image to one class (--target-class).
TARGETED_OBJECTIVES = sorted(name for name, cls in OBJECTIVES.items() if cls.takes_target_class)
# The objectives whose batch loss takes a --reduction.
REDUCTION_OBJECTIVES = {
    name: cls for name, cls in OBJECTIVES.items() if issubclass(cls, LogCrossEntropyObjective)
}


def build_objective(name, target_class=None, reduction=None, feature_layers=None,
                    task="classifier", target_map=None):
    """Builds the objective ``name`` for a victim of ``task``.

    Classifiers: ``target_class`` only for ``TARGETED_OBJECTIVES``, ``feature_layers``
    only for the feature objectives ("ltp", "bia"). Segmenters
    (``task="segmenter"``): "untargeted", or "targeted" to ``target_map``.
    ``reduction`` only for the cross-entropy objectives (None: the
    objective's measured default).
    """
    if task == "segmenter":
        if feature_layers is not None:
            raise ValueError("--feature-layer applies to the feature objectives of "
                             "classifiers, not to segmenters")
        return dense_objective(name, target_map, reduction)
    if name not in OBJECTIVES:
        raise ValueError(f"objective must be one of {sorted(OBJECTIVES)}, got {name!r}")
    if feature_layers is not None and not issubclass(OBJECTIVES[name], FeatureObjective):
        feature_names = sorted(
            key for key, cls in OBJECTIVES.items() if issubclass(cls, FeatureObjective))
        raise ValueError(
            f"--feature-layer only applies to the feature objectives {feature_names}, "
            f"not {name!r}"
        )
    cls = OBJECTIVES[name]
    if cls.takes_target_class and target_class is None:
        raise ValueError(
            f"the {name} objective needs --target-class (classifiers) or "
            "--target-map (segmenters)"
        )
    if target_class is not None and not cls.takes_target_class:
        raise ValueError(
            f"--target-class {target_class} only applies to --objective "
            f"{' or '.join(TARGETED_OBJECTIVES)}, not {name!r}"
        )
    if reduction is not None and not issubclass(cls, LogCrossEntropyObjective):
        raise ValueError(f"--reduction only applies to the cross-entropy objectives "
                         f"{sorted(REDUCTION_OBJECTIVES)}, not {name!r}")
    arguments = {}
    if cls.takes_target_class:
        arguments["target_class"] = target_class
    if issubclass(cls, LogCrossEntropyObjective):
        arguments["reduction"] = reduction
    if feature_layers is not None:
        arguments["feature_layers"] = feature_layers
    return cls(**arguments)


__all__ = [
    "FeatureDistance",
    "FeatureObjective",
    "FeatureSimilarity",
    "OBJECTIVES",
    "REDUCTIONS",
    "REDUCTION_OBJECTIVES",
    "RelativisticCrossEntropy",
    "TRANSFER_OBJECTIVES",
    "LeastLikely",
    "LogCrossEntropyObjective",
    "Objective",
    "SEGMENTATION_OBJECTIVES",
    "SegmentationTargeted",
    "TARGETED_OBJECTIVES",
    "Targeted",
    "TargetedMargin",
    "UntargetedMargin",
    "Untargeted",
    "build_objective",
    "check_reduction",
    "log_cross_entropy",
]
