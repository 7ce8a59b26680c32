"""Evaluate trained GAP perturbers against any victims: ``python -m train.evaluate --help``.

One perturber, against victims it may never have seen in training:

    python -m train.evaluate --perturber RUN/perturber.keras --victim a.keras \\
        --victim b.keras --dataset fashion_mnist [--split validation] [--output FILE]

The transfer table (the paper's Table 4) of several runs: rows are the
victim(s) each run was trained on (from RUN/config.json), columns the
victims evaluated on, cells the fooling rate; written as transfer.json,
transfer.md and transfer.png into --output-dir:

    python -m train.evaluate --transfer RUN1 RUN2 --victim a.keras --victim b.keras \\
        --victim c.keras --output-dir runs/transfer

Both also time one forward pass of each perturber (its generator) next to
one forward pass of each victim, at --throughput-batch-size after warm-up,
on this machine.
"""

import argparse
import os
import sys

from keras_gap.artifacts import check_output_files
from keras_gap.artifacts import files_together
from keras_gap.artifacts import write_json
from keras_gap.cli import ArgumentParser
from keras_gap.cli import POSITIVE_INT
from keras_gap.cli import add_flag
from keras_gap.cli import run_program
from keras_gap.data import HELD_OUT
from keras_gap.data import load_image_data
from keras_gap.cost.timing import format_throughput
from keras_gap.cost.timing import measure_throughput
from keras_gap.runs.run_directory import Run
from keras_gap.runs.run_directory import load_run
from keras_gap.runs.run_directory import read_run_config
from keras_gap.runs.transfer import TRANSFER_FILES
from keras_gap.runs.transfer import evaluate_perturber
from keras_gap.runs.transfer import transfer_markdown
from keras_gap.runs.transfer import transfer_table
from keras_gap.runs.transfer import write_transfer
from keras_gap.perturbers import load_perturber
from keras_gap.tasks import task_for
from keras_gap.training.memory import check_batch_memory
from keras_gap.training.memory import largest_layer_values
from keras_gap.victims import application_head_classes
from keras_gap.victims import load_victims
from keras_gap.victims import victim_name


def parser():
    parser = ArgumentParser(prog="python -m train.evaluate", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--perturber", metavar="FILE",
                      help="a perturber.keras written by train.universal or "
                           "train.image_dependent")
    what.add_argument("--transfer", nargs="+", metavar="RUN",
                      help="run directories (each with config.json and perturber.keras) "
                           "for the transfer table")
    add("--victim", action="append", dest="victims", default=[], required=True,
        metavar="VICTIM", help="victim to evaluate against, repeat for several: a .keras "
                               "classifier taking images in [0, 1] or a Keras "
                               "Applications name")
    add_flag(add, "--victim-weights")
    add_flag(add, "--dataset", default="fashion_mnist",
             help="fashion_mnist, folder:PATH or tfds:NAME (default: {default})")
    add_flag(add, "--tfds-data-dir")
    add_flag(add, "--split", default=HELD_OUT)
    add_flag(add, "--refuse-bad-images")
    add("--target-class", type=int,
        help="report target success for this class (default: the run's own, read "
             "from config.json beside the perturber)")
    add_flag(add, "--eval-images")
    add("--batch-size", type=POSITIVE_INT,
        help="evaluation batch size (default: 256 images for classifiers, 32 for "
             "segmenters)")
    add_flag(add, "--seed", default=0,
             help="seed of the random-noise floor and timing images (default: {default})")
    add("--throughput-batch-size", type=POSITIVE_INT, default=256,
        help="batch size of the speed measurement (default: %(default)s)")
    add("--throughput-repeats", type=POSITIVE_INT, default=5,
        help="timed batches per model, after 2 warm-up ones; the median counts "
             "(default: %(default)s)")
    add("--no-throughput", action="store_true", help="skip the speed measurement")
    add("--output", metavar="FILE", help="also write every figure as JSON to FILE")
    add("--output-dir", default=os.path.join("runs", "transfer"),
        help="with --transfer: where transfer.json, transfer.md and transfer.png go "
             "(default: %(default)s)")
    return parser


def _evaluate_one(arguments, log):
    perturber = load_perturber(arguments.perturber)
    config = read_run_config(os.path.dirname(os.path.abspath(arguments.perturber))) or {}
    trained_on = [victim_name(v) for v in config["victims"]] if config else None
    target_class = arguments.target_class
    if target_class is None:
        target_class = config.get("target_class")
    data = load_image_data(arguments.dataset, arguments.split, perturber.image_shape,
                           arguments.tfds_data_dir,
                           refuse_bad_files=arguments.refuse_bad_images)
    if data.skipped_report():
        log(data.skipped_report())
    victims = load_victims(arguments.victims, perturber.image_shape,
                           weights=arguments.victim_weights,
                           num_classes=application_head_classes(arguments.dataset))
    _check_batches(arguments, [perturber], victims)
    task = task_for(victims[0], target_class=target_class,
                    target_map=config.get("target_map"), test_data=data)
    metrics = evaluate_perturber(
        perturber, victims, data, task, batch_size=arguments.batch_size,
        limit=arguments.eval_images, seed=arguments.seed,
    )
    trained = "" if trained_on is None else f", trained on {' + '.join(trained_on)}"
    log(f"{perturber.kind} perturber {arguments.perturber} ({perturber.norm} epsilon "
        f"{perturber.epsilon:.4g}{trained}) on {metrics['num_images']} "
        f"{arguments.dataset} {data.split} images")
    log(f"max applied linf {metrics['linf']:.4f}, max applied l2 {metrics['l2']:.4f}")
    log("")
    seen = {}
    if trained_on is not None:
        run = Run(os.path.dirname(arguments.perturber), config, perturber, trained_on, "")
        seen = {v.name: run.saw(v) for v in victims}
    log(task.table(metrics, style="markdown", seen=seen))
    result = {
        "perturber": os.path.abspath(arguments.perturber), "kind": perturber.kind,
        "norm": perturber.norm, "epsilon": float(perturber.epsilon),
        "dataset": arguments.dataset, "split": data.split,
        "trained_on": trained_on, "target_class": target_class,
        "target_map": config.get("target_map"), **metrics,
    }
    return result, {"perturber": perturber}, victims


def _evaluate_transfer(arguments, log):
    runs = [load_run(directory) for directory in arguments.transfer]
    victims = load_victims(arguments.victims, runs[0].perturber.image_shape,
                           weights=arguments.victim_weights,
                           num_classes=application_head_classes(arguments.dataset))
    _check_batches(arguments, [run.perturber for run in runs], victims)
    table = transfer_table(
        runs, victims, dataset=arguments.dataset, split=arguments.split,
        limit=arguments.eval_images, seed=arguments.seed, batch_size=arguments.batch_size,
        tfds_data_dir=arguments.tfds_data_dir, log=log,
        refuse_bad_files=arguments.refuse_bad_images,
    )
    log("")
    log(transfer_markdown(table))
    return table, {label: run.perturber for label, run in zip(table["rows"], runs)}, victims


def _check_outputs(arguments):
    """The files this evaluation will write, checked before any work."""
    if arguments.output:
        output = os.path.abspath(arguments.output)
        check_output_files(os.path.dirname(output), [os.path.basename(output)], "--output")
    if arguments.transfer:
        check_output_files(arguments.output_dir, TRANSFER_FILES)


def _check_batches(arguments, perturbers, victims):
    """Batch sizes this machine cannot hold, refused before any evaluation."""
    models = [p.generator for p in perturbers] + [v.model for v in victims]
    per_image = 2 * max(largest_layer_values(model) for model in models)
    for flag, size in (("--batch-size", arguments.batch_size),
                       ("--throughput-batch-size", arguments.throughput_batch_size)):
        if size and not (flag.startswith("--throughput") and arguments.no_throughput):
            check_batch_memory(size, per_image, flag=flag, what="one evaluation batch")


def _write_outputs(arguments, result, table, log):
    """The transfer files and the --output JSON, written last: all or none."""
    outputs = [arguments.output] if arguments.output else []
    if outputs:
        os.makedirs(os.path.dirname(os.path.abspath(arguments.output)), exist_ok=True)
    written = []
    with files_together(outputs) as staged:
        if outputs:
            write_json(staged[arguments.output], result)
        if table is not None:
            written = write_transfer(table, arguments.output_dir)
    if written + outputs:
        log("")
        log(f"Wrote {', '.join(written + outputs)}")


def main(argv=None, log=print):

    arguments = parser().parse_args(argv)
    _check_outputs(arguments)
    evaluate = _evaluate_one if arguments.perturber is not None else _evaluate_transfer
    result, perturbers, victims = evaluate(arguments, log)
    table = None if arguments.perturber is not None else result
    if not arguments.no_throughput:
        throughput = measure_throughput(
            perturbers, victims, batch_size=arguments.throughput_batch_size,
            repeats=arguments.throughput_repeats, seed=arguments.seed,
        )
        result = {**result, "throughput": throughput}
        log("")
        log(format_throughput(throughput))
    _write_outputs(arguments, result, table, log)
    return 0


if __name__ == "__main__":
    sys.exit(run_program(main))
