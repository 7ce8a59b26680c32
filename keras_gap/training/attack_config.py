"""``AttackConfig``: everything that defines one attack run, and its resolution.

``resolve_config`` checks every value and fills in the defaults (the cached
default victim, one loss weight per victim, the output directory) before
anything is loaded or written; the resolved configuration is what
``config.json`` holds.
"""

import dataclasses
import math
import os

from keras_gap.data.target_maps import resolve_target_map_spec
from keras_gap.layers import projection_for_norm
from keras_gap.objectives import build_objective
from keras_gap.perturbers import PERTURBERS
from keras_gap.training.resources import check_generator_size
from keras_gap.training.resources import check_seed
from keras_gap.training.run_directory import check_output_path
from keras_gap.training.victim_training import ensure_default_victim


@dataclasses.dataclass
class AttackConfig:
    """Everything that defines a run; ``config.json`` holds it resolved."""

    kind: str = "universal"
    victims: list = dataclasses.field(default_factory=list)
    victim_weights: str = None
    loss_weights: list = None
    dataset: str = "fashion_mnist"
    tfds_data_dir: str = None
    image_size: int = None
    norm: str = "linf"
    epsilon: float = 0.1
    objective: str = "untargeted"
    target_class: int = None
    target_map: str = None
    generator: str = "resnet"
    generator_filters: int = None
    generator_blocks: int = None
    epochs: int = 5
    steps_per_epoch: int = 100
    batch_size: int = 64
    learning_rate: float = 2e-4
    seed: int = 0
    strategy: str = "auto"
    output_dir: str = None
    eval_images: int = None
    unsafe_deserialization: bool = False

    def default_output_dir(self):
        target = "" if self.target_class is None else f"_{self.target_class}"
        return os.path.join(
            "runs", f"{self.kind}_{self.objective}{target}_{self.norm}_eps{self.epsilon:.4g}"
        )

    @property
    def train_images(self):
        """Images drawn in training: epochs × steps × batch."""
        return self.epochs * self.steps_per_epoch * self.batch_size


def generator_settings(generator, image_shape, filters=None, blocks=None):
    """Generator size: given, or the paper's (64 filters, 6 blocks) for large
    images and a lean one (32 filters, 3 blocks) for images ≤ 64 pixels.
    ``blocks`` is the U-Net's depth for ``generator`` "unet"."""
    small = max(image_shape[:2]) <= 64
    filters = filters or (32 if small else 64)
    if generator == "resnet":
        blocks = blocks if blocks is not None else (3 if small else 6)
        return {"filters": filters, "num_residual_blocks": blocks}
    depth = blocks or min(8, int(math.log2(min(image_shape[:2]))))
    return {"filters": filters, "depth": depth}


def _check_objective(config):
    """The objective name and its target, before any model is loaded."""
    if config.target_map is None:
        build_objective(config.objective, config.target_class)  # raises for bad values
        return
    if config.target_class is not None:
        raise ValueError("give --target-class (classifiers) or --target-map (segmenters), not both")
    if config.objective != "targeted":
        raise ValueError(
            f"--target-map only applies to --objective targeted, not {config.objective!r}"
        )


def _check_training_lengths(config):
    for name in ("epochs", "steps_per_epoch", "batch_size"):
        if int(getattr(config, name)) < 1:
            raise ValueError(f"{name} must be >= 1, got {getattr(config, name)!r}")
    if not (math.isfinite(config.learning_rate) and config.learning_rate > 0):
        raise ValueError(f"learning rate must be > 0, got {config.learning_rate!r}")
    check_seed(config.seed)
    check_generator_size(config.generator, config.generator_filters, config.generator_blocks)


def resolve_config(config, log=print):
    """Checks ``config`` and returns a copy with every default filled in.

    Trains and caches the default victim when no victim is given (logging
    what it does through ``log``).
    """
    if config.kind not in PERTURBERS:
        raise ValueError(f"kind must be one of {sorted(PERTURBERS)}, got {config.kind!r}")
    resolved = dataclasses.replace(config)
    projection = projection_for_norm(resolved.norm, resolved.epsilon)
    resolved.epsilon = projection.epsilon
    _check_objective(resolved)
    resolved.target_map = resolve_target_map_spec(resolved.target_map)
    _check_training_lengths(resolved)
    resolved.output_dir = resolved.output_dir or config.default_output_dir()
    check_output_path(resolved.output_dir)  # before a default victim is trained
    if not resolved.victims:
        resolved.victims = [ensure_default_victim(resolved.dataset, log=log)]
    resolved.victims = [
        os.path.abspath(v) if os.path.isfile(v) else v for v in resolved.victims
    ]
    if resolved.loss_weights is None:
        resolved.loss_weights = [1.0] * len(resolved.victims)
    if len(resolved.loss_weights) != len(resolved.victims):
        raise ValueError(
            f"got {len(resolved.loss_weights)} --loss-weight values for "
            f"{len(resolved.victims)} --victim values; give one per victim"
        )
    return resolved
