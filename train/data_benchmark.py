"""How a ``folder:`` data set streams: ``python -m train.data_benchmark --help``.

Loads the training split of an image folder as a training run does (shuffled
with the seed), and reports how long listing and checking the files took,
how long the first batch took, how class-mixed the first batches are (in
file order, the first 640 images of a 1,000-class folder come from one or
two classes), the decoding rate, and the peak resident memory of this
process. ``--make-classes``/``--make-per-class`` first write a folder of
made-up images (skipped when the folder exists).

Example: ``python -m train.data_benchmark --folder /tmp/in1k
--make-classes 1000 --make-per-class 60 --output data_benchmark.json``
"""

import datetime
import json
import os
import platform
import resource
import sys
import time

from keras_gap.artifacts import check_writable_directory
from keras_gap.cli import ArgumentParser
from keras_gap.cli import POSITIVE_INT
from keras_gap.cli import add_flag
from keras_gap.cli import run_program
from keras_gap.data import load_image_data
from keras_gap.data.generated_folder import write_image_folder


def parser():
    parser = ArgumentParser(prog="python -m train.data_benchmark", description=__doc__)
    add = parser.add_argument
    add("--folder", required=True, help="an image folder (PATH/train/<class>/* or PATH/<class>/*)")
    add("--make-classes", type=POSITIVE_INT,
        help="write this many classes of made-up JPEGs into FOLDER/train first")
    add("--make-per-class", type=POSITIVE_INT, default=60,
        help="images per class to write (default: %(default)s)")
    add("--make-size", type=POSITIVE_INT, default=224,
        help="side of the images to write (default: %(default)s)")
    add_flag(add, "--image-size", default=224,
             help="side the pipeline resizes to, as for the victim (default: {default})")
    add_flag(add, "--batch-size", default=64)
    add("--batches", type=POSITIVE_INT, default=10,
        help="batches to read and inspect (default: %(default)s)")
    add_flag(add, "--seed", default=0, help="shuffle seed (default: {default})")
    add("--output", help="also write the results to this JSON file")
    return parser


def _make_folder(arguments):
    if os.path.exists(arguments.folder):
        return None
    names = [f"class{index:04d}" for index in range(arguments.make_classes)]
    start = time.perf_counter()
    count = write_image_folder(os.path.join(arguments.folder, "train"), names,
                               arguments.make_per_class,
                               (arguments.make_size, arguments.make_size))
    print(f"Wrote {count:,} JPEGs in {time.perf_counter() - start:.0f} s", flush=True)
    return count


def measure(folder, image_size, batch_size, batches, seed):
    """Loads and reads ``folder``'s training split; returns the figures."""
    start = time.perf_counter()
    data = load_image_data(f"folder:{folder}", "train", (image_size, image_size, 3))
    if data.skipped_report():
        print(data.skipped_report())
    load_seconds = time.perf_counter() - start
    start = time.perf_counter()
    iterator = iter(data.dataset(batch_size, shuffle_seed=seed, repeat=True))
    labels = next(iterator)[1].numpy().tolist()
    first_batch_seconds = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(batches - 1):
        labels += next(iterator)[1].numpy().tolist()
    rest_seconds = time.perf_counter() - start
    classes = len(data.class_names)
    return {
        "files": data.num_examples, "classes": classes,
        "skipped_files": len(data.skipped_files),
        "load_seconds": round(load_seconds, 2),
        "first_batch_seconds": round(first_batch_seconds, 2),
        "images_inspected": len(labels),
        "share_from_upper_half_of_classes": round(
            sum(label >= classes // 2 for label in labels) / len(labels), 3),
        "distinct_classes": len(set(labels)),
        "images_per_second": (round(batch_size * (batches - 1) / rest_seconds, 1)
                              if batches > 1 else None),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main(argv=None):
    arguments = parser().parse_args(argv)
    if arguments.output:
        check_writable_directory(os.path.dirname(os.path.abspath(arguments.output)),
                                 "--output folder")
    if arguments.make_classes:
        _make_folder(arguments)
    results = measure(arguments.folder, arguments.image_size, arguments.batch_size,
                      arguments.batches, arguments.seed)
    results.update(
        folder=arguments.folder, image_size=arguments.image_size,
        batch_size=arguments.batch_size, seed=arguments.seed,
        date=datetime.date.today().isoformat(),
        machine=f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}",
        command="python -m train.data_benchmark " + " ".join(argv or sys.argv[1:]),
    )
    for key, value in results.items():
        print(f"{key:34} {value}")
    if arguments.output:
        with open(arguments.output, "w") as handle:
            json.dump(results, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(run_program(main))
