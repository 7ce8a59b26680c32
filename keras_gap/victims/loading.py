"""Loading victims by name: ``.keras`` files or Keras Applications names."""

import os

import keras

from keras_gap.artifacts import check_keras_archive
from keras_gap.victims.applications import APPLICATIONS
from keras_gap.victims.applications import application_classifier
from keras_gap.victims.segmenters import import_model_packages
from keras_gap.victims.victim import Victim


def victim_name(spec):
    """The name ``load_victim`` gives ``spec``: the file's stem or the
    Keras Applications name."""
    spec = os.fspath(spec)
    if spec in APPLICATIONS:
        return spec
    return os.path.splitext(os.path.basename(spec))[0]


UNSAFE_HINT = (
    "; if you wrote this file yourself and trust it, pass --unsafe-deserialization "
    "(it runs Python code stored in the file)"
)


def load_victim(spec, weights=None, input_shape=None, num_classes=1000, safe_mode=True):
    """Loads the victim ``spec``: a ``.keras`` file or a Keras Applications name.

    Args:
        spec: path to a ``.keras`` classifier, or a key of ``APPLICATIONS``.
        weights: for application names, "imagenet", None or a local
            ``.weights.h5`` file.
        input_shape: for application names, the image shape to build for.
        num_classes: for application names, the head's class count.
        safe_mode: Keras ``safe_mode`` for ``.keras`` files; ``False`` lets
            ``Lambda`` layers run the Python code stored in the file.
    """
    spec = os.fspath(spec)
    if spec in APPLICATIONS:
        model = application_classifier(
            spec, input_shape=input_shape, num_classes=num_classes, weights=weights
        )
        return Victim(model, name=spec)
    if weights is not None:
        raise ValueError(
            f"--victim-weights only applies to Keras Applications names, not {spec!r}"
        )
    if os.path.isdir(spec):
        raise ValueError(f"victim {spec!r} is a directory, expected a .keras file")
    if not os.path.isfile(spec):
        if spec.endswith(".keras"):
            raise ValueError(f"victim file not found: {spec!r}")
        raise ValueError(
            f"unknown victim {spec!r}: give a .keras file or one of {sorted(APPLICATIONS)}"
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
    return Victim(model, name=victim_name(spec))


def application_head_classes(dataset):
    """Classes of the head a Keras Applications victim gets for ``dataset``:
    Fashion-MNIST's 10, otherwise ImageNet's 1000."""
    return 10 if dataset == "fashion_mnist" else 1000


def load_victims(specs, image_shape=None, weights=None, num_classes=1000, safe_mode=True):
    """Loads the victims ``specs`` (``.keras`` files, Keras Applications names
    built for ``image_shape``, or ready ``Victim``s) and checks that each has
    the shape of a victim (``check_victim_model``). How they must agree is the caller's check:
    ``check_victims_agree`` (one attack) or ``check_victims_fit`` (an
    evaluation against victims of different class counts)."""
    if not specs:
        raise ValueError("give at least one --victim")
    victims = []
    for spec in specs:
        if isinstance(spec, Victim):
            victims.append(spec)
            continue
        shape = tuple(image_shape) if image_shape and os.fspath(spec) in APPLICATIONS else None
        victims.append(load_victim(spec, weights=weights, input_shape=shape,
                                   num_classes=num_classes, safe_mode=safe_mode))
    return victims
