"""The size a data set's images come in, for models built to fit the data.

An attack takes its image size from the victim; a victim being trained
(``train.classifier``) takes it from the data: Fashion-MNIST's is known,
a TFDS set declares it when it is fixed, and an image folder's is read
from the headers of its first images (only the headers: nothing is
decoded). A folder whose first images differ in size, or a TFDS set of
varying sizes, needs the size given.
"""

import os

import tensorflow_datasets as tfds
from PIL import Image

_IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
# Images whose sizes are read: enough to tell a uniform folder.
SAMPLED_IMAGES = 32


def _first_images(root, count):
    found = []
    for directory, folders, names in os.walk(root):
        folders.sort()
        found += [os.path.join(directory, n) for n in sorted(names)
                  if n.lower().endswith(_IMAGE_EXTENSIONS)]
        if len(found) >= count:
            break
    return found[:count]


def _folder_shape(root):
    if not os.path.isdir(root):
        raise ValueError(f"image folder not found: {root!r}")
    sizes = set()
    for path in _first_images(root, SAMPLED_IMAGES):
        try:
            with Image.open(path) as image:
                sizes.add(image.size)
        except (OSError, ValueError):  # a bad file: the loader reports those
            continue
    if not sizes:
        raise ValueError(f"image folder {root!r} has no readable images")
    if len(sizes) > 1:
        shown = " and ".join(f"{w}x{h}" for w, h in sorted(sizes)[:2])
        raise ValueError(f"the images of folder:{root} differ in size ({shown}, ...): give "
                         "--image-size")
    width, height = sizes.pop()
    return height, width, 3


def _tfds_shape(name, data_dir):
    try:
        features = tfds.builder(name, data_dir=data_dir).info.features
    except Exception as error:  # TFDS raises its own types for unknown names
        cause = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(f"unknown or unreadable TFDS data set {name!r}: {cause}") from None
    shape = getattr(features["image"], "shape", None) if "image" in features else None
    if not shape or any(d is None for d in shape):
        raise ValueError(f"tfds:{name} images vary in size ({shape}): give --image-size")
    return tuple(int(d) for d in shape)


def native_image_shape(spec, tfds_data_dir=None):
    """``(H, W, C)`` of the images of the data set ``spec``, or ``None`` when
    its loader knows it (``fashion_mnist``, ``fashion_scenes``)."""
    if spec.startswith("folder:") and len(spec) > len("folder:"):
        return _folder_shape(spec[len("folder:"):])
    if spec.startswith("tfds:") and len(spec) > len("tfds:"):
        return _tfds_shape(spec[len("tfds:"):], tfds_data_dir)
    return None
