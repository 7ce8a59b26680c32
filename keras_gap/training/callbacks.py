"""Callbacks the run driver adds to ``fit``."""

import math
import os

import keras
import numpy as np


class NonFiniteLossError(ValueError):
    """Training met a NaN or infinite loss and was stopped."""


class StopOnNonFiniteLoss(keras.callbacks.TerminateOnNaN):
    """Stops at the first non-finite batch loss, or non-finite weights at an
    epoch's end (the projection's clipping can hide NaN weights behind a
    finite loss), by raising: neither the epoch's backup (which would save
    poisoned weights; this callback runs first) nor the backup's clean-up at
    the end of training runs, so the last good backup is kept."""

    def __init__(self, backup_dir):
        super().__init__()
        self.backup_dir = backup_dir
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self._stop(f"the loss became {float(loss)} at epoch {self.epoch + 1}, "
                       f"step {batch + 1}")

    def on_epoch_end(self, epoch, logs=None):
        if not all(np.all(np.isfinite(w)) for w in self.model.get_weights()):
            self._stop(f"the generator's weights became non-finite in epoch {epoch + 1}")

    def _stop(self, what):
        kept = (f"the last good backup is kept in {self.backup_dir}"
                if os.path.isdir(self.backup_dir) else "there was no backup yet")
        # A directory holds one configuration: a new learning rate is a new run.
        raise NonFiniteLossError(
            f"training stopped: {what}. No artifacts were written and {kept}. Run again "
            "with a lower --learning-rate and a new --output-dir, or check the victims "
            "and data"
        )
