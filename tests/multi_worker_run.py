"""One worker of the multi-worker test (test_resilience.py starts two).

    TF_CONFIG=... python tests/multi_worker_run.py WEIGHTS.npz universal --strategy multi_worker ...

runs ``python -m train.<kind>`` with the remaining arguments, exactly as the
command-line program does, and writes this worker's trained generator
weights to ``WEIGHTS.npz`` so the test can compare the workers.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_gap.cli import run_program  # noqa: E402


class _SaveGeneratorWeights(keras.callbacks.Callback):
    def __init__(self, path):
        super().__init__()
        self.path = path

    def on_train_end(self, logs=None):
        weights = self.model.perturber.generator.get_weights()
        np.savez(self.path, *weights)


def main(argv):
    from keras_gap.runs.attack_run import run_attack
    from train.attack_arguments import parse_attack_config

    if os.environ.get("MW_TRACEBACK"):
        keras.config.disable_traceback_filtering()
    weights_path, kind, *arguments = argv
    config = parse_attack_config(kind, kind, arguments)
    run_attack(config, callbacks=[_SaveGeneratorWeights(weights_path)])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]) if os.environ.get("MW_TRACEBACK") else run_program(main, sys.argv[1:]))
