"""Export a perturber for TF Serving, and its other artifacts.

``export_savedmodel`` writes TF Serving's layout, ``<output>/<name>/<version>/``
(``saved_model.pb`` + ``variables/``), with these signatures, all of method
``tensorflow/serving/predict`` and built from stock TensorFlow ops:

* ``serving_default``: ``images`` float32 [batch, H, W, C] in [0, 1] ->
  ``adversarial_images`` and ``perturbations`` (float32, same shape), with
  ``adversarial_images = clip(images + perturbations, 0, 1)``;
* ``serve_uint8``: ``images`` uint8 [batch, H, W, C] in [0, 255] ->
  ``adversarial_images`` uint8 (rounded, clipped);
* ``perturbation`` (universal perturbers only): no input -> ``perturbation``
  float32 [1, H, W, C].

``export_artifacts`` writes several formats at once, all or none: every
format and destination is checked first (``plan_export``), everything is
written into a hidden staging directory (the SavedModel reloaded and
compared with the in-memory perturber there), and only then moved into
place together.
"""

import os
import re
import shutil
import tempfile

import keras
import numpy as np
import tensorflow as tf

from keras_gap import checks
from keras_gap.artifacts import check_writable_directory
from keras_gap.artifacts import make_directories
from keras_gap.artifacts import move_together
from keras_gap.artifacts import remove_empty_directories
from keras_gap.perturbers import Perturber
from keras_gap.reports.figures import save_perturbation_png

INPUT_NAME = "images"
# Output name -> dtype of each signature (the contract clients rely on).
SIGNATURE_OUTPUTS = {
    "serving_default": {"adversarial_images": "float32", "perturbations": "float32"},
    "serve_uint8": {"adversarial_images": "uint8"},
    "perturbation": {"perturbation": "float32"},
}
FLOAT_TOLERANCE = 1e-5
UINT8_TOLERANCE = 1
VERIFICATION_BATCH_SIZE = 4
ARTIFACT_FORMATS = ("savedmodel", "keras", "npy", "png")


def signature_names(perturber):
    """The signatures an export of ``perturber`` has."""
    names = ["serving_default", "serve_uint8"]
    if perturber.shared_perturbation:
        names.append("perturbation")
    return names


def _to_uint8(images):
    return tf.cast(tf.round(tf.clip_by_value(images * 255.0, 0.0, 255.0)), tf.uint8)


def build_export_archive(perturber):
    """A ``keras.export.ExportArchive`` holding ``perturber``'s signatures."""
    image_shape = [None, *perturber.image_shape]
    if not perturber.built:  # a perturber saved before its first call
        perturber(np.zeros([1, *perturber.image_shape], np.float32))

    @tf.function(input_signature=[tf.TensorSpec(image_shape, tf.float32, name=INPUT_NAME)])
    def serve_float(images):
        perturbations = perturber.perturbation(images, training=False)
        adversarial_images = tf.clip_by_value(images + perturbations, 0.0, 1.0)
        return {"adversarial_images": adversarial_images, "perturbations": perturbations}

    @tf.function(input_signature=[tf.TensorSpec(image_shape, tf.uint8, name=INPUT_NAME)])
    def serve_uint8(images):
        adversarial_images = perturber(tf.cast(images, tf.float32) / 255.0, training=False)
        return {"adversarial_images": _to_uint8(adversarial_images)}

    archive = keras.export.ExportArchive()
    archive.track(perturber)
    archive.add_endpoint("serving_default", serve_float)
    archive.add_endpoint("serve_uint8", serve_uint8)
    if perturber.shared_perturbation:

        @tf.function(input_signature=[])
        def perturbation():
            return {"perturbation": perturber.universal_perturbation(training=False)}

        archive.add_endpoint("perturbation", perturbation)
    return archive


def verification_images(image_shape, batch_size=VERIFICATION_BATCH_SIZE):
    """A fixed float32 batch in [0, 1]; the first image is black, the second
    white, so that clipping at both ends is exercised."""
    images = np.random.default_rng(0).random((batch_size, *image_shape), np.float32)
    images[0], images[1] = 0.0, 1.0
    return images


def _expected_outputs(perturber, images):
    images_uint8 = np.round(images * 255.0).astype(np.uint8)
    adversarial_uint8 = _to_uint8(perturber(images_uint8.astype(np.float32) / 255.0))
    expected = {
        "serving_default": (
            {INPUT_NAME: images},
            {
                "adversarial_images": np.asarray(perturber(images)),
                "perturbations": np.asarray(perturber.perturbation(images)),
            },
        ),
        "serve_uint8": (
            {INPUT_NAME: images_uint8},
            {"adversarial_images": adversarial_uint8.numpy()},
        ),
    }
    if perturber.shared_perturbation:
        expected["perturbation"] = (
            {}, {"perturbation": np.asarray(perturber.universal_perturbation())}
        )
    return expected


def verify_savedmodel(loaded, perturber, images):
    """Raises ``ValueError`` unless every signature of the reloaded SavedModel
    ``loaded`` gives ``perturber``'s outputs on ``images`` (float32 in [0, 1])
    within 1e-5 (float) or 1 level (uint8)."""
    missing = sorted(set(signature_names(perturber)) - set(loaded.signatures))
    if missing:
        raise ValueError(f"the exported SavedModel lacks the signatures {missing}")
    for signature, (inputs, expected) in _expected_outputs(perturber, images).items():
        outputs = loaded.signatures[signature](
            **{key: tf.constant(value) for key, value in inputs.items()}
        )
        for key, in_memory in expected.items():
            exported = outputs[key].numpy()
            if exported.dtype != in_memory.dtype or exported.shape != in_memory.shape:
                raise ValueError(
                    f"signature {signature!r} output {key!r} is {exported.dtype} "
                    f"{exported.shape}, the perturber gives {in_memory.dtype} {in_memory.shape}"
                )
            tolerance = UINT8_TOLERANCE if in_memory.dtype == np.uint8 else FLOAT_TOLERANCE
            difference = float(np.max(np.abs(exported.astype(np.float64) - in_memory)))
            if difference > tolerance:
                raise ValueError(
                    f"signature {signature!r} output {key!r} differs from the in-memory "
                    f"perturber by {difference:.3g} (tolerance {tolerance:g}); export aborted"
                )


def next_version(model_directory):
    """One more than the highest integer version directory, or 1."""
    if not os.path.isdir(model_directory):
        return 1
    versions = [int(entry) for entry in os.listdir(model_directory) if entry.isdigit()]
    return max(versions, default=0) + 1


# TF Serving puts the model name in URLs and paths: a plain, printable name.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def _check_name(name):
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(
            "model name must be a plain directory name of at most 100 letters, digits, "
            f"'.', '_' and '-', starting with a letter or digit, got {name!r}")


def _check_backend():
    """SavedModels are TensorFlow's: an export runs under KERAS_BACKEND=tensorflow."""
    if keras.backend.backend() != "tensorflow":
        raise ValueError(
            f"exporting a SavedModel needs KERAS_BACKEND=tensorflow (the default), not "
            f"{keras.backend.backend()}: a perturber.keras trained under any backend "
            "exports under TensorFlow")


def _check_perturber(perturber):
    if not isinstance(perturber, Perturber):
        raise ValueError(
            f"expected a keras_gap perturber, got a {type(perturber).__name__}"
        )


def _refuse_existing(path):
    if os.path.lexists(path):
        raise ValueError(f"{path!r} already exists and is never overwritten")


def _refuse_existing_version(version_directory):
    if os.path.lexists(version_directory):
        raise ValueError(
            f"version directory {version_directory!r} already exists; versions are never "
            "overwritten: give another --version or leave it out for the next free one"
        )


def _savedmodel_destination(output, name, version):
    model_directory = os.path.join(os.fspath(output), name)
    if os.path.exists(model_directory) and not os.path.isdir(model_directory):
        raise ValueError(f"{model_directory!r} exists and is not a directory")
    if version is None:
        version = next_version(model_directory)
    else:
        checks.POSITIVE_INTEGER.check(version, "version")
    version_directory = os.path.join(model_directory, str(version))
    _refuse_existing_version(version_directory)
    return version_directory


def plan_export(perturber, formats, output, name, version=None):
    """Checks an export of ``perturber`` in every format of ``formats`` and
    returns ``{format: destination}``, before anything is written."""
    _check_backend()
    _check_perturber(perturber)
    _check_name(name)
    formats = list(dict.fromkeys(formats))
    unknown = [f for f in formats if f not in ARTIFACT_FORMATS]
    if unknown or not formats:
        raise ValueError(f"formats must be among {list(ARTIFACT_FORMATS)}, got {formats!r}")
    if version is not None and "savedmodel" not in formats:
        raise ValueError("--version applies to --format savedmodel only")
    if os.path.exists(output) and not os.path.isdir(output):
        raise ValueError(f"--output {os.fspath(output)!r} exists and is not a directory")
    check_writable_directory(output, "--output")
    destinations = {}
    for artifact_format in formats:
        if artifact_format == "savedmodel":
            destinations[artifact_format] = _savedmodel_destination(output, name, version)
            continue
        if artifact_format in ("npy", "png") and not perturber.shared_perturbation:
            raise ValueError(
                f"format {artifact_format!r} needs a universal perturber; this "
                f"{perturber.kind} perturber makes one perturbation per image")
        destinations[artifact_format] = os.path.join(
            os.fspath(output), f"{name}.{artifact_format}")
        _refuse_existing(destinations[artifact_format])
    return destinations


def _write_savedmodel(perturber, path):
    build_export_archive(perturber).write_out(path, verbose=False)
    loaded = tf.saved_model.load(path)
    verify_savedmodel(loaded, perturber, verification_images(perturber.image_shape))


def _perturbation(perturber):
    return np.asarray(perturber.universal_perturbation())[0]


# Each writer puts one format of a perturber at a (staging) path.
WRITERS = {
    "savedmodel": _write_savedmodel,
    "keras": lambda perturber, path: perturber.save(path),
    "npy": lambda perturber, path: np.save(path, _perturbation(perturber)),
    "png": lambda perturber, path: save_perturbation_png(_perturbation(perturber), path),
}


def export_artifacts(perturber, formats, output, name, version=None):
    """Writes ``perturber`` in every format of ``formats``: all or none.

    ``savedmodel``: ``<output>/<name>/<version>/`` (see ``export_savedmodel``);
    ``keras``: ``<output>/<name>.keras``; ``npy`` / ``png`` (universal
    perturbers): the perturbation (H, W, C) as ``<output>/<name>.npy`` / ``.png``.
    Everything is checked first (``plan_export``), written into a hidden
    staging directory, and then moved into place together; on any error
    nothing is left. Existing files and versions are never overwritten.
    Returns the destinations in the order of ``formats``.
    """
    destinations = plan_export(perturber, formats, output, name, version)
    created = make_directories(output)
    if "savedmodel" in destinations:
        created += make_directories(os.path.dirname(destinations["savedmodel"]))
    try:
        # Hidden (TF Serving only looks at integer names); each artifact one
        # level down so that it gets ordinary permissions, not mkdtemp's.
        staging = tempfile.mkdtemp(prefix=f".{name}.", suffix=".tmp", dir=output)
        try:
            moves = []
            for artifact_format, destination in destinations.items():
                temporary = os.path.join(staging, os.path.basename(destination))
                WRITERS[artifact_format](perturber, temporary)
                moves.append((temporary, destination))
            for _, destination in moves:  # nothing appeared meanwhile
                _refuse_existing(destination)
            move_together(moves)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    except BaseException:
        remove_empty_directories(created)
        raise
    return list(destinations.values())


def export_savedmodel(perturber, output, name, version=None):
    """Writes ``<output>/<name>/<version>/`` and returns its path.

    ``version`` defaults to the next free number; an existing version is
    refused with a ``ValueError``, as is an export whose reloaded outputs
    differ from ``perturber``'s. The SavedModel is staged, reloaded and
    verified before it is renamed into place.
    """
    return export_artifacts(perturber, ["savedmodel"], output, name, version)[0]
