"""A sweep: candidate settings of one attack side by side on several victims.

Defaults are chosen on tables like this one, not on one victim.
``run_sweep(candidates, victims, output_dir)`` trains one ``run_attack``
per candidate and victim into ``<output_dir>/<candidate>/<victim>/`` and,
after every cell, rewrites ``sweep.json`` and ``sweep.md``: one row per
candidate, one column per victim holding the attack's score (target
success for the targeted objectives, else the fooling rate), the
candidate's mean over the victims, and its worst shortfall: how far it
falls below the best candidate on the victim where it falls furthest.
Re-running the same sweep resumes cell by cell (a finished cell is read
back, an interrupted one resumes from its backup). With ``cost=True`` the
table gains its cost half (``sweep_cost``): each cell's ms per image beside
PGD-10's on the same victim, and PGD-10's score beside the cells'.
"""

import dataclasses
import os
import re

import numpy as np

from keras_gap.artifacts import check_writable_directory
from keras_gap.artifacts import write_json
from keras_gap.reports.tables import format_table
from keras_gap.reports.tables import write_text
from keras_gap.runs.attack_config import resolve_config
from keras_gap.runs.attack_run import run_attack
from keras_gap.runs.sweep_cost import REFERENCE_LABEL
from keras_gap.runs.sweep_cost import check_cost_victims
from keras_gap.runs.sweep_cost import cost_rows
from keras_gap.runs.sweep_cost import measure_costs
from keras_gap.training.victim_training import ensure_default_victim
from keras_gap.victims import victim_name

DEFAULTS_LABEL = "defaults"
SWEEP_FILES = ("sweep.json", "sweep.md")


@dataclasses.dataclass
class Candidate:
    """One row of a sweep: a label (the flags it adds to the sweep's own,
    or ``DEFAULTS_LABEL``) and the attack configuration they make, without
    victims or output directory (the sweep sets both per cell)."""

    label: str
    config: object

    @property
    def directory_name(self):
        """The label as a folder name: ``--reduction batch_mean`` → ``reduction_batch_mean``."""
        name = re.sub(r"[^A-Za-z0-9.=+-]+", "_", self.label.replace("--", " ")).strip("_")
        return name or DEFAULTS_LABEL


def score_key(config):
    """The metric a sweep compares for ``config``: the target success of a
    targeted attack, else the fooling rate."""
    return "fooling_rate" if config.target_class is None else "target_success_rate"


def check_candidates(candidates):
    """Raises a ``ValueError`` naming the candidate that cannot share a
    table with the first (another score, or a folder name already taken)."""
    if not candidates:
        raise ValueError("a sweep needs at least one candidate")
    labels = [c.label for c in candidates]
    for label in labels:
        if labels.count(label) > 1:
            raise ValueError(f"candidate {label!r} is given twice")
    folders = {}
    for candidate in candidates:
        other = folders.setdefault(candidate.directory_name, candidate.label)
        if other != candidate.label:
            raise ValueError(f"candidates {other!r} and {candidate.label!r} would share the "
                             f"folder {candidate.directory_name!r}; write one differently")
    key = score_key(candidates[0].config)
    for candidate in candidates[1:]:
        if score_key(candidate.config) != key:
            raise ValueError(
                f"candidate {candidate.label!r} is scored by {score_key(candidate.config)} "
                f"but {candidates[0].label!r} by {key}: a sweep compares one score (give "
                "every candidate a target class, or none)")


def check_victims(victims):
    """Raises a ``ValueError`` for two victims with the same name (their
    cells would share a folder)."""
    names = [victim_name(v) for v in victims]
    for name in names:
        if names.count(name) > 1:
            raise ValueError(f"two --victim values are named {name!r}; a sweep needs "
                             "victims with different file names")
    return names


def sweep_report(candidates, names, cells, cost=None):
    """The JSON payload: each cell's score, each candidate's mean and worst
    shortfall once it has every victim, and the best candidate once the
    sweep is complete; with ``cost`` (``measure_costs``), that and each
    candidate's ``cost_rows``.

    ``cells`` is ``{(candidate label, victim name): metrics}``.
    """
    key = score_key(candidates[0].config)
    best = {}
    for name in names:
        scores = [cells[(c.label, name)][key] for c in candidates if (c.label, name) in cells]
        if len(scores) == len(candidates):
            best[name] = max(scores)
    rows = []
    for candidate in candidates:
        scores = {name: cells[(candidate.label, name)][key]
                  for name in names if (candidate.label, name) in cells}
        seconds = [cells[(candidate.label, name)].get("train_seconds") for name in scores]
        row = {"candidate": candidate.label, "directory": candidate.directory_name,
               "scores": scores,
               "train_seconds": {name: s for name, s in zip(scores, seconds)}}
        if len(scores) == len(names):
            row["mean"] = float(np.mean(list(scores.values())))
            if len(best) == len(names):
                row["worst_shortfall"] = float(max(best[n] - scores[n] for n in names))
        rows.append(row)
    floor = None
    if key == "fooling_rate":
        floor = {name: cells[(candidates[0].label, name)]["random_noise_fooling_rate"]
                 for name in names if (candidates[0].label, name) in cells}
    report = {"score": key, "victims": names, "candidates": rows, "noise_floor": floor,
              "complete": len(cells) == len(candidates) * len(names)}
    if report["complete"]:
        report["best_on_average"] = max(rows, key=lambda r: r["mean"])["candidate"]
    if cost is not None:
        report["cost"] = cost
        report["against_reference"] = cost_rows(report, key)
    return report


def _cost_markdown(report):
    """The cost table: per candidate and victim the ms per image and how
    many times cheaper than PGD-10 that is, then the fewest times and the
    most points below PGD-10's score over the victims; last, PGD-10."""
    cost, names = report["cost"], report["victims"]
    reference = cost["reference"]
    header = ["candidate", *names, f"fewest × cheaper than {REFERENCE_LABEL}",
              f"most points below {REFERENCE_LABEL}"]
    rows = []
    for row in report["candidates"]:
        times = cost["ms_per_image"].get(row["candidate"], {})
        against = report["against_reference"].get(row["candidate"])
        rows.append([
            f"`{row['candidate']}`" if row["candidate"] != DEFAULTS_LABEL else DEFAULTS_LABEL,
            *(f"{times[n]:.3f} ms ({reference[n]['ms_per_image'] / times[n]:.1f}×)"
              if n in times else None for n in names),
            None if against is None else f"{min(against['times_cheaper'].values()):.1f}×",
            None if against is None else
            f"{100 * max(against['below_reference'].values()):.1f}"])
    key = report["score"]
    rows.append([f"{REFERENCE_LABEL} ({key})",
                 *(f"{reference[n]['ms_per_image']:.3f} ms ({reference[n][key]:.3f})"
                   for n in names), None, None])
    return (f"Cost on {cost['device']}: ms per image of each attack (the median of timed "
            f"batches of {cost['timing_batch']} held-out images) and how many times "
            f"cheaper than {REFERENCE_LABEL} on the same victim that is; "
            f"{REFERENCE_LABEL}'s score is measured on the same images as the runs'.\n\n"
            f"{format_table(header, rows)}")


def sweep_markdown(report, title):
    """``sweep.md``: the title, one row per candidate (and the noise floor)."""
    names = report["victims"]
    header = ["candidate", *names, "mean", "worst shortfall", "mean train s"]
    rows = []
    for row in report["candidates"]:
        seconds = [s for s in row["train_seconds"].values() if s is not None]
        rows.append([f"`{row['candidate']}`" if row["candidate"] != DEFAULTS_LABEL
                     else DEFAULTS_LABEL,
                     *(row["scores"].get(name) for name in names), row.get("mean"),
                     row.get("worst_shortfall"),
                     f"{np.mean(seconds):.0f}" if seconds else None])
    if report["noise_floor"] is not None:
        floor = report["noise_floor"]
        values = [floor.get(name) for name in names]
        known = [v for v in values if v is not None]
        rows.append(["random ±ε noise", *values,
                     float(np.mean(known)) if len(known) == len(names) else None, None, None])
    text = f"{title}\n\nScore: {report['score']}.\n\n{format_table(header, rows)}"
    if report["complete"]:
        text = f"{text}\n\nBest on average: {report['best_on_average']}."
        if "cost" in report:
            text = f"{text}\n\n{_cost_markdown(report)}"
        return text
    done = sum(len(r["scores"]) for r in report["candidates"])
    total = len(report["candidates"]) * len(names)
    return f"{text}\n\n{done} of {total} runs done; re-run the same command to continue."


def sweep_title(config, victim_count):
    return (f"Sweep: {config.kind} {config.objective}"
            f"{'' if config.target_class is None else f' to class {config.target_class}'}, "
            f"{config.norm} epsilon {config.epsilon:.4g}, {config.train_images} training "
            f"images ({config.epochs} x {config.steps_per_epoch} x {config.batch_size}), "
            f"seed {config.seed}, {victim_count} victims")


def default_sweep_dir(config):
    return os.path.join("runs", f"sweep_{config.kind}_{config.objective}")


def _write_report(candidates, names, cells, cost, output_dir, title):
    report = sweep_report(candidates, names, cells, cost)
    write_json(os.path.join(output_dir, "sweep.json"), report)
    write_text(os.path.join(output_dir, "sweep.md"), sweep_markdown(report, title))
    return report


def run_sweep(candidates, victims, output_dir=None, log=print, verbose=None, cost=False):
    """Runs every candidate against every victim (each alone) and returns the report.

    Args:
        candidates: ``Candidate`` rows; the first names the table's title.
        victims: victim specs (files or Keras Applications names); empty:
            the cached default victim.
        output_dir: default ``runs/sweep_<kind>_<objective>``.
        cost: once every cell is done, time each cell's perturber and
            PGD-10 on each victim, and score PGD-10 there (``sweep_cost``).
    """
    check_candidates(candidates)
    first = candidates[0].config
    victims = list(victims) or [ensure_default_victim(first.dataset, log=log)]
    names = check_victims(victims)
    output_dir = output_dir or default_sweep_dir(first)
    check_writable_directory(output_dir, "output directory")
    # Every cell's configuration is checked before the first one trains.
    cells_to_run = []
    for candidate in candidates:
        for spec, name in zip(victims, names):
            config = dataclasses.replace(
                candidate.config, victims=[spec], loss_weights=None,
                output_dir=os.path.join(output_dir, candidate.directory_name, name))
            cells_to_run.append((candidate, name, config, resolve_config(config, log)))
    if cost:
        check_cost_victims([resolved for _, _, _, resolved in cells_to_run[:len(victims)]])
    title = sweep_title(first, len(victims))
    cells = {}
    for index, (candidate, name, config, _) in enumerate(cells_to_run):
        log(f"Sweep run {index + 1} of {len(cells_to_run)}: {candidate.label} on {name}")
        cells[(candidate.label, name)] = run_attack(config, log=log, verbose=verbose)
        report = _write_report(candidates, names, cells, None, output_dir, title)
    if cost:
        costs = measure_costs([(candidate.label, name, resolved)
                               for candidate, name, _, resolved in cells_to_run],
                              output_dir, log)
        report = _write_report(candidates, names, cells, costs, output_dir, title)
    log(sweep_markdown(report, title))
    log(f"Table in {os.path.join(output_dir, 'sweep.md')} and sweep.json")
    return report
