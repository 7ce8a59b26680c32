"""Target maps of targeted segmentation attacks (the paper's static target).

A target map is an (H, W) label map of class ids, 255 marking pixels left
free. It comes from a grey or palette PNG of class ids, or from the ground
truth of one test scene (``scene:INDEX``).
"""

import os

import numpy as np
from PIL import Image


def resolve_target_map_spec(spec):
    """Checks a ``--target-map`` value before any model is loaded: keeps
    ``scene:INDEX`` and makes a PNG path absolute."""
    if spec is None:
        return None
    spec = str(spec)
    if spec.startswith("scene:"):
        return spec
    if not os.path.isfile(spec):
        raise ValueError(f"target map not found: {spec!r} (give a .png file or scene:INDEX)")
    return os.path.abspath(spec)


def load_target_map(spec, test_data=None):
    """A target map from ``PATH.png`` (grey or palette PNG of class ids) or
    ``scene:INDEX`` (the label map of test image INDEX)."""
    spec = str(spec)
    if spec.startswith("scene:"):
        try:
            index = int(spec[len("scene:"):])
        except ValueError:
            raise ValueError(f"--target-map scene:INDEX needs an integer, got {spec!r}") from None
        if test_data is None:
            raise ValueError("--target-map scene:INDEX needs a segmentation data set")
        if not 0 <= index < test_data.num_examples:
            raise ValueError(
                f"--target-map {spec}: {test_data.name} test has scenes "
                f"0..{test_data.num_examples - 1}"
            )
        _, label_map = next(iter(test_data.make_dataset().skip(index).take(1)))
        return np.asarray(label_map, np.int32)
    if not os.path.isfile(spec):
        raise ValueError(f"target map not found: {spec!r} (give a .png file or scene:INDEX)")
    try:
        with Image.open(spec) as image:
            if image.mode not in ("L", "P", "I", "I;16"):
                raise ValueError(
                    f"target map {spec!r} is a {image.mode} image; it must be a "
                    "single-channel (grey or palette) PNG of class ids"
                )
            return np.asarray(image).astype(np.int32)
    except OSError as error:
        raise ValueError(f"target map {spec!r} is not a readable image: {error}") from None


def save_target_map(target_map, path):
    """Writes a label map as a grey PNG that ``load_target_map`` reads back."""
    Image.fromarray(np.asarray(target_map).astype(np.uint8), mode="L").save(path)
