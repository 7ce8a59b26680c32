"""``AttackConfig``: everything that defines one attack run, and its resolution.

``resolve_config`` checks every value and fills in the defaults (the cached
default victim, one loss weight per victim, the output directory) before
anything is loaded or written; the resolved configuration is what
``config.json`` holds.
"""

import dataclasses
import os

from keras_gap import backend
from keras_gap import checks
from keras_gap.data import HELD_OUT
from keras_gap.data.splits import SPLITS
from keras_gap.data.target_maps import resolve_target_map_spec
from keras_gap.generators import GENERATORS
from keras_gap.generators import check_generator_size
from keras_gap.layers import projection_for_norm
from keras_gap.layers.budget_projection import PROJECTION_METHODS
from keras_gap.layers.budget_projection import PROJECTIONS
from keras_gap.layers.budget_projection import check_epsilon
from keras_gap.layers.input_diversity import PROBABILITY as INPUT_DIVERSITY_PROBABILITY
from keras_gap.objectives import OBJECTIVES
from keras_gap.objectives import REDUCTION_OBJECTIVES
from keras_gap.objectives import REDUCTIONS
from keras_gap.objectives import SEGMENTATION_OBJECTIVES
from keras_gap.objectives import TRANSFER_OBJECTIVES
from keras_gap.objectives import build_objective
from keras_gap.objectives import check_reduction
from keras_gap.perturbers import PERTURBERS
from keras_gap.runs.run_directory import check_output_path
from keras_gap.training.distribution import STRATEGIES
from keras_gap.training.optimizer import check_schedule
from keras_gap.training.precision import JIT_COMPILE
from keras_gap.training.precision import check_trainable_precision
from keras_gap.training.victim_training import ensure_default_victim
from keras_gap.victims import is_application
from keras_gap.victims import resolve_victim_weights


# Defaults that depend on the attack kind; a field left as None takes its
# kind's value. A universal perturbation is computed once, so its generator's
# cost never reaches attack time: the paper's ResNet and learning rate. An
# image-dependent generator runs on every attacked image: the design built for
# cost, at a higher rate. At 28 px it fooled 1.4 points less than the paper's
# design trained as long, at 1/14 of its FLOPs; at 299 px it costs 1/20
# (docs/benchmarks.md, "Generator designs: cost and fooling"). Its 40 epochs
# (4,000 steps) were chosen by the image-dependent sweep over four victims
# (docs/attacks-and-objectives.md): 0.2 to 1.6 points more fooling than
# 2,000 steps on each, at the same cost per attacked image.
# Averaging its weights (an exponential moving average, momentum 0.99) added
# 0.3 to 0.8 points of fooling on each of three benchmark seeds (same doc);
# the universal kind keeps the paper's plain Adam, unmeasured with averaging.
KIND_DEFAULTS = {
    "universal": {"generator": "resnet", "epochs": 5, "learning_rate": 2e-4,
                  "ema_momentum": 0.0},
    "image_dependent": {"generator": "separable_resnet", "epochs": 40, "learning_rate": 1e-3,
                        "ema_momentum": 0.99},
}
# A classifier objective's reduction where a kind's own four-victim sweep chose
# another than the objective's default_reduction (docs/attacks-and-objectives.md,
# "Image-dependent targeted and least-likely"): image-dependent least-likely,
# batch_mean 0.632 mean fooling against per_image 0.615, which falls 5.8 points
# short on MobileNetV2; the universal sweep keeps per_image (batch_mean lost 8).
KIND_REDUCTIONS = {"image_dependent": {"least_likely": "batch_mean"}}


@dataclasses.dataclass
class AttackConfig:
    """Everything that defines a run; ``config.json`` holds it resolved.

    ``generator``, ``epochs``, ``learning_rate`` and ``ema_momentum`` left
    as None take the kind's ``KIND_DEFAULTS``. ``ema_momentum`` > 0 saves the
    moving average of the generator's weights (``gap_optimizer``); 0: the
    last weights."""

    kind: str = "universal"
    victims: list = dataclasses.field(default_factory=list)
    victim_weights: list = None
    loss_weights: list = None
    dataset: str = "fashion_mnist"
    tfds_data_dir: str = None
    split: str = HELD_OUT
    refuse_bad_images: bool = False
    image_size: int = None
    norm: str = "linf"
    epsilon: float = 0.1
    objective: str = "untargeted"
    feature_layers: list = None
    projection: str = "auto"
    target_class: int = None
    target_map: str = None
    reduction: str = None
    generator: str = None
    generator_filters: int = None
    generator_blocks: int = None
    epochs: int = None
    steps_per_epoch: int = 100
    batch_size: int = 64
    learning_rate: float = None
    # How the rate moves over the run's epochs × steps (LEARNING_RATE_SCHEDULES).
    learning_rate_schedule: str = "constant"
    ema_momentum: float = None
    # DI: the probability that a training image reaches the victims resized
    # and padded (InputDiversity); 0: off.
    input_diversity: float = 0.0
    seed: int = 0
    strategy: str = "auto"
    output_dir: str = None
    eval_images: int = None
    unsafe_deserialization: bool = False
    mixed_precision: str = None
    jit_compile: str = "auto"
    # The Keras backend the run trains on; None: the one Keras runs on.
    backend: str = None

    def __post_init__(self):
        checks.OneOf(PERTURBERS).check(self.kind, "kind")
        for name, value in KIND_DEFAULTS[self.kind].items():
            if getattr(self, name) is None:
                setattr(self, name, value)
        self.check()

    def check(self):
        """Raises a ``ValueError`` naming the first field whose value no run
        can have; what needs the victims or the data is checked by
        ``resolve_config``."""
        checks.OneOf(PROJECTIONS).check(self.norm, "norm")
        self.epsilon = check_epsilon(self.epsilon)
        checks.OneOf(OBJECTIVES).check(self.objective, "objective")
        checks.OneOf(["auto", *PROJECTION_METHODS]).check(self.projection, "projection")
        checks.Integer().optional(self.target_class, "target class")
        checks.OneOf(REDUCTIONS).optional(self.reduction, "reduction")
        checks.OneOf(SPLITS).check(self.split, "split")
        checks.OneOf(GENERATORS).check(self.generator, "generator")
        check_generator_size(self.generator, self.generator_filters, self.generator_blocks)
        checks.check_positive_integers(self, ("epochs", "steps_per_epoch", "batch_size"))
        checks.POSITIVE_INTEGER.optional(self.image_size, "image size")
        checks.POSITIVE_INTEGER.optional(self.eval_images, "eval images")
        self.learning_rate = checks.LEARNING_RATE.check(self.learning_rate, "learning rate")
        check_schedule(self.learning_rate_schedule)
        self.ema_momentum = checks.MOMENTUM.check(self.ema_momentum, "ema momentum")
        self.input_diversity = INPUT_DIVERSITY_PROBABILITY.check(
            self.input_diversity, "input diversity")
        checks.check_seed(self.seed)
        checks.OneOf(STRATEGIES).check(self.strategy, "strategy")
        check_trainable_precision(self.mixed_precision)
        checks.OneOf(JIT_COMPILE).check(self.jit_compile, "jit_compile")
        checks.OneOf(backend.BACKENDS).optional(self.backend, "backend")
        if self.loss_weights is not None:
            self.loss_weights = checks.check_loss_weights(self.loss_weights)

    def default_output_dir(self):
        target = "" if self.target_class is None else f"_{self.target_class}"
        return os.path.join(
            "runs", f"{self.kind}_{self.objective}{target}_{self.norm}_eps{self.epsilon:.4g}"
        )

    @property
    def train_steps(self):
        """Training steps of the whole run: epochs × steps per epoch."""
        return self.epochs * self.steps_per_epoch

    @property
    def train_images(self):
        """Images drawn in training: epochs × steps × batch."""
        return self.train_steps * self.batch_size


# Keys newer versions added to config.json, with the value older runs had:
# a run directory written before them still resumes.
LEGACY_VALUES = {"feature_layers": None, "projection": "scale", "victim_weights": None,
                 "mixed_precision": None, "jit_compile": "auto", "ema_momentum": 0.0,
                 "backend": "tensorflow", "input_diversity": 0.0,
                 "learning_rate_schedule": "constant"}


def resolve_projection(objective, norm, projection):
    """``projection`` ("auto" or a key of ``PROJECTION_METHODS``) resolved:
    "auto" is CDA's clip for the transfer objectives under L∞ (CDA, LTP and
    BIA all clip) and GAP's scaling otherwise."""
    if projection == "auto":
        return "clip" if objective in TRANSFER_OBJECTIVES and norm == "linf" else "scale"
    return checks.OneOf(PROJECTION_METHODS).check(projection, "projection")


def _check_objective(config):
    """The objective name and its target, before any model is loaded."""
    if config.target_map is None:
        # raises for bad values
        build_objective(config.objective, config.target_class, config.reduction,
                        config.feature_layers)
        return
    check_reduction(config.reduction)
    if config.feature_layers is not None:
        raise ValueError("--feature-layer applies to the feature objectives of classifiers, "
                         "not to segmenters (--target-map)")
    if config.target_class is not None:
        raise ValueError("give --target-class (classifiers) or --target-map (segmenters), not both")
    if config.objective != "targeted":
        raise ValueError(
            f"--target-map only applies to --objective targeted, not {config.objective!r}"
        )


def _resolved_victim_weights(config):
    """One weights value per Keras Applications victim ("imagenet" unless
    given), or None when every victim is a file (as config.json always had)."""
    weights = resolve_victim_weights(config.victims, config.victim_weights)
    values = [w for spec, w in zip(config.victims, weights) if is_application(spec)]
    return values or None


def resolve_config(config, log=print):
    """Checks ``config`` and returns a copy with every default filled in.

    Trains and caches the default victim when no victim is given (logging
    what it does through ``log``).
    """
    resolved = dataclasses.replace(config, backend=config.backend or backend.name())
    if resolved.backend != backend.name():
        raise ValueError(
            f"this run is configured for the {resolved.backend} backend but Keras runs on "
            f"{backend.name()}: set KERAS_BACKEND={resolved.backend}")
    if resolved.jit_compile == "on" and resolved.backend == "torch":
        raise ValueError(
            "--jit-compile on is XLA, which KERAS_BACKEND=torch does not have (Keras would "
            "call torch.compile, which cannot trace the perturber): use auto or off, or "
            "KERAS_BACKEND=jax or tensorflow")
    resolved.projection = resolve_projection(
        resolved.objective, resolved.norm, resolved.projection)
    projection = projection_for_norm(resolved.norm, resolved.epsilon, resolved.projection)
    resolved.epsilon = projection.epsilon
    if resolved.reduction is None and resolved.objective in REDUCTION_OBJECTIVES:
        # A target map means a segmenter, whose targeted objective has its own default.
        if resolved.target_map is not None:
            resolved.reduction = SEGMENTATION_OBJECTIVES[resolved.objective].default_reduction
        else:
            resolved.reduction = KIND_REDUCTIONS.get(resolved.kind, {}).get(
                resolved.objective, REDUCTION_OBJECTIVES[resolved.objective].default_reduction)
    _check_objective(resolved)
    resolved.target_map = resolve_target_map_spec(resolved.target_map)
    # Before the default victim is trained: weights only fit Applications victims.
    resolved.victim_weights = _resolved_victim_weights(resolved)
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
