"""A cheap check of image files before any of them is decoded.

Large image folders always hold a few bad files: empty ones, dangling links,
text or HTML saved under an image name, downloads cut short. One of them
reaching the decoder mid-epoch would end a training run, so every listed
file is checked first by what can be seen without decoding it: that it is a
non-empty regular file, that it starts with the signature of a format
TensorFlow decodes (JPEG, PNG, GIF, BMP; by content, not by name), and that a
JPEG or PNG still has its end marker near the end of the file. This costs one
``stat`` and two small reads per file, in parallel threads.

A file that passes and still fails to decode (damage inside the compressed
data) is dropped by the pipeline with a logged warning (``IndexedExamples``
``skip_errors``).
"""

import concurrent.futures
import os

_SIGNATURES = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
)
# The end marker a complete file carries, searched for in its last bytes
# (some writers pad after it).
_END_MARKERS = {"JPEG": b"\xff\xd9", "PNG": b"IEND"}
_TAIL_BYTES = 1024
_THREADS = 16


def image_file_problem(path):
    """Why ``path`` cannot be a readable image, or ``None`` if it may be."""
    try:
        status = os.stat(path)
    except FileNotFoundError:
        return "dangling symbolic link" if os.path.islink(path) else "missing"
    except OSError as error:
        return f"unreadable ({error.strerror})"
    if not os.path.isfile(path):
        return "not a regular file"
    if status.st_size == 0:
        return "empty file"
    try:
        with open(path, "rb") as handle:
            head = handle.read(16)
            handle.seek(max(0, status.st_size - _TAIL_BYTES))
            tail = handle.read(_TAIL_BYTES)
    except OSError as error:
        return f"unreadable ({error.strerror})"
    image_format = next((name for magic, name in _SIGNATURES if head.startswith(magic)), None)
    if image_format is None:
        return "not an image (no JPEG, PNG, GIF or BMP signature)"
    marker = _END_MARKERS.get(image_format)
    if marker is not None and marker not in tail:
        return f"truncated {image_format} (no end marker)"
    return None


def image_file_problems(paths):
    """``image_file_problem`` of every path, in order (checked in threads)."""
    with concurrent.futures.ThreadPoolExecutor(_THREADS) as pool:
        return list(pool.map(image_file_problem, paths, chunksize=256))
