"""The cost half of a sweep (``train.sweep --cost``): each cell's attack
time beside PGD-10's, and PGD-10's score beside the cells'.

For every victim, PGD-10 (``baselines.pgd``, 10 steps of 2.5 ε / 10, aimed
where the sweep's objective aims: ``Objective.baseline_objective``) is
evaluated exactly as the cells are (``Task.evaluate`` on the same held-out
images, ``--eval-images`` and seed included), and cached in
``<output_dir>/pgd10/<victim>/reference.json`` so a re-run does not redo it.
Then PGD-10 and every cell's saved perturber are timed the same way on this
machine (``time_call``: the median of ``REPEATS`` calls on one batch of
``TIMING_BATCH`` held-out images, after ``WARMUP`` untimed calls). Times
are re-measured on every run of the sweep: they belong to the machine.

A PGD-10 time is checked against the victim's own compiled forward pass on
the same batch (``check_reference_time``): ten gradient steps cannot take
less than ``PLAUSIBLE_FORWARD_PASSES`` forward passes, so a faster reading
(once seen at the end of a long sweep process: 0.17 ms per image where one
forward pass took 0.4) is re-timed once, then refused with an error rather
than written into the table.
"""

import functools
import os

from keras_gap import backend
from keras_gap.artifacts import read_json
from keras_gap.artifacts import write_json
from keras_gap.baselines.gradient_attacks import PGD_STEPS
from keras_gap.baselines.gradient_attacks import pgd
from keras_gap.cost.timing import device_description
from keras_gap.cost.timing import time_call
from keras_gap.objectives import OBJECTIVES
from keras_gap.perturbers import load_perturber
from keras_gap.runs.attack_run import load_victims_and_data
from keras_gap.runs.attack_run import victims_of
from keras_gap.runs.run_directory import PERTURBER_NAME

REFERENCE_LABEL = f"PGD-{PGD_STEPS}"
REFERENCE_DIRECTORY = f"pgd{PGD_STEPS}"
TIMING_BATCH = 256
WARMUP = 2
REPEATS = 5
# Each PGD step is a forward and a backward pass (about three forward passes
# of work); half a forward pass per step leaves room for timing noise.
PLAUSIBLE_FORWARD_PASSES = PGD_STEPS / 2


class IterativeReference:
    """PGD-10 standing where a perturber stands, so that the evaluation of
    the cells evaluates it too (a fresh attack per image: not shared)."""

    shared_perturbation = False

    def __init__(self, victim, norm, epsilon, objective, target_class=None):
        self.victim = victim
        self.norm = norm
        self.epsilon = epsilon
        self.objective = objective
        self.target_class = target_class
        self.image_shape = tuple(victim.input_shape)

    def __call__(self, images, training=False):
        return pgd(self.victim, images, self.epsilon, self.norm, steps=PGD_STEPS,
                   objective=self.objective, target=self.target_class)


def check_cost_victims(configs):
    """Raises a ``ValueError`` naming a victim that ``--cost`` cannot
    compare with PGD-10 (a segmenter: its reference would be a dense attack
    the benchmark does not time)."""
    for config in configs:
        victims = victims_of(config)
        if victims[0].task != "classifier":
            raise ValueError(f"--cost compares classifiers with PGD-{PGD_STEPS}; victim "
                             f"{config.victims[0]!r} is a {victims[0].task}")


def _timing_batch(test):
    images, _ = next(iter(test.dataset(TIMING_BATCH, limit=TIMING_BATCH)))
    return images


def _is_plausible(reference_ms, forward_ms):
    return reference_ms >= PLAUSIBLE_FORWARD_PASSES * forward_ms


def check_reference_time(reference_ms, forward_ms, victim_name):
    """Raises a ``RuntimeError`` when PGD-10's ``reference_ms`` per image
    is under ``PLAUSIBLE_FORWARD_PASSES`` of the victim's forward passes
    (``forward_ms`` per image, timed the same way on the same batch)."""
    if not _is_plausible(reference_ms, forward_ms):
        floor = PLAUSIBLE_FORWARD_PASSES * forward_ms
        raise RuntimeError(
            f"{REFERENCE_LABEL} was timed at {reference_ms:.3f} ms per image on victim "
            f"{victim_name!r}, under {PLAUSIBLE_FORWARD_PASSES:g} of its forward passes "
            f"({forward_ms:.3f} ms per image each, so at least {floor:.3f} ms); that timing "
            f"is not possible, so no cost table was written. Run the same command again in "
            f"a fresh process: the trained runs and the {REFERENCE_LABEL} scores are kept.")


def time_reference(reference, victim, images):
    """PGD-10's timing on ``images``, re-timed once when it is implausibly
    fast for ``victim`` (``check_reference_time``)."""
    forward_ms = time_call(backend.compiled(victim.logits), images, WARMUP,
                           REPEATS)["ms_per_image"]
    timing = time_call(reference, images, WARMUP, REPEATS)
    if not _is_plausible(timing["ms_per_image"], forward_ms):
        timing = time_call(reference, images, WARMUP, REPEATS)
    check_reference_time(timing["ms_per_image"], forward_ms, victim.name)
    return timing


def measure_reference(config, loaded, directory, log=print):
    """PGD-10's score on the victim of the (resolved) cell ``config``
    (``loaded``: its ``load_victims_and_data``): read back from
    ``directory`` when it was measured before, else evaluated and written
    there. Returns the evaluation's metrics of that victim and
    ``ms_per_image`` (timed now)."""
    victims, _, test, task = loaded
    victim = victims[0]
    objective = OBJECTIVES[config.objective].baseline_objective
    reference = IterativeReference(victim, config.norm, config.epsilon, objective,
                                   config.target_class)
    path = os.path.join(directory, "reference.json")
    stored = read_json(path) if os.path.isfile(path) else None
    wanted = {"victim": os.path.abspath(config.victims[0]), "objective": objective,
              "norm": config.norm, "epsilon": config.epsilon,
              "target_class": config.target_class, "split": config.split,
              "eval_images": config.eval_images, "seed": config.seed}
    if stored is None or stored.get("settings") != wanted:
        log(f"{REFERENCE_LABEL} ({objective}) on {victim.name}, as the runs are evaluated")
        evaluation = task.evaluate(reference, [victim], test, limit=config.eval_images,
                                   seed=config.seed)
        stored = {"settings": wanted, "num_images": evaluation["num_images"],
                  "metrics": evaluation["victims"][victim.name]}
        os.makedirs(directory, exist_ok=True)
        write_json(path, stored)
    timing = time_reference(reference, victim, _timing_batch(test))
    return {**stored["metrics"], "num_images": stored["num_images"],
            "ms_per_image": timing["ms_per_image"]}


def measure_perturber_time(config, loaded):
    """The ms per image of the cell's saved perturber on its victim's
    held-out images (``loaded``: as for ``measure_reference``), timed as
    ``measure_reference`` times PGD-10."""
    test = loaded[2]
    perturber = load_perturber(os.path.join(config.output_dir, PERTURBER_NAME),
                               safe_mode=not config.unsafe_deserialization)
    attack = backend.compiled(functools.partial(perturber, training=False))
    return time_call(attack, _timing_batch(test), WARMUP, REPEATS)["ms_per_image"]


def measure_costs(cells, output_dir, log=print):
    """``cells`` is ``[(candidate label, victim name, resolved config)]``.

    Returns ``{"device", "timing_batch", "reference": {victim: metrics and
    ms_per_image}, "ms_per_image": {candidate: {victim: ms}}}``."""
    loaded, reference, times = {}, {}, {}
    for label, name, config in cells:
        if name not in loaded:
            loaded[name] = load_victims_and_data(config)
            reference[name] = measure_reference(
                config, loaded[name], os.path.join(output_dir, REFERENCE_DIRECTORY, name), log)
        times.setdefault(label, {})[name] = measure_perturber_time(config, loaded[name])
    return {"device": device_description(), "timing_batch": TIMING_BATCH,
            "reference": reference, "ms_per_image": times}


def cost_rows(report, key):
    """Per candidate: the fewest times cheaper than PGD-10 it is on any
    victim and the most points below PGD-10's ``key`` it falls on any."""
    cost = report["cost"]
    reference = cost["reference"]
    rows = {}
    for row in report["candidates"]:
        times = cost["ms_per_image"].get(row["candidate"], {})
        names = [n for n in report["victims"] if n in times and n in row["scores"]]
        if len(names) < len(report["victims"]):
            continue
        rows[row["candidate"]] = {
            "times_cheaper": {n: reference[n]["ms_per_image"] / times[n] for n in names},
            "below_reference": {n: reference[n][key] - row["scores"][n] for n in names}}
    return rows
