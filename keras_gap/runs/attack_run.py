"""One training run of a GAP attack, from configuration to artifacts.

``run_attack(AttackConfig(...))`` is what ``python -m train.universal`` and
``python -m train.image_dependent`` call. It goes resolve → build → fit →
write artifacts → ``task.evaluate`` → ``task.summary``, and writes into the
output directory, in this order: ``config.json`` (first), TensorBoard
``logs/``, ``perturber.keras``, ``perturbation.npy`` / ``perturbation.png``
(universal), ``samples.png`` and ``metrics.json`` (the ``--split`` images).
Every file is written under a temporary name and renamed. Re-running the
same command resumes from ``backup/`` (``RunBackup``), which is deleted only
once every artifact is written. The directory is one run's at a time
(``RunLock``); every value, victim and size is checked before it gets a file.
"""

import dataclasses
import os
import shutil
import sys
import time

import keras
import numpy as np

from keras_gap import backend
from keras_gap.artifacts import save_keras
from keras_gap.artifacts import save_numpy
from keras_gap.data import load_image_data
from keras_gap.data.native_size import native_image_shape
from keras_gap.generators import check_generator_size
from keras_gap.generators import generator_arguments
from keras_gap.layers import InputDiversity
from keras_gap.perturbers import build_perturber
from keras_gap.reports.figures import save_perturbation_png
from keras_gap.tasks import task_for
from keras_gap.runs.attack_config import LEGACY_VALUES
from keras_gap.runs.attack_config import resolve_config
from keras_gap.training.backup import RunBackup
from keras_gap.training.callbacks import StopOnNonFiniteLoss
from keras_gap.training.distribution import is_chief
from keras_gap.training.distribution import make_strategy
from keras_gap.training.distribution import multi_worker_trainer
from keras_gap.training.distribution import remove_worker_directory
from keras_gap.training.distribution import shard_by_data
from keras_gap.training.distribution import worker_directory
from keras_gap.training.gap_trainer import GAPTrainer
from keras_gap.training.optimizer import gap_optimizer
from keras_gap.training.precision import JIT_COMPILE
from keras_gap.training.precision import mixed_precision_scope
from keras_gap.training.memory import check_attack_memory
from keras_gap.runs.run_directory import PERTURBER_NAME
from keras_gap.runs.run_directory import RunLock
from keras_gap.runs.run_directory import check_output_dir
from keras_gap.runs.run_directory import read_finished_metrics
from keras_gap.runs.run_directory import write_config
from keras_gap.runs.run_directory import write_metrics
from keras_gap.victims import application_head_classes
from keras_gap.victims import describe_weights
from keras_gap.victims import check_victims_agree
from keras_gap.victims import load_victims
from keras_gap.victims.torch_victims import is_torchscript


@dataclasses.dataclass
class Attack:
    """What a run builds before training: victims, data, task, perturber, trainer."""

    victims: list
    train: object
    test: object
    task: object
    perturber: object
    trainer: object


def data_shape_for(victims, dataset, tfds_data_dir=None):
    """The data's own image shape when a victim cannot tell its own (a
    TorchScript file), else None (nothing is read)."""
    if not any(is_torchscript(v) for v in victims):
        return None
    return native_image_shape(dataset, tfds_data_dir) or load_image_data(
        dataset, "train", tfds_data_dir=tfds_data_dir).image_shape


def victims_of(config):
    """The victims of ``config``, loaded as its run loads them, checked to agree."""
    image_shape = None if not config.image_size else (config.image_size, config.image_size, 3)
    victims = load_victims(config.victims, image_shape, weights=config.victim_weights,
                           num_classes=application_head_classes(config.dataset),
                           safe_mode=not config.unsafe_deserialization,
                           data_shape=data_shape_for(config.victims, config.dataset,
                                                     config.tfds_data_dir))
    check_victims_agree(victims)
    return victims


def load_victims_and_data(config):
    """The victims, the train split and the evaluation split (``config.split``)
    at the victims' image shape, and the task with its target."""
    victims = victims_of(config)
    image_shape = victims[0].input_shape
    train, test = (load_image_data(config.dataset, split, image_shape, config.tfds_data_dir,
                                   refuse_bad_files=config.refuse_bad_images)
                   for split in ("train", config.split))
    task = task_for(victims[0], target_class=config.target_class,
                    target_map=config.target_map, test_data=test)
    return victims, train, test, task


def _build_perturber(config, victims, replicas):
    """The untrained perturber, once its size is known to fit the image and
    this machine's memory at ``config.batch_size``."""
    image_shape = victims[0].input_shape
    check_generator_size(config.generator, config.generator_filters, config.generator_blocks,
                         image_shape)
    settings = generator_arguments(
        config.generator, image_shape, config.generator_filters, config.generator_blocks)
    perturber = build_perturber(config.kind, config.generator, image_shape, config.norm,
                                config.epsilon, seed=config.seed, projection=config.projection,
                                **settings)
    check_attack_memory(config.batch_size, perturber, victims, replicas)
    return perturber


def _first_step(trainer, config, image_shape):
    """Builds the trainer on one black image (before restoring a backup); a
    generator or victim that cannot take the images fails here, cleanly."""
    try:
        trainer(np.zeros((1,) + image_shape, np.float32))
    except Exception as error:  # TensorFlow raises its own types for shapes
        cause = next((line.strip() for line in str(error).splitlines() if line.strip()),
                     type(error).__name__)
        raise ValueError(
            f"the {config.generator} generator and the victims cannot run on "
            f"{image_shape} images: {cause}") from None


def build_attack(config, replicas=1):
    """Loads the victims and data of a resolved ``config`` and builds the
    task, the untrained perturber and the compiled ``GAPTrainer``. Call it in
    the distribution strategy's scope (``replicas`` devices). With
    ``config.mixed_precision`` the generator and the Keras Applications
    victims compute in 16 bits."""
    with mixed_precision_scope(config.mixed_precision):
        victims, train, test, task = load_victims_and_data(config)
        image_shape = victims[0].input_shape
        for data in (train, test):
            task.check_data(victims[0], data)
        perturber = _build_perturber(config, victims, replicas)
    trainer_class = GAPTrainer
    if config.strategy == "multi_worker":
        trainer_class = multi_worker_trainer(GAPTrainer)
    objective = task.objective(config.objective, config.reduction, config.feature_layers)
    diversity = (InputDiversity(config.input_diversity, seed=config.seed)
                 if config.input_diversity else None)
    trainer = trainer_class(perturber, victims, objective, config.loss_weights,
                            input_diversity=diversity)
    trainer.compile(gap_optimizer(config.learning_rate, config.ema_momentum,
                                  config.learning_rate_schedule, config.train_steps),
                    jit_compile=JIT_COMPILE[config.jit_compile])
    _first_step(trainer, config, image_shape)
    return Attack(victims, train, test, task, perturber, trainer)


def _fit(attack, config, write_dir, callbacks, verbose):
    """Trains the attack's perturber; returns the wall-clock seconds."""
    backup_dir = os.path.join(write_dir, "backup")
    backup = RunBackup(backup_dir)  # a failed save leaves the previous backup
    callbacks = [
        StopOnNonFiniteLoss(backup_dir),
        backup,
        keras.callbacks.TensorBoard(os.path.join(write_dir, "logs")),
        *callbacks,
    ]
    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2
    dataset = attack.train.dataset(config.batch_size, shuffle_seed=config.seed, repeat=True)
    if config.strategy == "multi_worker":
        # Keras 3.15 cannot reduce (images, labels) batches across workers
        # when it builds the model; these objectives need no labels anyway.
        if attack.trainer.objective.needs_labels:
            raise ValueError(
                f"--strategy multi_worker does not support {attack.trainer.objective!r}")
        dataset = shard_by_data(dataset.map(lambda images, labels: images))
    start = time.perf_counter()
    try:
        attack.trainer.fit(dataset, epochs=config.epochs,
                           steps_per_epoch=config.steps_per_epoch, callbacks=callbacks,
                           verbose=verbose, shuffle=False,
                           initial_epoch=backup.initial_epoch())
    except Exception as error:  # each backend has its own out-of-memory error
        if not backend.is_out_of_memory(error):
            raise
        raise ValueError(
            f"out of memory at --batch-size {config.batch_size}; lower it (the same "
            "command with a smaller batch needs a new --output-dir)") from None
    return time.perf_counter() - start


def _write_artifacts(attack, config, seconds):
    """Writes the perturber, the universal perturbation, the samples and the
    held-out metrics; returns the metrics."""
    output_dir = config.output_dir
    perturber, victims = attack.perturber, attack.victims
    save_keras(perturber, os.path.join(output_dir, PERTURBER_NAME))
    delta = perturber.fixed_perturbation()
    if delta is not None:
        delta = delta[0]
        save_numpy(os.path.join(output_dir, "perturbation.npy"), delta)
        save_perturbation_png(delta, os.path.join(output_dir, "perturbation.png"))
    attack.task.save_samples(perturber, victims[0], attack.test,
                             os.path.join(output_dir, "samples.png"))
    metrics = attack.task.evaluate(perturber, victims, attack.test,
                                   limit=config.eval_images, seed=config.seed)
    primary = metrics["victims"][victims[0].name]
    metrics = {**primary, **metrics, "split": attack.test.split, "train_seconds": seconds,
               "train_images": config.train_images,
               "skipped_files": {data.split: len(data.skipped_files)
                                 for data in (attack.train, attack.test)}}
    write_metrics(output_dir, metrics)
    return metrics


def _images_of(split):
    """How the summary names the evaluated images, e.g. "held-out validation images"."""
    split = split or "test"
    return f"{'' if split == 'train' else 'held-out '}{split} images"


def summary(task, config, metrics, seconds):
    """The lines printed at the end of a run."""
    return "\n".join([
        f"{config.kind} {config.objective} {task.attack_phrase}, {config.norm} epsilon "
        f"{config.epsilon:.4g}, {metrics['num_images']} {_images_of(metrics.get('split'))}, "
        f"trained in {seconds:.0f} s",
        f"max applied linf {metrics['linf']:.4f}, max applied l2 {metrics['l2']:.4f}",
        *task.summary(metrics),
    ])


def _describe(attack, config, strategy):
    precision = f", mixed {config.mixed_precision}" if config.mixed_precision else ""
    article = "an" if config.kind[0] in "aeiou" else "a"
    return (
        f"Training {article} {config.kind} perturber ({config.generator} generator, "
        f"{attack.perturber.count_params():,} parameters{precision}) against "
        f"{', '.join(f'{v.name} ({describe_weights(v.weights)})' for v in attack.victims)} "
        f"on {config.dataset} "
        f"({config.epochs} epochs x {config.steps_per_epoch} steps x "
        f"batch {config.batch_size}, {strategy.num_replicas_in_sync} replica(s))"
    )


def _report_finished(config, metrics, log):
    """Prints the summary of the finished run whose metrics are ``metrics``."""
    task = load_victims_and_data(config)[3]
    try:
        text = summary(task, config, metrics, metrics.get("train_seconds", 0.0))
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(
            f"{os.path.join(config.output_dir, 'metrics.json')!r} is damaged ({error!r}); "
            "delete it and run the same command again to redo the run") from None
    log(f"{config.output_dir} already holds a finished run with this configuration:")
    log(text)


def _train_and_write(config, resolved, strategy, log, verbose, callbacks):
    """The run in its (locked) output directory; returns the metrics."""
    output_dir = config.output_dir
    resuming = check_output_dir(output_dir, resolved, legacy=LEGACY_VALUES)
    metrics = read_finished_metrics(output_dir) if resuming else None
    if metrics is not None:
        _report_finished(config, metrics, log)
        return metrics
    with strategy.scope():
        attack = build_attack(config, strategy.num_replicas_in_sync)
    chief = is_chief(strategy)
    # Non-chief workers train and save like the chief, into a private folder.
    write_dir = worker_directory(output_dir, strategy)
    # Everything is validated: only now does the output directory get files.
    os.makedirs(write_dir, exist_ok=True)
    if chief:
        write_config(output_dir, resolved)
    if resuming:
        log(f"Resuming the run in {output_dir}")
    for data in (attack.train, attack.test):
        if data.skipped_report():
            log(data.skipped_report())
    log(_describe(attack, config, strategy))
    seconds = _fit(attack, config, write_dir, callbacks, verbose)
    if not chief:
        save_keras(attack.perturber, os.path.join(write_dir, PERTURBER_NAME))
        remove_worker_directory(write_dir, output_dir)
        log(f"Worker finished after {seconds:.0f} s; the chief writes the artifacts")
        return {}
    metrics = _write_artifacts(attack, config, seconds)
    shutil.rmtree(os.path.join(output_dir, "backup"), ignore_errors=True)
    log(summary(attack.task, config, metrics, seconds))
    log(f"Artifacts in {output_dir}")
    return metrics


def run_attack(config, log=print, verbose=None, callbacks=()):
    """Trains, saves and evaluates one attack. Returns the metrics dict.

    ``callbacks`` are extra Keras callbacks for ``fit`` (after the built-in
    backup, NaN guard and TensorBoard ones). The chief holds the output
    directory's ``RunLock`` for the whole run.
    """
    config = resolve_config(config, log)
    keras.utils.set_random_seed(config.seed)
    strategy = make_strategy(config.strategy)
    arguments = (config, dataclasses.asdict(config), strategy, log, verbose, callbacks)
    if not is_chief(strategy):
        return _train_and_write(*arguments)
    with RunLock(config.output_dir):
        return _train_and_write(*arguments)
