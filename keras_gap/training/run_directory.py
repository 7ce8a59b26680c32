"""The output directory of a run: one configuration, and one run at a time.

A directory holding a different run's ``config.json`` is refused; the same
configuration resumes (or reports a finished run). ``RunLock`` makes the
directory one run's for that run's life: a second run started into it at
the same moment is refused instead of mixing its files with the first's.
"""

import contextlib
import fcntl
import os

from keras_gap.artifacts import check_writable_directory
from keras_gap.artifacts import make_directories
from keras_gap.artifacts import read_json_object
from keras_gap.artifacts import remove_empty_directories

LOCK_NAME = ".run.lock"
# What a finished run's metrics.json must hold for its summary.
METRICS_KEYS = ("num_images", "linf", "l2", "victims")


def check_output_path(output_dir):
    """Raises ``ValueError`` when ``output_dir`` cannot hold a run (a file on
    its path, not writable); writes nothing."""
    if os.path.exists(output_dir) and not os.path.isdir(output_dir):
        raise ValueError(f"output directory {output_dir!r} exists and is not a directory")
    check_writable_directory(output_dir, "output directory")


def check_output_dir(output_dir, resolved, legacy=None):
    """Refuses a directory holding another run; returns True to resume.

    Args:
        output_dir: the run's output directory.
        resolved: the resolved configuration as a dict (``config.json``).
        legacy: ``{key: value}`` for keys a newer version added: a
            ``config.json`` without ``key`` is read as having ``value``.
    """
    check_output_path(output_dir)
    config_path = os.path.join(output_dir, "config.json")
    if not os.path.isfile(config_path):
        return False
    existing = {**(legacy or {}),
                **read_json_object(config_path, "a run's configuration")}
    if existing != resolved:
        differences = sorted(
            k for k in set(existing) | set(resolved) if existing.get(k) != resolved.get(k)
        )
        detail = ", ".join(
            f"{k}: {existing.get(k)!r} there vs {resolved.get(k)!r} now" for k in differences
        )
        raise ValueError(
            f"output directory {output_dir!r} holds a different run's config ({detail}); "
            "choose another --output-dir"
        )
    return True


def read_finished_metrics(output_dir):
    """The ``metrics.json`` of a finished run in ``output_dir``, checked, or
    ``None`` when the run has not finished."""
    path = os.path.join(output_dir, "metrics.json")
    if not os.path.isfile(path):
        return None
    metrics = read_json_object(path, "a finished run's metrics")
    missing = [key for key in METRICS_KEYS if key not in metrics]
    if missing or not isinstance(metrics["victims"], dict):
        raise ValueError(
            f"{path!r} lacks {missing or ['victims']}: it is not a finished run's metrics; "
            "delete it and run the same command again to redo the run")
    if not os.path.isfile(os.path.join(output_dir, "perturber.keras")):
        raise ValueError(
            f"{output_dir!r} holds metrics.json but no perturber.keras; delete metrics.json "
            "and run the same command again to redo the run")
    return metrics


def _holder(path):
    try:
        with open(path) as handle:
            return handle.read().strip() or "unknown"
    except OSError:
        return "unknown"


class RunLock(contextlib.AbstractContextManager):
    """Holds ``<directory>/.run.lock`` (``fcntl.flock``) for a run's life.

    The kernel drops the lock when the process ends, however it ends (a
    kill -9 too), so a dead run never leaves the directory stuck. A second
    run finding the lock held is refused with a ``ValueError`` naming the
    holder's process id. On leaving, the lock file is deleted (while still
    held), and so are the directories the lock created when nothing else
    was written into them.
    """

    def __init__(self, directory):
        self.directory = os.fspath(directory)
        self.path = os.path.join(self.directory, LOCK_NAME)
        self.created = []
        self.handle = None

    def __enter__(self):
        self.created = make_directories(self.directory)
        while self.handle is None:
            handle = open(self.path, "a+")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                remove_empty_directories(self.created)
                raise ValueError(
                    f"output directory {self.directory!r} is in use by another run (process "
                    f"{_holder(self.path)}); wait for it to end or choose another --output-dir"
                ) from None
            if _same_file(handle, self.path):
                self.handle = handle
            else:  # the previous holder deleted the file: lock the new one
                handle.close()
        self.handle.truncate(0)
        self.handle.write(f"{os.getpid()}\n")
        self.handle.flush()
        return self

    def __exit__(self, error_type, error, traceback):
        with contextlib.suppress(FileNotFoundError):
            os.remove(self.path)
        self.handle.close()
        self.handle = None
        remove_empty_directories(self.created)  # only those nothing was written into
        return False

def _same_file(handle, path):
    try:
        return os.path.samestat(os.fstat(handle.fileno()), os.stat(path))
    except FileNotFoundError:
        return False
