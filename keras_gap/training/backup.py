"""The backup a stopped run resumes from, replaced only by a complete one.

At each epoch's end ``RunBackup`` writes the trainer's variables (generator
and optimizer state) to ``backup/epoch-<N>.weights.h5`` under a temporary
name and renames it; then it rewrites ``training_metadata.json`` (temporary
name and rename again) to name that file. That rename is the commit: only
after it are older weight files deleted. A save that fails half-way (a full
disk, a kill) leaves the metadata naming the previous, complete backup, and
the same command resumes from it once the cause is gone.

Resuming takes two public steps: ``fit(..., initial_epoch=backup.initial_epoch())``
starts at the epoch after the backup, and ``RunBackup`` restores the
variables when training begins. The files keep the layout of Keras'
``BackupAndRestore``, whose backups resume too.
"""

import gc
import os

import keras

from keras_gap.artifacts import atomic_path
from keras_gap.artifacts import read_json_object
from keras_gap.artifacts import write_json
from keras_gap.keras_internals import weights_file_bytes

METADATA_NAME = "training_metadata.json"
# Backups written by Keras's own BackupAndRestore name no weights file.
KERAS_WEIGHTS_NAME = "latest.weights.h5"


class BackupFailedError(OSError):
    """An epoch's backup could not be written; the previous one is kept."""


def _one_line(error):
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def read_backup(backup_dir):
    """``(epoch, weights path)`` of the committed backup in ``backup_dir``, or
    ``None`` when there is none; a ``ValueError`` when it is damaged."""
    path = os.path.join(backup_dir, METADATA_NAME)
    if not os.path.isfile(path):
        return None
    metadata = read_json_object(path, "a backup's metadata")
    epoch, name = metadata.get("epoch"), metadata.get("weights", KERAS_WEIGHTS_NAME)
    weights = os.path.join(backup_dir, str(name))
    if (isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0
            or not isinstance(name, str) or os.path.basename(name) != name
            or not os.path.isfile(weights)):
        raise ValueError(
            f"the backup in {backup_dir!r} is damaged ({METADATA_NAME} names epoch "
            f"{epoch!r}, weights {name!r}); delete {backup_dir!r} to start the run over")
    return epoch, weights


def weights_bytes(model):
    """``model.save_weights`` into memory: the ``.weights.h5`` file's bytes.

    HDF5 writing straight to a file that the disk cannot take leaves h5py
    objects that fail again (with tracebacks, and at exit a segfault) when
    they are freed. Built in memory, the file reaches the disk through one
    plain Python write, whose failure is an ordinary ``OSError``.
    """
    return weights_file_bytes(model)


def write_bytes(path, data):
    """Writes ``data`` to ``path``; a full disk raises ``OSError``."""
    with open(path, "wb") as handle:
        handle.write(data)


class RunBackup(keras.callbacks.Callback):
    """Writes an atomic backup at every epoch's end and restores the last one
    when training begins.

    Pass ``initial_epoch=backup.initial_epoch()`` to ``fit`` so a resumed
    run starts after the backed-up epoch. The backup is kept after training
    (the run driver deletes it once every artifact is written), so a run
    stopped while writing its artifacts resumes without training again.
    """

    def __init__(self, backup_dir):
        super().__init__()
        self.backup_dir = os.fspath(backup_dir)

    def initial_epoch(self):
        """The epoch a run resumes at: the number of epochs backed up (0
        without a backup); ``ValueError`` for a damaged backup."""
        state = read_backup(self.backup_dir)
        return 0 if state is None else state[0]

    def on_train_begin(self, logs=None):
        state = read_backup(self.backup_dir)
        if state is None:
            return
        _, weights = state
        if self.model.optimizer is not None and not self.model.optimizer.built:
            self.model.optimizer.build(self.model.trainable_variables)
        failure = None
        try:
            self.model.load_weights(weights)
        except Exception as error:  # h5py and Keras raise many types
            failure = _one_line(error)
        if failure:
            raise ValueError(
                f"the backup {weights!r} cannot be loaded ({failure}); delete "
                f"{self.backup_dir!r} to start the run over")

    def on_epoch_end(self, epoch, logs=None):
        self._save(epoch + 1)

    def _save(self, epoch):
        """Backs up the state after ``epoch`` epochs."""
        name = f"epoch-{epoch:05d}.weights.h5"
        failure = None
        try:
            os.makedirs(self.backup_dir, exist_ok=True)
            data = weights_bytes(self.model)
            with atomic_path(os.path.join(self.backup_dir, name)) as temporary:
                write_bytes(temporary, data)
            write_json(os.path.join(self.backup_dir, METADATA_NAME),
                       {"epoch": epoch, "batch": 0, "weights": name})
        except Exception as error:  # h5py and Keras raise many types
            failure = _one_line(error)
        if failure:
            self._fail(epoch, name, failure)
        for stale in os.listdir(self.backup_dir):
            if stale.endswith(".weights.h5") and stale != name:
                os.remove(os.path.join(self.backup_dir, stale))

    def _fail(self, epoch, name, failure):
        # The half-written HDF5 file is closed now rather than at exit, where
        # closing it on a full disk prints h5py tracebacks.
        gc.collect()
        committed = read_backup(self.backup_dir) if os.path.isdir(self.backup_dir) else None
        if committed is None or os.path.basename(committed[1]) != name:
            path = os.path.join(self.backup_dir, name)
            if os.path.exists(path):
                os.remove(path)
        kept = ("there was no backup yet" if committed is None
                else f"the backup of epoch {committed[0]} is kept")
        raise BackupFailedError(
            f"could not write the backup of epoch {epoch} into {self.backup_dir!r} "
            f"({failure}); {kept}: free some space and run the same command again "
            "to resume")
