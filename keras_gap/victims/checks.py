"""Checks that a model can be a victim, and that victims fit each other and
the perturber that attacks them.

``check_victim_model`` runs on every ``Victim`` before anything trains: one
input, one output, a fixed image size a generator can pad, at least two
classes, and scores an attack objective can push (logits or a softmax).
"""

import keras

# The generators downsample 4x and pad by reflection; smaller sides leave
# their bottleneck less than 2 pixels wide, which reflection cannot pad.
MIN_IMAGE_SIDE = 5


def _final_layer(model):
    layer = model.layers[-1] if model.layers else model
    while isinstance(layer, keras.Model) and layer.layers:
        layer = layer.layers[-1]
    return layer


def _ends_in_sigmoid(model):
    layer = _final_layer(model)
    if isinstance(layer, keras.layers.Activation):
        return layer.get_config().get("activation") == "sigmoid"
    return getattr(layer, "activation", None) is keras.activations.sigmoid


def _tensors(model, which):
    """``model.inputs`` / ``model.outputs``; ``None`` for an unbuilt model."""
    try:
        tensors = getattr(model, which)
    except (AttributeError, ValueError):
        return None
    return tensors or None


def _check_connections(model, name):
    inputs, outputs = _tensors(model, "inputs"), _tensors(model, "outputs")
    if inputs is None or outputs is None:
        raise ValueError(
            f"victim {name!r} has no defined input (an unbuilt Sequential or subclassed "
            "model): start it with keras.Input((height, width, channels)) and save it again")
    for what, tensors in (("inputs", inputs), ("outputs", outputs)):
        if len(tensors) != 1:
            raise ValueError(
                f"victim {name!r} has {len(tensors)} {what}; a victim takes one image "
                "batch and returns one score tensor")
    return tuple(inputs[0].shape), tuple(outputs[0].shape)


def check_victim_model(model, name):
    """Raises ``ValueError`` naming ``name`` unless ``model`` can be a victim:
    one input ``(batch, H, W, C)`` of fixed size with sides of at least
    ``MIN_IMAGE_SIDE``, one output of class scores ``(batch, classes)`` or
    score maps ``(batch, H, W, classes)``, at least two classes, and no
    sigmoid head (independent per-class probabilities, which the softmax
    objectives cannot move)."""
    input_shape, output_shape = _check_connections(model, name)
    dense = len(output_shape) == 4 and output_shape[1:3] == input_shape[1:3]
    if len(input_shape) != 4 or (len(output_shape) != 2 and not dense):
        raise ValueError(
            f"victim {name!r} must map (batch, H, W, C) images to (batch, classes) scores "
            f"or (batch, H, W, classes) score maps; it maps {input_shape} to {output_shape}")
    if any(d is None for d in input_shape[1:] + output_shape[-1:]):
        raise ValueError(f"victim {name!r} has no fixed input shape ({input_shape[1:]}); "
                         "build it for one image size")
    if min(input_shape[1:3]) < MIN_IMAGE_SIDE:
        raise ValueError(
            f"victim {name!r} takes {input_shape[1]}x{input_shape[2]} images; the "
            f"generators need sides of at least {MIN_IMAGE_SIDE} pixels")
    if output_shape[-1] < 2:
        raise ValueError(
            f"victim {name!r} has {output_shape[-1]} output class: nothing to fool (a "
            "fooling rate of 0 by construction); a binary classifier needs 2 scores")
    if _ends_in_sigmoid(model):
        raise ValueError(
            f"victim {name!r} ends in a sigmoid (independent per-class probabilities); the "
            "attack objectives need logits or a softmax: save the model without the sigmoid")


def check_unique_names(victims):
    """Raises unless the victims' names (metric names, table columns) differ."""
    names = [v.name for v in victims]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(
            f"victim names must be unique, but {repeated} appear more than once "
            "(a victim file is named by its stem: rename one of the files)"
        )


def _check_input_shape(victim, image_shape):
    if tuple(image_shape) != victim.input_shape:
        raise ValueError(
            f"victim {victim.name} takes images of shape {victim.input_shape}, "
            f"but the perturber makes {tuple(image_shape)}"
        )


def check_victims_agree(victims, image_shape=None):
    """Raises ``ValueError`` unless all victims of one attack share task,
    input shape and classes (and take ``image_shape`` when given)."""
    first = victims[0]
    for victim in victims[1:]:
        for what, attribute in (("task", "task"), ("input shape", "input_shape"),
                                ("class count", "num_classes")):
            if getattr(victim, attribute) != getattr(first, attribute):
                raise ValueError(
                    f"ensemble victims disagree on {what}: {first.name} has "
                    f"{getattr(first, attribute)}, {victim.name} has "
                    f"{getattr(victim, attribute)}"
                )
    if image_shape is not None:
        _check_input_shape(first, image_shape)
    check_unique_names(victims)


def check_victims_fit(victims, image_shape):
    """Raises ``ValueError`` unless every victim takes ``image_shape`` and does
    the same task; their class counts may differ (an evaluation against
    victims the perturber never saw)."""
    for victim in victims:
        _check_input_shape(victim, image_shape)
        if victim.task != victims[0].task:
            raise ValueError(
                f"victims must all be classifiers or all segmenters: {victims[0].name} is a "
                f"{victims[0].task}, {victim.name} a {victim.task}"
            )
    check_unique_names(victims)

