"""Objectives on a victim's intermediate feature maps: LTP and BIA.

A logit loss tells the generator how to fool *this* victim's head; a loss
on a mid-level feature map tells it how to disturb what convolutional
networks have in common at that depth, which transfers to architectures
the generator never saw. ``GAPTrainer`` gives a ``FeatureObjective`` the
feature maps of the clean and adversarial images from the same forward pass
that gives the logits for its fooling-rate metrics
(``Victim.features_and_logits``).
"""

from keras import ops
from keras import random

from keras_gap.objectives.classification import Objective

# Guards the cosine similarity's division for all-zero feature maps.
_NORM_FLOOR = 1e-12


def _flat(tensor):
    return ops.reshape(tensor, (ops.shape(tensor)[0], -1))


def _check_feature_layers(feature_layers):
    if feature_layers is None or isinstance(feature_layers, str):
        return feature_layers
    if isinstance(feature_layers, (list, tuple)) and feature_layers and all(
        layer is None or isinstance(layer, str) for layer in feature_layers
    ):
        return list(feature_layers)
    raise ValueError(
        "feature_layers must be None, a layer name or a list of names (one per "
        f"victim), got {feature_layers!r}"
    )


class FeatureObjective(Objective):
    """Base of the objectives on victims' intermediate feature maps.

    Args:
        feature_layers: None (each victim's mid-level default, see
            ``Victim.default_feature_layer``), a layer name for every victim
            (or a list of one), or a list with one name (or None) per victim.
    """

    def __init__(self, feature_layers=None):
        self.feature_layers = _check_feature_layers(feature_layers)

    def layers_for(self, victims):
        """One resolved layer name per victim; ``ValueError`` for a name a
        victim lacks (listing its layers) or a list of the wrong length."""
        layers = self.feature_layers
        if not isinstance(layers, list):
            layers = [layers]
        if len(layers) == 1:
            layers = layers * len(victims)
        if len(layers) != len(victims):
            raise ValueError(
                f"got {len(layers)} feature layers for {len(victims)} victims; give one "
                "per victim, or one for all"
            )
        return [victim.resolve_feature_layers(layer)[0] for victim, layer in zip(victims, layers)]

    def victim_inputs(self, clean_images, adversarial_images, training=False):
        """The images the victim sees; a hook for input randomisation."""
        return clean_images, adversarial_images

    def per_example_feature_loss(self, clean_features, adversarial_features):
        raise NotImplementedError

    def per_example_loss(self, clean_logits, adversarial_logits, labels=None):
        raise ValueError(
            f"{self!r} is a loss on feature maps: call per_example_feature_loss with "
            "Victim.features_and_logits (GAPTrainer does)"
        )

    def get_config(self):
        return {"feature_layers": self.feature_layers}


class FeatureDistance(FeatureObjective):
    """LTP (Nakka & Salzmann, NeurIPS 2021): ``−mean((f(x̂) − f(x))²)``.

    Pushes the victim's mid-level feature map of the adversarial image away
    from the clean image's (the mean squared distance over the map, maximised).
    """

    name = "ltp"

    def per_example_feature_loss(self, clean_features, adversarial_features):
        clean_features = ops.stop_gradient(ops.convert_to_tensor(clean_features))
        difference = _flat(ops.convert_to_tensor(adversarial_features)) - _flat(clean_features)
        return -ops.mean(ops.square(difference), axis=1)


class FeatureSimilarity(FeatureObjective):
    """BIA (Zhang et al., ICLR 2022): cosine similarity of feature maps.

    Minimises ``cos(a · f(x̂), a · f(x))`` per image. With ``attention``
    (BIA's domain-agnostic attention) ``a = |channel mean of f(x)|``, so the
    spatial positions the network responds to most weigh most. With
    ``random_normalization`` (BIA's RN), each training batch is seen by the
    victim after a random brightness/contrast change
    ``x ↦ 0.5 + (x − m) · 0.75 / s`` with ``m ~ N(0.5, mean_spread)``,
    ``s ~ N(0.75, std_spread)`` (the same draw for the clean and adversarial
    images). BIA draws the victim's input normalisation ``(x − m) / s``
    directly; here the victim keeps its own preprocessing, so the draw is
    centred on the identity instead. Evaluation (``training=False``) sees the
    images unchanged.
    """

    name = "bia"
    center_mean = 0.5
    center_std = 0.75

    def __init__(self, feature_layers=None, attention=True, random_normalization=True,
                 mean_spread=0.08, std_spread=0.08, seed=0):
        super().__init__(feature_layers)
        for label, value in (("mean_spread", mean_spread), ("std_spread", std_spread)):
            if not 0.0 <= float(value) < 0.5:
                raise ValueError(f"{label} must be in [0, 0.5), got {value!r}")
        self.attention = bool(attention)
        self.random_normalization = bool(random_normalization)
        self.mean_spread = float(mean_spread)
        self.std_spread = float(std_spread)
        self.seed = int(seed)
        self.seed_generator = (
            random.SeedGenerator(self.seed) if self.random_normalization else None
        )

    def victim_inputs(self, clean_images, adversarial_images, training=False):
        if not (training and self.random_normalization):
            return clean_images, adversarial_images
        mean = self.center_mean + self.mean_spread * random.normal(
            (), seed=self.seed_generator)
        std = self.center_std + self.std_spread * random.normal((), seed=self.seed_generator)
        # A draw of s near 0 would blow the images up; BIA's spread makes it rare.
        scale = self.center_std / ops.maximum(std, 0.25)
        return tuple(self.center_mean + (ops.convert_to_tensor(images) - mean) * scale
                     for images in (clean_images, adversarial_images))

    def per_example_feature_loss(self, clean_features, adversarial_features):
        clean_features = ops.stop_gradient(ops.convert_to_tensor(clean_features))
        adversarial_features = ops.convert_to_tensor(adversarial_features)
        if self.attention:
            weight = ops.abs(ops.mean(clean_features, axis=-1, keepdims=True))
            clean_features = clean_features * weight
            adversarial_features = adversarial_features * weight
        clean, adversarial = _flat(clean_features), _flat(adversarial_features)
        norms = ops.norm(clean, axis=1) * ops.norm(adversarial, axis=1)
        return ops.sum(clean * adversarial, axis=1) / ops.maximum(norms, _NORM_FLOOR)

    def get_config(self):
        return {
            **super().get_config(), "attention": self.attention,
            "random_normalization": self.random_normalization,
            "mean_spread": self.mean_spread, "std_spread": self.std_spread, "seed": self.seed,
        }
