"""``python -m train.universal`` whose backups hit a write limit from epoch N.

Usage: ``file_limit_run.py N <train.universal flags>``. When epoch N begins,
the process's file-size limit (``RLIMIT_FSIZE``) drops to half the size of
the backup already written, so the operating system refuses the next
backup's writes inside h5py (``EFBIG``), as a full disk refuses them
(``ENOSPC``). Used by test_run_guarantees.py.
"""

import os
import resource
import signal
import sys

import keras

from keras_gap.cli import run_program
from keras_gap.runs.attack_run import run_attack
from train.attack_arguments import parse_attack_config


class LimitFileSizeAtEpoch(keras.callbacks.Callback):
    def __init__(self, epoch, backup_dir):
        super().__init__()
        self.epoch, self.backup_dir = epoch, backup_dir

    def on_epoch_begin(self, epoch, logs=None):
        if epoch + 1 != self.epoch:
            return
        sizes = [os.path.getsize(os.path.join(self.backup_dir, name))
                 for name in os.listdir(self.backup_dir) if name.endswith(".weights.h5")]
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an error, not a signal
        resource.setrlimit(resource.RLIMIT_FSIZE, (max(sizes) // 2, resource.RLIM_INFINITY))


def main(argv):
    config = parse_attack_config("universal", __doc__, argv[1:])
    backup_dir = os.path.join(config.output_dir, "backup")
    run_attack(config, verbose=2, callbacks=[LimitFileSizeAtEpoch(int(argv[0]), backup_dir)])
    return 0


if __name__ == "__main__":
    sys.exit(run_program(main, sys.argv[1:]))
