"""``folder:PATH``: images in one sub-folder per class (ImageNet's layout).

Two layouts are understood:

* split folders: ``PATH/train/<class>/*``, ``PATH/val/<class>/*`` (or
  ``validation/``) and ``PATH/test/<class>/*``, any of them present;
* one folder: ``PATH/<class>/*``, where every fifth file of each class
  (sorted by name) is held out as the validation and test split.

Class ids are the positions of the sorted class names, taken over all split
folders so every split numbers them alike. When every class folder is named
by an ImageNet WordNet id (``n01440764`` ...), the ids are those of Keras
Applications' 1,000 outputs instead, whatever subset of classes is present.

Only the file list is held in memory; ``IndexedExamples`` shuffles it and
decodes in parallel. Files that are not readable images are left out and
reported (``ImageData.skipped_files``), or refused with ``refuse_bad_files``.
"""

import os

import tensorflow as tf

from keras_gap.data.examples import IndexedExamples
from keras_gap.data.image_data import ImageData
from keras_gap.data.image_data import fit_to_shape
from keras_gap.data.image_files import image_file_problems
from keras_gap.data.imagenet_classes import IMAGENET_WNIDS
from keras_gap.data.imagenet_classes import imagenet_label_ids
from keras_gap.data.splits import TRAIN
from keras_gap.data.splits import VALIDATION
from keras_gap.data.splits import TEST
from keras_gap.data.splits import resolve_split

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
# Sub-folder names of each split, in order of preference.
SPLIT_FOLDERS = {TRAIN: ("train",), VALIDATION: ("val", "validation"), TEST: ("test",)}
HOLD_OUT_EVERY = 5
_LISTED_PROBLEMS = 5


def _subfolders(path):
    with os.scandir(path) as entries:
        return sorted(entry.name for entry in entries if entry.is_dir())


def _split_folders(root):
    """``{split: folder}`` of the split folders present under ``root``."""
    present = set(_subfolders(root))
    folders = {}
    for split, names in SPLIT_FOLDERS.items():
        name = next((n for n in names if n in present), None)
        if name is not None:
            folders[split] = os.path.join(root, name)
    return folders


def _image_names(folder):
    with os.scandir(folder) as entries:
        return sorted(
            entry.name for entry in entries
            if entry.name.lower().endswith(IMAGE_EXTENSIONS) and not entry.is_dir()
        )


def list_folder_split(root, split):
    """``(split name, files, labels, class names)`` of ``split`` of ``root``."""
    folders = _split_folders(root)
    layout = folders or dict.fromkeys((TRAIN, VALIDATION, TEST), root)
    resolved = resolve_split(split, layout, f"image folder {root!r}")
    class_names = sorted({name for folder in layout.values() for name in _subfolders(folder)})
    if not class_names:
        raise ValueError(f"image folder {root!r} has no class sub-folders")
    label_ids = imagenet_label_ids(class_names) or range(len(class_names))
    base = layout[resolved]
    files, labels = [], []
    for name, label in zip(class_names, label_ids):
        if not os.path.isdir(os.path.join(base, name)):
            continue
        names = _image_names(os.path.join(base, name))
        if not folders:
            held_out = resolved != TRAIN
            names = [f for i, f in enumerate(names)
                     if (i % HOLD_OUT_EVERY == HOLD_OUT_EVERY - 1) == held_out]
        files += [os.path.join(base, name, f) for f in names]
        labels += [label] * len(names)
    if imagenet_label_ids(class_names) is not None:
        class_names = list(IMAGENET_WNIDS)
    if not files:
        raise ValueError(f"image folder {base!r} has no {resolved} images")
    return resolved, files, labels, class_names


def _without_bad_files(files, labels, where, refuse_bad_files):
    problems = image_file_problems(files)
    skipped = tuple((f, p) for f, p in zip(files, problems) if p is not None)
    if skipped and refuse_bad_files:
        listed = "; ".join(f"{f}: {p}" for f, p in skipped[:_LISTED_PROBLEMS])
        raise ValueError(
            f"{where} holds {len(skipped)} file(s) that are not readable images: "
            f"{listed}{' ...' if len(skipped) > _LISTED_PROBLEMS else ''}"
        )
    if len(skipped) == len(files):
        raise ValueError(f"{where}: none of its {len(files)} files is a readable image "
                         f"(e.g. {skipped[0][0]}: {skipped[0][1]})")
    kept = [i for i, p in enumerate(problems) if p is None]
    return [files[i] for i in kept], [labels[i] for i in kept], skipped


def folder_data(root, split, image_shape, refuse_bad_files=False):
    """``split`` of the image folder ``root`` as an ``ImageData``."""
    if not os.path.isdir(root):
        raise ValueError(f"image folder not found: {root!r}")
    if image_shape is None:
        raise ValueError(f"folder:{root} needs an image shape (taken from the victim)")
    resolved, files, labels, class_names = list_folder_split(root, split)
    files, labels, skipped = _without_bad_files(
        files, labels, f"folder:{root} {resolved}", refuse_bad_files
    )
    file_tensor = tf.constant(files)
    label_tensor = tf.constant(labels, tf.int32)

    def load(index):
        contents = tf.io.read_file(tf.gather(file_tensor, index))
        image = tf.io.decode_image(
            contents, channels=3, dtype=tf.float32, expand_animations=False
        )
        return fit_to_shape(image, image_shape), tf.gather(label_tensor, index)

    return ImageData(
        f"folder:{root}", resolved, tuple(image_shape), class_names,
        IndexedExamples(len(files), load, skip_errors=True), skipped,
    )
