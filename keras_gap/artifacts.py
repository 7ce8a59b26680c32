"""Writing artifacts atomically, and checking the archives programs read.

One file: a temporary name first, then a rename (``atomic_path``). Several
files that belong together: all temporaries first, then every rename, undone
if one fails (``files_together``). ``check_keras_archive`` reads a ``.keras``
file's zip directory before Keras opens it.
"""

import contextlib
import json
import os
import shutil
import tempfile
import zipfile

import numpy as np

# A .keras archive holds config.json, metadata.json and model.weights.h5
# (plus assets); more entries than this is not an archive Keras wrote.
MAX_ARCHIVE_ENTRIES = 1000
# config.json / metadata.json are read whole into memory: a model's config
# is kilobytes to a few megabytes.
MAX_ARCHIVE_TEXT_BYTES = 64 * 2**20
# Weights compress little; an archive inflating more than this many times
# its size (beyond the text limit) is a zip bomb.
MAX_ARCHIVE_RATIO = 20


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary path beside ``path``; renames it into place on success.

    The temporary name keeps ``path``'s extension (Keras checks it). On an
    exception the temporary file is removed and ``path`` is left untouched.
    """
    temporary = _temporary_name(path)
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def _temporary_name(path):
    """A free hidden name beside ``path`` keeping its extension."""
    directory, name = os.path.split(os.path.abspath(os.fspath(path)))
    stem, extension = os.path.splitext(name)
    if name.endswith(".weights.h5"):  # Keras checks the double extension
        stem, extension = name[:-len(".weights.h5")], ".weights.h5"
    handle, temporary = tempfile.mkstemp(
        prefix=f".{stem}.", suffix=f".tmp{extension}", dir=directory
    )
    os.close(handle)
    os.remove(temporary)
    return temporary


def _remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.remove(path)


def move_together(moves):
    """Renames every ``(temporary, destination)`` pair into place, or none.

    A destination that exists is set aside first and put back if a later
    rename fails, so on an exception every destination is as it was.
    """
    done, set_aside = [], []
    try:
        for temporary, destination in moves:
            if os.path.lexists(destination):
                aside = _temporary_name(destination)
                os.replace(destination, aside)
                set_aside.append((aside, destination))
            os.replace(temporary, destination)
            done.append(destination)
    except BaseException:
        for destination in reversed(done):
            _remove(destination)
        for aside, destination in reversed(set_aside):
            os.replace(aside, destination)
        raise
    for aside, _ in set_aside:
        _remove(aside)


@contextlib.contextmanager
def files_together(paths):
    """Yields ``{path: temporary path}``; after the block renames them all
    into place (``move_together``). On an exception nothing of them is
    left: the temporaries are removed and every ``path`` is as it was."""
    temporaries = {os.fspath(p): _temporary_name(p) for p in paths}
    try:
        yield temporaries
        move_together([(t, p) for p, t in temporaries.items()])
    finally:
        for temporary in temporaries.values():
            _remove(temporary)


def check_output_files(directory, names, label="--output-dir"):
    """Raises ``ValueError``, writing nothing, unless the files ``names`` can
    be written into ``directory`` (created if needed): checked before the
    work that makes them, not after."""
    directory = os.fspath(directory) or "."
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise ValueError(f"{label} {directory!r} exists and is not a directory")
    check_writable_directory(directory, label)
    for name in names:
        if os.path.isdir(os.path.join(directory, name)):
            raise ValueError(f"{label}: {os.path.join(directory, name)!r} is a directory; "
                             "it cannot be written as a file")


def make_directories(directory):
    """``os.makedirs``; returns the directories it created, outermost first,
    for ``remove_empty_directories`` to undo."""
    created, path = [], os.path.abspath(directory)
    while not os.path.exists(path):
        created.insert(0, path)
        path = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    return created


def remove_empty_directories(created):
    """Removes the directories ``make_directories`` created, innermost first,
    stopping at the first that something was written into."""
    for directory in reversed(created):
        try:
            os.rmdir(directory)
        except OSError:
            return


def check_keras_archive(path, label="model"):
    """Raises ``ValueError`` unless the ``.keras`` file ``path`` is a zip
    archive whose directory promises a size this machine can load: at most
    ``MAX_ARCHIVE_ENTRIES`` entries, its JSON members at most
    ``MAX_ARCHIVE_TEXT_BYTES`` each, and no more inflated bytes than
    ``MAX_ARCHIVE_RATIO`` times the file (beyond that allowance) or the
    machine's memory. Only the zip directory is read; a member cannot
    inflate past its declared size (Python's zip reader stops there). Files
    that are no zip archive are left to Keras, which reads them without
    inflating anything."""
    path = os.fspath(path)
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, ValueError):
        return  # not a zip (a legacy HDF5 model, a damaged file): Keras says which
    if len(members) > MAX_ARCHIVE_ENTRIES:
        raise ValueError(f"{label} {path!r} holds {len(members)} archive entries; a .keras "
                         f"file has a handful (refused above {MAX_ARCHIVE_ENTRIES})")
    for member in members:
        if member.filename.endswith(".json") and member.file_size > MAX_ARCHIVE_TEXT_BYTES:
            raise ValueError(
                f"{label} {path!r}: its {member.filename} inflates to "
                f"{member.file_size:,} bytes (refused above {MAX_ARCHIVE_TEXT_BYTES:,})")
    inflated = sum(member.file_size for member in members)
    allowed = min(physical_memory_bytes(),
                  MAX_ARCHIVE_RATIO * os.path.getsize(path) + MAX_ARCHIVE_TEXT_BYTES)
    if inflated > allowed:
        raise ValueError(
            f"{label} {path!r} inflates to {inflated:,} bytes from {os.path.getsize(path):,} "
            f"(refused above {allowed:,}: a zip bomb, or more than this machine's memory)")


def physical_memory_bytes():
    """This machine's physical memory in bytes."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


_JSON_KINDS = {list: "a JSON array", str: "a JSON string", int: "a JSON number",
               float: "a JSON number", bool: "a JSON true/false", type(None): "JSON null"}


def read_json(path):
    """Reads a JSON file, with a ``ValueError`` naming it if it is not JSON."""
    with open(path, encoding="utf-8") as handle:
        try:
            return json.load(handle)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ValueError(f"{os.fspath(path)!r} is not valid JSON") from None


def read_json_object(path, what):
    """``read_json`` for files holding one JSON object (a run's config.json,
    metrics.json): a ``ValueError`` naming ``path`` and ``what`` it should be
    otherwise."""
    value = read_json(path)
    if not isinstance(value, dict):
        kind = _JSON_KINDS.get(type(value), type(value).__name__)
        raise ValueError(
            f"{os.fspath(path)!r} holds {kind}, not {what} (a JSON object); was it "
            "edited or damaged?")
    return value


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
