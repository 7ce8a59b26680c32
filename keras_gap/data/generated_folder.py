"""Writes an ImageNet-layout folder of made-up images, for rehearsals and
benchmarks of the ``folder:`` source at sizes no test can ship.

Each image is smooth random colour (a few random pixels scaled up), distinct
per file and quick to encode, so tens of thousands are written in a minute.
"""

import os

import numpy as np
from PIL import Image

_FORMATS = {"JPEG": ".jpg", "PNG": ".png"}


def write_image_folder(root, class_names, per_class, size_range=(224, 224),
                       image_format="JPEG", seed=0):
    """Writes ``per_class`` images into ``root/<class>/`` for each class.

    Args:
        root: the folder to fill (e.g. ``.../train``); created if missing.
        class_names: sub-folder names, e.g. WordNet ids.
        per_class: images per class.
        size_range: ``(smallest, largest)`` side in pixels; each image's
            height and width are drawn from it.
        image_format: "JPEG" or "PNG".
        seed: the images and sizes are a function of it.

    Returns:
        The number of files written.
    """
    if image_format not in _FORMATS:
        raise ValueError(f"image_format must be one of {sorted(_FORMATS)}, got {image_format!r}")
    smallest, largest = (int(side) for side in size_range)
    if not 1 <= smallest <= largest:
        raise ValueError(f"size_range must be (smallest, largest) >= 1, got {size_range!r}")
    rng = np.random.default_rng(seed)
    written = 0
    for name in class_names:
        folder = os.path.join(root, name)
        os.makedirs(folder, exist_ok=True)
        for index in range(per_class):
            height, width = rng.integers(smallest, largest + 1, size=2)
            coarse = rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)
            image = Image.fromarray(coarse).resize((int(width), int(height)), Image.BILINEAR)
            image.save(os.path.join(folder, f"{name}_{index:05d}{_FORMATS[image_format]}"),
                       image_format)
            written += 1
    return written
