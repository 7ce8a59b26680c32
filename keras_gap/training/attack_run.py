"""One training run of a GAP attack, from configuration to artifacts.

``run_attack(AttackConfig(...))`` is what ``python -m train.universal`` and
``python -m train.image_dependent`` call. It writes into the output
directory, in this order: ``config.json`` (first), TensorBoard ``logs/``,
``perturber.keras``, ``perturbation.npy`` / ``perturbation.png`` (universal),
``samples.png`` and ``metrics.json`` (held-out test split). Every file is
written under a temporary name and renamed. Re-running the same command
resumes from ``backup/`` (Keras ``BackupAndRestore``).
"""

import dataclasses
import math
import os
import sys
import time

import keras
import numpy as np

from keras_gap.artifacts import read_json
from keras_gap.artifacts import save_keras
from keras_gap.artifacts import save_numpy
from keras_gap.artifacts import write_json
from keras_gap.artifacts import check_writable_directory
from keras_gap.data import load_image_data
from keras_gap.training.distribution import is_chief
from keras_gap.training.distribution import make_strategy
from keras_gap.training.distribution import multi_worker_trainer
from keras_gap.training.distribution import remove_worker_directory
from keras_gap.training.distribution import shard_by_data
from keras_gap.training.distribution import worker_directory
from keras_gap.evaluation.classification import evaluate_classification
from keras_gap.generators import build_generator
from keras_gap.generators import generator_arguments
from keras_gap.layers import projection_for_norm
from keras_gap.objectives import build_objective
from keras_gap.perturbers import ImageDependentPerturber
from keras_gap.evaluation.segmentation import attack_objective
from keras_gap.evaluation.segmentation import check_segmentation_data
from keras_gap.evaluation.segmentation import evaluate_segmentation
from keras_gap.evaluation.segmentation import resolve_target_map_spec
from keras_gap.evaluation.segmentation import save_segmentation_samples
from keras_gap.evaluation.segmentation import segmentation_summary
from keras_gap.perturbers import UniversalPerturber
from keras_gap.training.gap_trainer import GAPTrainer
from keras_gap.victims import check_victims_agree
from keras_gap.victims import load_victim
from keras_gap.training.victim_training import ensure_default_victim
from keras_gap.reports.figures import save_perturbation_png
from keras_gap.reports.figures import save_samples_png

PERTURBERS = {"universal": UniversalPerturber, "image_dependent": ImageDependentPerturber}
SAMPLE_COUNT = 6


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


def generator_settings(config, image_shape):
    """Generator size: given, or the design's default for the image size
    (``keras_gap.generators.generator_arguments``)."""
    return generator_arguments(config.generator, image_shape, config.generator_filters,
                               config.generator_blocks)


def build_perturber(kind, generator, image_shape, norm, epsilon, seed=0, **generator_kwargs):
    """Builds an untrained perturber of ``kind`` for images of ``image_shape``."""
    if kind not in PERTURBERS:
        raise ValueError(f"perturber kind must be one of {sorted(PERTURBERS)}, got {kind!r}")
    network = build_generator(generator, image_shape, seed=seed, **generator_kwargs)
    projection = projection_for_norm(norm, epsilon)
    if kind == "universal":
        return UniversalPerturber(network, projection, seed=seed, name="universal_perturber")
    return ImageDependentPerturber(network, projection, name="image_dependent_perturber")


def _check_output_dir(output_dir, resolved):
    """Refuses a directory holding another run; returns True to resume."""
    if os.path.exists(output_dir) and not os.path.isdir(output_dir):
        raise ValueError(f"output directory {output_dir!r} exists and is not a directory")
    check_writable_directory(output_dir, "output directory")
    config_path = os.path.join(output_dir, "config.json")
    if not os.path.isfile(config_path):
        return False
    existing = read_json(config_path)
    if existing != resolved:
        differences = sorted(
            k for k in set(existing) | set(resolved) if existing.get(k) != resolved.get(k)
        )
        detail = ", ".join(
            f"{k}: {existing.get(k)!r} there vs {resolved.get(k)!r} now" for k in differences
        )
        raise ValueError(
            f"output directory {output_dir!r} holds a different run's config ({detail}); "
            "choose another --output-dir"
        )
    return True


def _resolve(config, log):
    """Checks the configuration and fills in defaults (victim, sizes, paths)."""
    if config.kind not in PERTURBERS:
        raise ValueError(f"kind must be one of {sorted(PERTURBERS)}, got {config.kind!r}")
    resolved = dataclasses.replace(config)
    resolved.epsilon = float(config.epsilon)
    projection_for_norm(resolved.norm, resolved.epsilon)  # validates norm and epsilon
    if resolved.target_map is None:
        build_objective(resolved.objective, resolved.target_class)
    resolved.target_map = resolve_target_map_spec(resolved)
    for name in ("epochs", "steps_per_epoch", "batch_size"):
        if int(getattr(resolved, name)) < 1:
            raise ValueError(f"{name} must be >= 1, got {getattr(resolved, name)!r}")
    if not (math.isfinite(resolved.learning_rate) and resolved.learning_rate > 0):
        raise ValueError(f"learning rate must be > 0, got {resolved.learning_rate!r}")
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
    resolved.output_dir = resolved.output_dir or config.default_output_dir()
    return resolved


def _load_victims(config, data_classes):
    input_shape = None
    if config.image_size:
        input_shape = (config.image_size, config.image_size, 3)
    victims = []
    for spec in config.victims:
        victim = load_victim(
            spec, weights=config.victim_weights, input_shape=input_shape,
            num_classes=data_classes or 1000,
            safe_mode=not config.unsafe_deserialization,
        )
        if any(d is None for d in victim.input_shape):
            raise ValueError(
                f"victim {spec!r} has no fixed input shape ({victim.input_shape})"
            )
        victims.append(victim)
    check_victims_agree(victims)
    return victims


def _class_count(config):
    """Classes of the data set, for building Keras Applications victims."""
    if config.dataset == "fashion_mnist":
        return 10
    return None  # ImageNet-size heads unless the victim file says otherwise


def _summary(metrics, config, seconds):
    if metrics.get("task") == "segmentation":
        return segmentation_summary(metrics, config, seconds)
    lines = [
        f"{config.kind} {config.objective} attack, {config.norm} epsilon "
        f"{config.epsilon:.4g}, {metrics['num_images']} held-out test images, "
        f"trained in {seconds:.0f} s",
        f"max applied linf {metrics['linf']:.4f}, max applied l2 {metrics['l2']:.4f}",
    ]
    header = ["victim", "fooling", "random noise", "clean acc", "adv acc"]
    targeted = config.target_class is not None
    if targeted:
        header += ["target success", "excl. target"]
    rows = []
    for name, m in metrics["victims"].items():
        row = [name, m["fooling_rate"], m["random_noise_fooling_rate"],
               m["clean_accuracy"], m["adversarial_accuracy"]]
        if targeted:
            row += [m["target_success_rate"], m["target_success_rate_excluding_target_class"]]
        rows.append(row)
    widths = [max(len(header[0]), *(len(r[0]) for r in rows))] + [
        len(h) for h in header[1:]]
    lines.append("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    for row in rows:
        cells = [row[0].ljust(widths[0])] + [
            f"{v:.4f}".ljust(w) for v, w in zip(row[1:], widths[1:])]
        lines.append("  ".join(cells))
    return "\n".join(lines)


class NonFiniteLossError(ValueError):
    """Training met a NaN or infinite loss and was stopped."""


class _StopOnNonFiniteLoss(keras.callbacks.TerminateOnNaN):
    """Stops at the first non-finite batch loss, or non-finite weights at an
    epoch's end (the projection's clipping can hide NaN weights behind a
    finite loss), by raising: neither the epoch's backup (which would save
    poisoned weights; this callback runs first) nor the backup's clean-up at
    the end of training runs, so the last good backup is kept."""

    def __init__(self, backup_dir):
        super().__init__()
        self.backup_dir = backup_dir
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self._stop(f"the loss became {float(loss)} at epoch {self.epoch + 1}, "
                       f"step {batch + 1}")

    def on_epoch_end(self, epoch, logs=None):
        if not all(np.all(np.isfinite(w)) for w in self.model.get_weights()):
            self._stop(f"the generator's weights became non-finite in epoch {epoch + 1}")

    def _stop(self, what):
        kept = (f"the last good backup is kept in {self.backup_dir}"
                if os.path.isdir(self.backup_dir) else "there was no backup yet")
        raise NonFiniteLossError(
            f"training stopped: {what}; lower --learning-rate or check the victims "
            f"and data. No artifacts were written and {kept}"
        )


def run_attack(config, log=print, verbose=None, callbacks=()):
    """Trains, saves and evaluates one attack. Returns the metrics dict.

    ``callbacks`` are extra Keras callbacks for ``fit`` (after the built-in
    backup, NaN guard and TensorBoard ones).
    """
    resolved = _resolve(config, log)
    output_dir = resolved.output_dir
    resolved_dict = dataclasses.asdict(resolved)
    resuming = _check_output_dir(output_dir, resolved_dict)
    metrics_path = os.path.join(output_dir, "metrics.json")
    if resuming and os.path.isfile(metrics_path):
        log(f"{output_dir} already holds a finished run with this configuration:")
        metrics = read_json(metrics_path)
        log(_summary(metrics, resolved, metrics.get("train_seconds", 0.0)))
        return metrics
    keras.utils.set_random_seed(resolved.seed)
    strategy = make_strategy(resolved.strategy)
    chief = is_chief(strategy)
    # Non-chief workers train and save like the chief, into a private folder.
    write_dir = worker_directory(output_dir, strategy)
    with strategy.scope():
        victims = _load_victims(resolved, _class_count(resolved))
        image_shape = victims[0].input_shape
        objective, target_map = attack_objective(resolved, victims[0])
        perturber = build_perturber(
            resolved.kind, resolved.generator, image_shape, resolved.norm,
            resolved.epsilon, seed=resolved.seed,
            **generator_settings(resolved, image_shape),
        )
        trainer_class = GAPTrainer
        if resolved.strategy == "multi_worker":
            trainer_class = multi_worker_trainer(GAPTrainer)
        trainer = trainer_class(perturber, victims, objective, resolved.loss_weights)
        trainer.compile(
            keras.optimizers.Adam(learning_rate=resolved.learning_rate, beta_1=0.5)
        )
        trainer(np.zeros((1,) + image_shape, np.float32))  # build before restoring

    train = load_image_data(resolved.dataset, "train", image_shape, resolved.tfds_data_dir)
    test = load_image_data(resolved.dataset, "test", image_shape, resolved.tfds_data_dir)
    if victims[0].task == "segmenter":
        check_segmentation_data(victims[0], train)
    # Everything is validated: only now does the output directory get files.
    os.makedirs(write_dir, exist_ok=True)
    if chief:
        write_json(os.path.join(output_dir, "config.json"), resolved_dict)
    if resuming:
        log(f"Resuming the run in {output_dir}")
    log(
        f"Training a {resolved.kind} perturber ({resolved.generator} generator, "
        f"{perturber.count_params():,} parameters) against "
        f"{', '.join(v.name for v in victims)} on {resolved.dataset} "
        f"({resolved.epochs} epochs x {resolved.steps_per_epoch} steps x "
        f"batch {resolved.batch_size}, {strategy.num_replicas_in_sync} replica(s))"
    )
    backup_dir = os.path.join(write_dir, "backup")
    callbacks = [
        _StopOnNonFiniteLoss(backup_dir),
        # double_checkpoint: a kill while saving leaves the previous backup.
        keras.callbacks.BackupAndRestore(backup_dir, double_checkpoint=True),
        keras.callbacks.TensorBoard(os.path.join(write_dir, "logs")),
        *callbacks,
    ]
    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2
    start = time.perf_counter()
    dataset = train.dataset(resolved.batch_size, shuffle_seed=resolved.seed, repeat=True)
    if resolved.strategy == "multi_worker":
        # Keras 3.15 cannot reduce (images, labels) batches across workers
        # when it builds the model; these objectives need no labels anyway.
        if objective.needs_labels:
            raise ValueError(f"--strategy multi_worker does not support {objective!r}")
        dataset = shard_by_data(dataset.map(lambda images, labels: images))
    trainer.fit(
        dataset,
        epochs=resolved.epochs, steps_per_epoch=resolved.steps_per_epoch,
        callbacks=callbacks, verbose=verbose, shuffle=False,
    )
    seconds = time.perf_counter() - start

    if not chief:
        save_keras(perturber, os.path.join(write_dir, "perturber.keras"))
        remove_worker_directory(write_dir, output_dir)
        log(f"Worker finished after {seconds:.0f} s; the chief writes the artifacts")
        return {}
    save_keras(perturber, os.path.join(output_dir, "perturber.keras"))
    if resolved.kind == "universal":
        delta = np.asarray(perturber.universal_perturbation())[0]
        save_numpy(os.path.join(output_dir, "perturbation.npy"), delta)
        save_perturbation_png(delta, os.path.join(output_dir, "perturbation.png"))
    if victims[0].task == "segmenter":
        save_segmentation_samples(perturber, victims[0], test,
                                  os.path.join(output_dir, "samples.png"), target_map)
        metrics = evaluate_segmentation(
            perturber, victims, test, limit=resolved.eval_images, seed=resolved.seed,
            target_map=target_map,
        )
    else:
        _save_samples(perturber, victims[0], test, os.path.join(output_dir, "samples.png"))
        metrics = evaluate_classification(
            perturber, victims, test, limit=resolved.eval_images, seed=resolved.seed,
            target_class=resolved.target_class,
        )
    primary = metrics["victims"][victims[0].name]
    metrics = {**primary, **metrics, "train_seconds": seconds,
               "train_images": resolved.epochs * resolved.steps_per_epoch * resolved.batch_size}
    write_json(metrics_path, metrics)
    log(_summary(metrics, resolved, seconds))
    log(f"Artifacts in {output_dir}")
    return metrics


def _save_samples(perturber, victim, test, path):
    images, _ = next(iter(test.dataset(SAMPLE_COUNT)))
    adversarial = perturber(images, training=False)
    names = test.class_names
    clean_names = [names[i] for i in np.argmax(victim.logits(images), -1)]
    adversarial_names = [names[i] for i in np.argmax(victim.logits(adversarial), -1)]
    perturbations = None
    if perturber.kind != "universal":
        perturbations = np.asarray(adversarial) - np.asarray(images)
    save_samples_png(np.asarray(images), np.asarray(adversarial), clean_names,
                     adversarial_names, path, perturbations)
