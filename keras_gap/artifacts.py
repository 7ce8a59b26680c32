"""Writing artifacts atomically: a temporary name first, then a rename."""

import contextlib
import json
import os
import tempfile

import numpy as np


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary path beside ``path``; renames it into place on success.

    The temporary name keeps ``path``'s extension (Keras checks it). On an
    exception the temporary file is removed and ``path`` is left untouched.
    """
    path = os.fspath(path)
    directory, name = os.path.split(os.path.abspath(path))
    stem, extension = os.path.splitext(name)
    handle, temporary = tempfile.mkstemp(
        prefix=f".{stem}.", suffix=f".tmp{extension}", dir=directory
    )
    os.close(handle)
    os.remove(temporary)
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def read_json(path):
    """Reads a JSON file, with a ``ValueError`` naming it if it is not JSON."""
    with open(path) as handle:
        try:
            return json.load(handle)
        except json.JSONDecodeError:
            raise ValueError(f"{os.fspath(path)!r} is not valid JSON") from None


def write_json(path, payload):
    with atomic_path(path) as temporary:
        with open(temporary, "w") as handle:
            json.dump(payload, handle, indent=2, sort_keys=True)
            handle.write("\n")


def save_numpy(path, array):
    with atomic_path(path) as temporary:
        np.save(temporary, array)


def save_keras(model, path):
    with atomic_path(path) as temporary:
        model.save(temporary)


def check_writable_directory(directory, label="directory"):
    """Raises ``ValueError``, leaving nothing behind, when ``directory``
    cannot be created or written (a file on its path, no permission, a
    read-only disk)."""
    ancestor = os.path.abspath(directory)
    while not os.path.exists(ancestor):
        ancestor = os.path.dirname(ancestor)
    if not os.path.isdir(ancestor):
        raise ValueError(f"{label} {directory!r} cannot be created: {ancestor!r} is a file")
    try:
        with tempfile.TemporaryFile(dir=ancestor):
            pass
    except OSError as error:
        raise ValueError(
            f"{label} {directory!r} is not writable ({ancestor!r}: {error.strerror or error})"
        ) from None
