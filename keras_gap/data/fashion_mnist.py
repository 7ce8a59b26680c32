"""Fashion-MNIST read from Debian's ``dataset-fashion-mnist`` files.

The package installs the original IDX files under
``/usr/share/datasets/fashion-mnist``; ``KERAS_GAP_FASHION_MNIST_DIR``
points elsewhere. Nothing is downloaded.
"""

import gzip
import os

import numpy as np

DEFAULT_DIRECTORY = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]
_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


def fashion_mnist_directory():
    return os.environ.get("KERAS_GAP_FASHION_MNIST_DIR", DEFAULT_DIRECTORY)


def _read_idx(path, expected_magic):
    with gzip.open(path, "rb") as handle:
        data = handle.read()
    magic = int.from_bytes(data[:4], "big")
    if magic != expected_magic:
        raise ValueError(f"{path!r} is not an IDX file (magic {magic:#x})")
    rank = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(rank)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * rank).reshape(dims)


def load_fashion_mnist(split):
    """Returns ``(images uint8 [N, 28, 28, 1], labels int32 [N])`` of ``split``."""
    if split not in _FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    directory = fashion_mnist_directory()
    paths = [os.path.join(directory, name) for name in _FILES[split]]
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise ValueError(
            f"Fashion-MNIST not found ({missing[0]} is missing). Install it with "
            "'sudo apt-get install dataset-fashion-mnist' (Debian/Ubuntu), or set "
            "KERAS_GAP_FASHION_MNIST_DIR to a folder holding the four "
            "*-ubyte.gz files"
        )
    images = _read_idx(paths[0], 0x803)[..., None]
    labels = _read_idx(paths[1], 0x801).astype(np.int32)
    return images, labels
