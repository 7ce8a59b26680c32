"""The output directory of a run: one configuration per directory.

A directory holding a different run's ``config.json`` is refused; the same
configuration resumes (or reports a finished run).
"""

import os

from keras_gap.artifacts import check_writable_directory
from keras_gap.artifacts import read_json


def check_output_dir(output_dir, resolved):
    """Refuses a directory holding another run; returns True to resume.

    Args:
        output_dir: the run's output directory.
        resolved: the resolved configuration as a dict (``config.json``).
    """
    if os.path.exists(output_dir) and not os.path.isdir(output_dir):
        raise ValueError(f"output directory {output_dir!r} exists and is not a directory")
    check_writable_directory(output_dir, "output directory")
    config_path = os.path.join(output_dir, "config.json")
    if not os.path.isfile(config_path):
        return False
    existing = read_json(config_path)
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
