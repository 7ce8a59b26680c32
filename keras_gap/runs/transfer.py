"""Evaluating trained perturbers against any victims, and the transfer table.

``evaluate_perturber`` measures one perturber against victims it may never
have seen, with the metrics of the victims' task (classification or
segmentation). ``transfer_table`` does it for several training runs and
builds the paper's Table 4: rows are the victim(s) each perturber was
trained on (read from the run's ``config.json``), columns are the victims it
is evaluated on, cells are fooling rates (and target success for targeted
runs). ``write_transfer`` saves it as ``transfer.json``, ``transfer.md`` and
a ``transfer.png`` heat map, all three or none.
"""

import os

from keras_gap.artifacts import files_together
from keras_gap.artifacts import write_json
from keras_gap.data import HELD_OUT
from keras_gap.data import load_image_data
from keras_gap.reports.figures import save_heat_map
from keras_gap.reports.tables import format_table
from keras_gap.reports.tables import write_text
from keras_gap.runs.run_directory import Run
from keras_gap.runs.run_directory import load_run
from keras_gap.tasks import task_for
from keras_gap.victims import check_victims_fit
from keras_gap.victims import describe_weights

TRANSFER_FILES = ("transfer.json", "transfer.md", "transfer.png")


def evaluate_perturber(perturber, victims, data, task, batch_size=None, limit=None, seed=0):
    """``task.evaluate`` after checking that the victims and the data fit.

    Returns ``{"num_images", "linf", "l2", "victims": {name: metrics}}``
    with the task's metrics for each victim.
    """
    check_victims_fit(victims, perturber.image_shape)
    if tuple(data.image_shape) != tuple(perturber.image_shape):
        raise ValueError(
            f"the {data.name} images have shape {tuple(data.image_shape)}, but the "
            f"perturber takes {tuple(perturber.image_shape)}"
        )
    options = {} if batch_size is None else {"batch_size": batch_size}
    return task.evaluate(perturber, victims, data, limit=limit, seed=seed, **options)


def _distinguishing_names(directories):
    """For each directory, the shortest tail of its path (``a``, ``b/a``,
    ...) that no other directory of the list ends in: sweep cells are all
    named after their victim, and their parent folder tells them apart."""
    parts = [os.path.normpath(os.path.abspath(d)).split(os.sep) for d in directories]
    names = []
    for index, own in enumerate(parts):
        others = [p for i, p in enumerate(parts) if i != index]
        for length in range(1, len(own) + 1):
            tail = own[-length:]
            if all(other[-length:] != tail for other in others):
                break
        names.append("/".join(tail))
    return names


def _unique_labels(runs):
    """Row labels; runs trained on the same victims get their directory added
    (as much of its path as tells it apart from the others')."""
    labels = [run.label for run in runs]
    names = _distinguishing_names([run.directory for run in runs])
    return [
        label if labels.count(label) == 1 else f"{label} [{name}]"
        for label, run, name in zip(labels, runs, names)
    ]


def _run_row(run, label, victims, data, limit, seed, batch_size):
    """Evaluates one run against every victim; returns its cells and details."""
    task = task_for(victims[0], target_class=run.target_class, target_map=run.target_map,
                    test_data=data)
    metrics = evaluate_perturber(run.perturber, victims, data, task, batch_size=batch_size,
                                 limit=limit, seed=seed)
    per_victim = metrics["victims"]
    columns = [v.name for v in victims]
    details = {
        "label": label, "directory": os.path.abspath(run.directory),
        "description": run.description, "trained_on": run.trained_on,
        "kind": run.perturber.kind, "norm": run.perturber.norm,
        "epsilon": float(run.perturber.epsilon), "target_class": run.target_class,
        "target_map": run.target_map, "metrics": metrics,
        "trained_on_weights": run.application_weights,
    }
    return ([per_victim[name]["fooling_rate"] for name in columns],
            [run.saw(victim) for victim in victims],
            [per_victim[name].get(task.target_metric) for name in columns], details)


def transfer_table(runs, victims, dataset="fashion_mnist", split=HELD_OUT, limit=None,
                   seed=0, batch_size=None, tfds_data_dir=None, log=None,
                   refuse_bad_files=False):
    """Evaluates every run's perturber against every victim.

    Args:
        runs: run directories or ``Run``s.
        victims: loaded ``Victim``s (``keras_gap.victims.load_victims``).
        dataset, split, tfds_data_dir, refuse_bad_files: the images (see
            ``load_image_data``); "split" in the table is the split used.
        limit: evaluate a seeded random sample of ``limit`` images only.
        seed: seed of the random-noise floor.
        batch_size: evaluation batch size (default: the task's).
        log: called with a line per evaluated run.

    Returns:
        A dict: "rows" (labels), "columns" (victim names), "fooling_rate"
        (rows × columns), "seen" (whether the column's victim was among the
        row's training victims), "target_success_rate" (rows × columns, None
        for untargeted runs), "runs" (each run's details and full metrics),
        "noise_floor" (``{kind norm ε: the random-noise fooling rate of
        each column}``), "dataset", "split", "num_images", "victim_weights"
        (the weights of each column's victim: "imagenet", "random" or a file).
    """
    if not runs:
        raise ValueError("give at least one run directory to --transfer")
    runs = [run if isinstance(run, Run) else load_run(run) for run in runs]
    for run in runs:  # every check before the first (long) evaluation
        check_victims_fit(victims, run.perturber.image_shape)
    labels = _unique_labels(runs)
    columns = [v.name for v in victims]
    data = {}
    table = {"dataset": dataset, "split": split, "num_images": None, "rows": labels,
             "columns": columns, "fooling_rate": [], "seen": [], "target_success_rate": [],
             "runs": [], "noise_floor": {},
             "victim_weights": {v.name: v.weights for v in victims}}
    for label, run in zip(labels, runs):
        shape = tuple(run.perturber.image_shape)
        if shape not in data:
            data[shape] = load_image_data(dataset, split, shape, tfds_data_dir,
                                          refuse_bad_files=refuse_bad_files)
            table["split"] = data[shape].split
            if data[shape].skipped_report() and log is not None:
                log(data[shape].skipped_report())
        fooling, seen, target, details = _run_row(
            run, label, victims, data[shape], limit, seed, batch_size)
        for key, value in (("fooling_rate", fooling), ("seen", seen),
                           ("target_success_rate", target), ("runs", details)):
            table[key].append(value)
        table["num_images"] = details["metrics"]["num_images"]
        per_victim = details["metrics"]["victims"]
        table["noise_floor"].setdefault(run.budget, [
            per_victim[name].get("random_noise_fooling_rate") for name in columns])
        if log:
            log(f"{label} ({run.description}): " + ", ".join(
                f"{name} {rate:.3f}" for name, rate in zip(columns, fooling)))
    return table


def _matrix_markdown(table, values):
    header = ["trained on ↓ / evaluated on →", "perturber", *table["columns"]]
    rows = []
    for row, run, cells, seen in zip(table["rows"], table["runs"], values, table["seen"]):
        if all(v is None for v in cells):
            continue  # e.g. an untargeted run in the target-success table
        rows.append([row, run["description"]] + [
            "" if v is None else f"{v:.3f}" + (" *" if s else "") for v, s in zip(cells, seen)])
    if values is table["fooling_rate"]:
        for budget, floor in table.get("noise_floor", {}).items():
            rows.append(["random ±ε noise", f"floor of {budget}"] + [
                "" if v is None else f"{v:.3f}" for v in floor])
    return format_table(header, rows, align="ll" + "r" * len(table["columns"]))


def transfer_markdown(table):
    """The transfer table as Markdown (fooling rates; target success too
    when a run is targeted)."""
    lines = [
        f"Fooling rate on {table['num_images']} {table['dataset']} {table['split']} "
        "images. Rows: the victim(s) the perturber was trained on; columns: the "
        "victim it is evaluated on; * marks a victim seen in training; the random "
        "±ε noise rows are the floor an attack of that kind and budget must beat.",
        "",
        _matrix_markdown(table, table["fooling_rate"]),
        "",
        "Victim weights: " + ", ".join(
            f"{name} {describe_weights(table['victim_weights'].get(name))}"
            for name in table["columns"]) + ".",
    ]
    if any(v is not None for row in table["target_success_rate"] for v in row):
        lines += [
            "",
            "Target success rate (share classified as the target) of the targeted runs:",
            "",
            _matrix_markdown(table, table["target_success_rate"]),
        ]
    return "\n".join(lines)


def write_transfer(table, directory):
    """Writes ``transfer.json``, ``transfer.md`` and ``transfer.png`` into
    ``directory``; returns their paths."""
    os.makedirs(directory, exist_ok=True)
    paths = [os.path.join(directory, name) for name in TRANSFER_FILES]
    with files_together(paths) as staged:  # all three, or none of them
        write_json(staged[paths[0]], table)
        write_text(staged[paths[1]], transfer_markdown(table))
        save_heat_map(table["fooling_rate"], table["rows"], table["columns"], table["seen"],
                      f"fooling rate, {table['dataset']} {table['split']} (* seen in training)",
                      staged[paths[2]])
    return paths
