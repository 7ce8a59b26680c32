"""Evaluating trained perturbers against any victims, and the transfer table.

``evaluate_perturber`` measures one perturber against victims it may never
have seen, with ``keras_gap.evaluation``'s metrics. ``transfer_table`` does
it for several training runs and builds the paper's Table 4: rows are the
victim(s) each perturber was trained on (read from the run's
``config.json``), columns are the victims it is evaluated on, cells are
fooling rates. ``write_transfer`` saves it as ``transfer.json``,
``transfer.md`` and a ``transfer.png`` heat map, each written atomically.
"""

import dataclasses
import os

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from keras_gap.artifacts import read_json
from keras_gap.artifacts import atomic_path  # noqa: E402
from keras_gap.artifacts import write_json  # noqa: E402
from keras_gap.data import load_image_data  # noqa: E402
from keras_gap.evaluation.classification import evaluate_classification  # noqa: E402
from keras_gap.perturbers import load_perturber  # noqa: E402
from keras_gap.victims import check_victims_agree  # noqa: E402
from keras_gap.victims import APPLICATIONS  # noqa: E402
from keras_gap.victims import Victim  # noqa: E402
from keras_gap.victims import load_victim  # noqa: E402

TRANSFER_FILES = ("transfer.json", "transfer.md", "transfer.png")


def victim_name(spec):
    """The name ``load_victim`` gives ``spec``: the file's stem or the
    Keras Applications name."""
    spec = os.fspath(spec)
    if spec in APPLICATIONS:
        return spec
    return os.path.splitext(os.path.basename(spec))[0]


def check_victims_fit(victims, image_shape):
    """Raises ``ValueError`` unless every victim takes ``image_shape`` and
    the victims' names (the table's columns) are unique."""
    for victim in victims:
        check_victims_agree([victim], image_shape)
    names = [v.name for v in victims]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(
            f"victim names must be unique, but {repeated} appear more than once "
            "(a victim file is named by its stem: rename one of the files)"
        )


def load_victims(specs, image_shape, num_classes=1000):
    """Loads the victims ``specs`` (``.keras`` files or Keras Applications
    names, built for ``image_shape``) and checks they fit the perturber."""
    if not specs:
        raise ValueError("give at least one --victim to evaluate against")
    victims = []
    for spec in specs:
        if isinstance(spec, Victim):
            victims.append(spec)
            continue
        shape = tuple(image_shape) if os.fspath(spec) in APPLICATIONS else None
        victims.append(load_victim(spec, input_shape=shape, num_classes=num_classes))
    check_victims_fit(victims, image_shape)
    return victims


def evaluate_perturber(perturber, victims, data, batch_size=256, limit=None, seed=0,
                       target_class=None):
    """``evaluate_classification`` after checking that the victims fit.

    Returns ``{"num_images", "linf", "l2", "victims": {name: metrics}}``
    with the metrics of ``keras_gap.evaluation`` for each victim.
    """
    check_victims_fit(victims, perturber.image_shape)
    if tuple(data.image_shape) != tuple(perturber.image_shape):
        raise ValueError(
            f"the {data.name} images have shape {tuple(data.image_shape)}, but the "
            f"perturber takes {tuple(perturber.image_shape)}"
        )
    return evaluate_classification(
        perturber, victims, data, batch_size=batch_size, limit=limit, seed=seed,
        target_class=target_class,
    )


def read_run_config(directory):
    """The ``config.json`` of a training run directory, or ``None``."""
    path = os.path.join(directory, "config.json")
    if not os.path.isfile(path):
        return None
    config = read_json(path)
    if not isinstance(config, dict) or not isinstance(config.get("victims"), list) or not (
            config["victims"]):
        raise ValueError(f"{path!r} names no victims: it is not a training run's config")
    return config


@dataclasses.dataclass
class Run:
    """A finished training run: its perturber and the victims it was trained on."""

    directory: str
    config: dict
    perturber: object
    trained_on: list
    label: str

    @property
    def target_class(self):
        return self.config.get("target_class")

    @property
    def description(self):
        epsilon = self.config.get("epsilon")
        epsilon = "" if epsilon is None else f" ε {epsilon:.4g}"
        target = "" if self.target_class is None else f" → {self.target_class}"
        return (f"{self.config.get('kind', self.perturber.kind)} "
                f"{self.config.get('objective', '')}{target} "
                f"{self.config.get('norm', self.perturber.norm)}{epsilon}").replace("  ", " ")


def load_run(directory):
    """Reads ``directory/config.json`` and loads ``directory/perturber.keras``."""
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        raise ValueError(f"run directory not found: {directory!r}")
    config = read_run_config(directory)
    if config is None:
        raise ValueError(
            f"{directory!r} holds no config.json: give a directory written by "
            "train.universal or train.image_dependent"
        )
    path = os.path.join(directory, "perturber.keras")
    if not os.path.isfile(path):
        raise ValueError(f"{directory!r} holds no perturber.keras: is the run finished?")
    trained_on = [victim_name(v) for v in config["victims"]]
    return Run(directory, config, load_perturber(path), trained_on, " + ".join(trained_on))


def _unique_labels(runs):
    """Row labels; runs trained on the same victims get their directory added."""
    labels = [run.label for run in runs]
    return [
        label if labels.count(label) == 1
        else f"{label} [{os.path.basename(os.path.normpath(run.directory))}]"
        for label, run in zip(labels, runs)
    ]


def transfer_table(runs, victims, dataset="fashion_mnist", split="test", limit=None,
                   seed=0, batch_size=256, tfds_data_dir=None, log=None):
    """Evaluates every run's perturber against every victim.

    Args:
        runs: run directories or ``Run``s.
        victims: ``.keras`` files, Keras Applications names or ``Victim``s.
        dataset, split, tfds_data_dir: the images (see ``load_image_data``).
        limit: evaluate the first ``limit`` images only.
        seed: seed of the random-noise floor.
        batch_size: evaluation batch size.
        log: called with a line per evaluated run.

    Returns:
        A dict: "rows" (labels), "columns" (victim names), "fooling_rate"
        (rows × columns), "seen" (whether the column's victim was among the
        row's training victims), "target_success_rate" (rows × columns, None
        for untargeted runs), "runs" (each run's details and full metrics),
        "dataset", "split", "num_images".
    """
    if not runs:
        raise ValueError("give at least one run directory to --transfer")
    runs = [run if isinstance(run, Run) else load_run(run) for run in runs]
    first_shape = tuple(runs[0].perturber.image_shape)
    data = {first_shape: load_image_data(dataset, split, first_shape, tfds_data_dir)}
    victims = load_victims(victims, first_shape, len(data[first_shape].class_names))
    for run in runs:  # every check before the first (long) evaluation
        check_victims_fit(victims, run.perturber.image_shape)
    labels = _unique_labels(runs)
    columns = [v.name for v in victims]
    fooling, seen, target, details = [], [], [], []
    num_images = None
    for label, run in zip(labels, runs):
        shape = tuple(run.perturber.image_shape)
        if shape not in data:
            data[shape] = load_image_data(dataset, split, shape, tfds_data_dir)
        metrics = evaluate_perturber(
            run.perturber, victims, data[shape], batch_size=batch_size, limit=limit,
            seed=seed, target_class=run.target_class,
        )
        num_images = metrics["num_images"]
        per_victim = metrics["victims"]
        fooling.append([per_victim[name]["fooling_rate"] for name in columns])
        seen.append([name in run.trained_on for name in columns])
        target.append([per_victim[name].get("target_success_rate") for name in columns])
        details.append({
            "label": label, "directory": os.path.abspath(run.directory),
            "description": run.description, "trained_on": run.trained_on,
            "kind": run.perturber.kind, "norm": run.perturber.norm,
            "epsilon": float(run.perturber.epsilon), "target_class": run.target_class,
            "metrics": metrics,
        })
        if log:
            log(f"{label} ({run.description}): " + ", ".join(
                f"{name} {rate:.3f}" for name, rate in zip(columns, fooling[-1])))
    return {
        "dataset": dataset, "split": split, "num_images": num_images,
        "rows": labels, "columns": columns, "fooling_rate": fooling, "seen": seen,
        "target_success_rate": target, "runs": details,
    }


def _matrix_markdown(table, values, corner):
    columns = table["columns"]
    lines = [
        f"| {corner} | perturber | " + " | ".join(columns) + " |",
        "|---|---|" + "---:|" * len(columns),
    ]
    for row, run, cells, seen in zip(table["rows"], table["runs"], values, table["seen"]):
        if all(v is None for v in cells):
            continue  # e.g. an untargeted run in the target-success table
        text = ["" if v is None else f"{v:.3f}" + (" *" if s else "")
                for v, s in zip(cells, seen)]
        lines.append(f"| {row} | {run['description']} | " + " | ".join(text) + " |")
    return lines


def transfer_markdown(table):
    """The transfer table as Markdown (fooling rates; target success too
    when a run is targeted)."""
    lines = [
        f"Fooling rate on {table['num_images']} {table['dataset']} {table['split']} "
        "images. Rows: the victim(s) the perturber was trained on; columns: the "
        "victim it is evaluated on; * marks a victim seen in training.",
        "",
        *_matrix_markdown(table, table["fooling_rate"], "trained on ↓ / evaluated on →"),
    ]
    if any(v is not None for row in table["target_success_rate"] for v in row):
        lines += [
            "",
            "Target success rate (share classified as the target class) of the "
            "targeted runs:",
            "",
            *_matrix_markdown(table, table["target_success_rate"],
                              "trained on ↓ / evaluated on →"),
        ]
    return "\n".join(lines)


def save_transfer_png(table, path):
    """A heat map of the fooling rates, values written in the cells."""
    values = np.array(table["fooling_rate"], dtype=np.float64)
    rows, columns = values.shape
    figure, axis = plt.subplots(
        figsize=(2.0 + 1.4 * columns, 1.2 + 0.6 * rows + 0.5))
    image = axis.imshow(values, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
    for i in range(rows):
        for j in range(columns):
            seen = table["seen"][i][j]
            axis.text(j, i, f"{values[i, j]:.2f}" + ("*" if seen else ""),
                      ha="center", va="center", fontsize=10,
                      color="black" if values[i, j] > 0.6 else "white",
                      fontweight="bold" if seen else "normal")
    axis.set_xticks(range(columns), table["columns"], rotation=30, ha="right")
    axis.set_yticks(range(rows), table["rows"])
    axis.set_xlabel("evaluated on")
    axis.set_ylabel("trained on")
    axis.set_title(f"fooling rate, {table['dataset']} {table['split']} "
                   "(* seen in training)", fontsize=9)
    figure.colorbar(image, ax=axis, fraction=0.046, pad=0.04)
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=100, format="png")
    plt.close(figure)


def write_transfer(table, directory):
    """Writes ``transfer.json``, ``transfer.md`` and ``transfer.png`` into
    ``directory``; returns their paths."""
    os.makedirs(directory, exist_ok=True)
    paths = [os.path.join(directory, name) for name in TRANSFER_FILES]
    write_json(paths[0], table)
    with atomic_path(paths[1]) as temporary:
        with open(temporary, "w") as handle:
            handle.write(transfer_markdown(table) + "\n")
    save_transfer_png(table, paths[2])
    return paths
