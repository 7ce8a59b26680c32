"""The paper's targeted protocol: one targeted perturber per class for a
seeded random sample of K classes, each class's success and the average.

GAP reports targeted attacks as the average target success over 10 random
ImageNet classes (52.0 % universal, 89.1 % image-dependent at L∞ 10).
``run_targeted_protocol`` trains one ``run_attack`` per sampled class into
``<output_dir>/class_<k>/`` and, after every class, rewrites
``protocol.json`` and ``protocol.md``. Re-running the same command resumes
class by class: finished classes are read back, an interrupted one resumes
from its backup.
"""

import dataclasses
import os

import numpy as np

from keras_gap.artifacts import check_writable_directory
from keras_gap.artifacts import write_json
from keras_gap.data import load_image_data
from keras_gap.reports.tables import format_table
from keras_gap.reports.tables import write_text
from keras_gap.tasks.classification import class_name
from keras_gap.runs.attack_config import resolve_config
from keras_gap.runs.attack_run import data_shape_for
from keras_gap.runs.attack_run import run_attack
from keras_gap.victims import application_head_classes
from keras_gap.victims import load_victims

PAPER_CLASS_COUNT = 10


def sample_classes(num_classes, count, seed):
    """``count`` distinct classes of ``0..num_classes-1``, drawn with ``seed``
    in the order drawn: the first ``count`` of a seeded permutation, so a
    larger ``count`` keeps the classes a smaller one drew (and their runs)."""
    if not 1 <= count <= num_classes:
        raise ValueError(
            f"the number of classes must be between 1 and the victim's {num_classes}, "
            f"got {count}"
        )
    return [int(c) for c in np.random.default_rng(seed).permutation(num_classes)[:count]]


def default_protocol_dir(config):
    return os.path.join(
        "runs", f"targeted_protocol_{config.kind}_{config.norm}_eps{config.epsilon:.4g}")


def _class_count(config):
    """Classes the (first) victim predicts, without building the attack."""
    image_shape = None if not config.image_size else (config.image_size, config.image_size, 3)
    victims = load_victims(config.victims[:1], image_shape, weights=config.victim_weights,
                           num_classes=application_head_classes(config.dataset),
                           safe_mode=not config.unsafe_deserialization,
                           data_shape=data_shape_for(config.victims, config.dataset,
                                                     config.tfds_data_dir))
    if victims[0].task != "classifier":
        raise ValueError(
            f"the targeted protocol is for classifiers; {victims[0].name} is a "
            f"{victims[0].task}")
    return victims[0].num_classes


def _row(target, names, metrics):
    return {
        "class": target,
        "class_name": class_name(names, target),
        "target_success_rate": metrics["target_success_rate"],
        "target_success_rate_excluding_target_class":
            metrics["target_success_rate_excluding_target_class"],
        "fooling_rate": metrics["fooling_rate"],
        "random_noise_fooling_rate": metrics["random_noise_fooling_rate"],
        "train_seconds": metrics.get("train_seconds"),
    }


def protocol_report(config, classes, rows, sample_seed):
    """The JSON payload: the sampled classes, one row per finished class and,
    once every class is done, the averages."""
    report = {"kind": config.kind, "norm": config.norm, "epsilon": config.epsilon,
              "victims": config.victims, "reduction": config.reduction,
              "projection": config.projection, "sample_seed": sample_seed, "classes": classes,
              "complete": len(rows) == len(classes), "per_class": rows}
    if report["complete"]:
        for key in ("target_success_rate", "target_success_rate_excluding_target_class",
                    "random_noise_fooling_rate"):
            report[f"average_{key}"] = float(np.mean([row[key] for row in rows]))
    return report


def protocol_markdown(report):
    """``protocol.md``: one row per class and the average."""
    header = ["class", "name", "target success", "excl. target class", "fooling",
              "random noise"]
    rows = [[r["class"], r["class_name"], r["target_success_rate"],
             r["target_success_rate_excluding_target_class"], r["fooling_rate"],
             r["random_noise_fooling_rate"]] for r in report["per_class"]]
    if report["complete"]:
        rows.append(["**average**", f"{len(rows)} classes",
                     report["average_target_success_rate"],
                     report["average_target_success_rate_excluding_target_class"], None,
                     report["average_random_noise_fooling_rate"]])
    title = (f"Targeted protocol: {report['kind']}, {report['norm']} epsilon "
             f"{report['epsilon']:.4g}, classes {report['classes']} (sample seed "
             f"{report['sample_seed']}), reduction {report['reduction']}, projection "
             f"{report['projection']}")
    status = "" if report["complete"] else (
        f"\n\n{len(report['per_class'])} of {len(report['classes'])} classes done; "
        "re-run the same command to continue.")
    return f"{title}\n\n{format_table(header, rows)}{status}"


def run_targeted_protocol(config, class_count=PAPER_CLASS_COUNT, sample_seed=0,
                          output_dir=None, log=print, verbose=None):
    """Runs the protocol for ``config`` (its objective and target are set per
    class) and returns the report. ``output_dir`` defaults to
    ``runs/targeted_protocol_<kind>_<norm>_eps<ε>``."""
    config = dataclasses.replace(config, objective="targeted", target_class=0, output_dir=None)
    config = resolve_config(config, log)
    output_dir = output_dir or default_protocol_dir(config)
    check_writable_directory(output_dir, "output directory")
    classes = sample_classes(_class_count(config), class_count, sample_seed)
    names = load_image_data(config.dataset, "test",
                            tfds_data_dir=config.tfds_data_dir).class_names
    rows = []
    for index, target in enumerate(classes):
        log(f"Class {target} ({class_name(names, target)}), {index + 1} of {len(classes)}")
        class_config = dataclasses.replace(
            config, target_class=target, output_dir=os.path.join(output_dir, f"class_{target}"))
        metrics = run_attack(class_config, log=log, verbose=verbose)
        rows.append(_row(target, names, metrics))
        report = protocol_report(config, classes, rows, sample_seed)
        write_json(os.path.join(output_dir, "protocol.json"), report)
        write_text(os.path.join(output_dir, "protocol.md"), protocol_markdown(report))
    log(protocol_markdown(report))
    log(f"Report in {os.path.join(output_dir, 'protocol.md')} and protocol.json")
    return report
