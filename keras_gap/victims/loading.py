"""Loading victims by name: ``.keras`` files, Keras Applications names, or
``torchscript:PATH.pt`` PyTorch classifiers (``KERAS_BACKEND=torch``).

A Keras Applications victim gets ImageNet weights unless told otherwise: a
local weights file, or "random" (untrained) when asked for by name. Every
loaded ``Victim`` records its weights (``Victim.weights``) for the reports.
"""

import os

import keras

from keras_gap.artifacts import check_keras_archive
from keras_gap.victims.applications import APPLICATIONS
from keras_gap.victims.applications import application_classifier
from keras_gap.victims.segmenters import import_model_packages
from keras_gap.victims.torch_victims import TORCHSCRIPT_PREFIX
from keras_gap.victims.torch_victims import is_torchscript
from keras_gap.victims.torch_victims import load_torchscript
from keras_gap.victims.victim import Victim


def victim_name(spec):
    """The name ``load_victim`` gives ``spec``: the file's stem or the
    Keras Applications name."""
    spec = os.fspath(spec)
    if spec in APPLICATIONS:
        return spec
    if is_torchscript(spec):
        spec = spec[len(TORCHSCRIPT_PREFIX):]
    return os.path.splitext(os.path.basename(spec))[0]


UNSAFE_HINT = (
    "; if you wrote this file yourself and trust it, pass --unsafe-deserialization "
    "(it runs Python code stored in the file)"
)
IMAGENET_WEIGHTS = "imagenet"
IMAGENET_CLASSES = 1000
RANDOM_WEIGHTS = "random"
# Spellings of "untrained weights": only ever used when asked for by name.
_RANDOM_SPELLINGS = ("random", "none")


def describe_weights(weights):
    """``Victim.weights`` for a table cell: "imagenet", "random", the file's
    name, or "unknown" (a model handed in directly)."""
    if weights is None:
        return "unknown"
    if weights in (IMAGENET_WEIGHTS, RANDOM_WEIGHTS):
        return weights
    return os.path.basename(weights)


def is_application(spec):
    """True for a Keras Applications name (not a file, not a ready ``Victim``)."""
    return not isinstance(spec, Victim) and os.fspath(spec) in APPLICATIONS


def check_victim_weights(weights):
    """One Keras Applications victim's weights, checked: "imagenet",
    "random" (also spelled "none"), or an existing local weights file
    (``.weights.h5``, or the ``.h5`` Keras Applications downloads), returned
    as an absolute path."""
    if not isinstance(weights, (str, os.PathLike)):
        raise ValueError(f"victim weights must be 'imagenet', 'random' or a file, got {weights!r}")
    text = os.fspath(weights)
    if text.lower() in _RANDOM_SPELLINGS:
        return RANDOM_WEIGHTS
    if text == IMAGENET_WEIGHTS:
        return IMAGENET_WEIGHTS
    if not os.path.isfile(text):
        raise ValueError(
            f"--victim-weights must be 'imagenet', 'random' or an existing weights file "
            f"(.weights.h5), got {text!r}"
        )
    return os.path.abspath(text)


def resolve_victim_weights(specs, weights=None):
    """The weights of each victim in ``specs``, in order (None for ``.keras``
    files and ready ``Victim``s, which carry their own).

    Args:
        specs: victims as ``load_victims`` takes them.
        weights: None or empty: ImageNet weights for every Keras Applications
            victim. Otherwise one value per Keras Applications victim, in the
            order they appear in ``specs`` (a single string for a single
            one); see ``check_victim_weights``.
    """
    applications = [os.fspath(s) for s in specs if is_application(s)]
    if isinstance(weights, (str, os.PathLike)):
        weights = [weights]
    if not weights:
        values = [IMAGENET_WEIGHTS] * len(applications)
    elif not applications:
        raise ValueError(
            "--victim-weights applies to Keras Applications victims, and none of the "
            "victims is one (a .keras victim carries its own weights)"
        )
    elif len(weights) != len(applications):
        raise ValueError(
            f"got {len(weights)} --victim-weights value(s) for {len(applications)} Keras "
            f"Applications victim(s) ({', '.join(applications)}): give one per Applications "
            "victim, in the order of --victim, or none at all for ImageNet weights"
        )
    else:
        values = [check_victim_weights(w) for w in weights]
    remaining = iter(values)
    return [next(remaining) if is_application(s) else None for s in specs]


def _application_victim(spec, weights, input_shape, num_classes):
    weights = check_victim_weights(IMAGENET_WEIGHTS if weights is None else weights)
    if weights == IMAGENET_WEIGHTS and num_classes != IMAGENET_CLASSES:
        raise ValueError(
            f"ImageNet weights give victim {spec} {IMAGENET_CLASSES} classes, but this data "
            f"has {num_classes}: give --victim-weights random (untrained) or a local "
            f"weights file of a {num_classes}-class {spec}"
        )
    try:
        model = application_classifier(
            spec, input_shape=input_shape, num_classes=num_classes,
            weights=None if weights == RANDOM_WEIGHTS else weights,
        )
    except ValueError as error:
        raise ValueError(f"victim {spec} with {weights} weights: {error}") from None
    except Exception as error:  # a failed download, a file of another network
        raise ValueError(f"could not load the {weights} weights of victim {spec}: {error}"
                         ) from None
    return Victim(model, name=spec, weights=weights)


def load_victim(spec, weights=None, input_shape=None, num_classes=1000, safe_mode=True):
    """Loads the victim ``spec``: a ``.keras`` file or a Keras Applications name.

    Args:
        spec: path to a ``.keras`` classifier, or a key of ``APPLICATIONS``.
        weights: for application names, "imagenet" (the default, also for
            None; Keras downloads them once), "random" (untrained: only when
            asked for) or a local weights file. ``.keras`` files carry their
            own weights and take none.
        input_shape: for application names, the image shape to build for;
            for ``torchscript:PATH.pt``, the shape of the images it takes.
        num_classes: for application names, the head's class count.
        safe_mode: Keras ``safe_mode`` for ``.keras`` files; ``False`` lets
            ``Lambda`` layers run the Python code stored in the file.

    The victim's ``weights`` attribute records which weights it got.
    """
    spec = os.fspath(spec)
    if spec in APPLICATIONS:
        return _application_victim(spec, weights, input_shape, num_classes)
    if weights is not None:
        raise ValueError(
            f"--victim-weights only applies to Keras Applications names, not {spec!r}"
        )
    if is_torchscript(spec):
        return load_torchscript(spec, input_shape)
    if os.path.isdir(spec):
        raise ValueError(f"victim {spec!r} is a directory, expected a .keras file")
    if not os.path.isfile(spec):
        if spec.endswith(".keras"):
            raise ValueError(f"victim file not found: {spec!r}")
        raise ValueError(
            f"unknown victim {spec!r}: give a .keras file, torchscript:PATH.pt or one of "
            f"{sorted(APPLICATIONS)}"
        )
    check_keras_archive(spec, "victim")
    import_model_packages(spec)  # registers keras-hub classes (DeepLabV3+)
    try:
        model = keras.saving.load_model(spec, safe_mode=safe_mode, compile=False)
    except Exception as error:  # Keras raises many types for corrupt files.
        hint = UNSAFE_HINT if safe_mode and "safe_mode" in str(error) else ""
        raise ValueError(
            f"victim {spec!r} is not a readable .keras model: {error}{hint}"
        ) from None
    return Victim(model, name=victim_name(spec), weights=os.path.abspath(spec))


def application_head_classes(dataset):
    """Classes of the head a Keras Applications victim gets for ``dataset``:
    Fashion-MNIST's 10, otherwise ImageNet's 1000."""
    return 10 if dataset == "fashion_mnist" else IMAGENET_CLASSES


def load_victims(specs, image_shape=None, weights=None, num_classes=1000, safe_mode=True,
                 data_shape=None):
    """Loads the victims ``specs`` (``.keras`` files, Keras Applications names
    built for ``image_shape``, ``torchscript:PATH.pt`` files taking
    ``image_shape`` or else ``data_shape`` images, or ready ``Victim``s) and
    checks that each has
    the shape of a victim (``check_victim_model``). ``weights``: one per
    Keras Applications victim, in order, or None for ImageNet weights
    (``resolve_victim_weights``). How they must agree is the caller's check:
    ``check_victims_agree`` (one attack) or ``check_victims_fit`` (an
    evaluation against victims of different class counts)."""
    if not specs:
        raise ValueError("give at least one --victim")
    victims = []
    for spec, spec_weights in zip(specs, resolve_victim_weights(specs, weights)):
        if isinstance(spec, Victim):
            victims.append(spec)
            continue
        shape = tuple(image_shape) if image_shape and is_application(spec) else None
        if is_torchscript(spec):
            shape = tuple(image_shape or data_shape or ()) or None
        victims.append(load_victim(spec, weights=spec_weights, input_shape=shape,
                                   num_classes=num_classes, safe_mode=safe_mode))
    return victims
