"""Intermediate feature maps of a victim model, and its mid-level default.

Transfer objectives (LTP, BIA) compare a victim's mid-level feature maps on
clean and adversarial images. ``feature_model`` rebuilds a victim as one
functional model that returns the chosen layers' outputs *and* its own
output from a single forward pass, reusing the victim's layers (so it stays
frozen and keeps its preprocessing). Layers are named as in
``model.get_layer``; a layer inside a nested model (a Keras Applications
network wrapped by its preprocessing, a Sequential block inside a
functional model) is named by its own name when that is unique, or by the
path ``outer/inner``.
"""

import keras

SEPARATOR = "/"


def single_tensor(tensors):
    """One tensor rather than a list of one, so a model built on it is
    called with the tensor (a list of one makes Keras warn that the
    structure of its inputs does not match)."""
    return tensors[0] if len(tensors) == 1 else tensors


def _as_functional(model):
    """``model`` as a functional model (a Sequential one is converted)."""
    inputs = getattr(model, "inputs", None)
    outputs = getattr(model, "outputs", None)
    if not inputs or not outputs:
        raise ValueError(
            f"features need a functional or Sequential victim built on a known input; "
            f"{model.name!r} ({type(model).__name__}) has no symbolic inputs and outputs"
        )
    if isinstance(model, keras.Sequential):
        return keras.Model(single_tensor(inputs), single_tensor(outputs), name=model.name)
    return model


def _layers_in_order(model, prefix=()):
    """``[(path, layer)]`` for every layer in graph order, nested models
    replaced by their own layers (the input layers left out)."""
    found = []
    for layer in _as_functional(model).layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        path = prefix + (layer.name,)
        if isinstance(layer, keras.Model):
            found.extend(_layers_in_order(layer, path))
        else:
            found.append((path, layer))
    return found


def _display_names(paths):
    """The shortest unambiguous name of each path: the layer's own name when
    no other layer shares it, else the full ``outer/inner`` path."""
    counts = {}
    for path in paths:
        counts[path[-1]] = counts.get(path[-1], 0) + 1
    return [path[-1] if counts[path[-1]] == 1 else SEPARATOR.join(path) for path in paths]


def feature_layer_names(model):
    """Every name ``resolve_layer`` accepts for ``model``, in graph order."""
    return _display_names([path for path, _ in _layers_in_order(model)])


def resolve_layer(model, name):
    """The layer path (a tuple of names) that ``name`` designates.

    Raises ``ValueError`` listing the available names when ``name`` is not
    a layer of ``model`` or is ambiguous.
    """
    paths = [path for path, _ in _layers_in_order(model)]
    matches = [p for p in paths if SEPARATOR.join(p) == name]
    if not matches and SEPARATOR not in str(name):
        matches = [p for p in paths if p[-1] == name]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise ValueError(
            f"feature layer {name!r} is ambiguous in victim {model.name!r}; give one of "
            f"{[SEPARATOR.join(p) for p in matches]}"
        )
    raise ValueError(
        f"victim {model.name!r} has no layer {name!r}; its layers are: "
        f"{', '.join(_display_names(paths))}"
    )


def _spatial_size(layer):
    try:
        shape = layer.output.shape
    except (AttributeError, ValueError):  # a layer called more than once
        return None
    if len(shape) != 4 or shape[1] is None or shape[2] is None:
        return None
    return (int(shape[1]), int(shape[2]))


def default_feature_layer(model):
    """A mid-level block of ``model``: the last layer at the middle one of
    its spatial scales (the feature-map sizes of its layers with weights).

    For a ResNet152 at 224 px this is the end of the 28 × 28 stage
    (``conv3_block8_out``), the layer BIA attacks; for this project's
    ``small_cnn`` on 28 px images it is ``conv_3`` (14 × 14 × 64).
    """
    ordered = _layers_in_order(model)
    names = _display_names([path for path, _ in ordered])
    sizes = [_spatial_size(layer) for _, layer in ordered]
    weighted = [i for i, (_, layer) in enumerate(ordered) if layer.weights and sizes[i]]
    if not weighted:
        raise ValueError(
            f"victim {model.name!r} has no spatial feature maps with weights; "
            f"name a feature layer, one of: {', '.join(names)}"
        )
    scales = sorted({sizes[i] for i in weighted}, key=lambda s: s[0] * s[1], reverse=True)
    middle = scales[len(scales) // 2]
    last = max(i for i in range(weighted[0], len(ordered)) if sizes[i] == middle)
    return names[last]


def feature_model(model, paths):
    """A functional model: ``model``'s input → ``[*features, output]``.

    ``paths`` are layer paths from ``resolve_layer``. The layers are
    ``model``'s own (no copies), so weights and frozen state are shared and
    one forward pass yields the features and the output together.
    """
    model = _as_functional(model)
    direct = {path[0] for path in paths if len(path) == 1}
    nested = {}
    for path in paths:
        if len(path) > 1:
            nested.setdefault(path[0], []).append(path[1:])
    children = {
        name: (feature_model(model.get_layer(name), inner), inner)
        for name, inner in nested.items()
    }
    recorded = {}

    def record(path, tensor):
        if path in recorded:
            raise ValueError(
                f"layer {SEPARATOR.join(path)!r} of victim {model.name!r} is called more "
                "than once; its feature map is ambiguous, name another layer"
            )
        recorded[path] = tensor

    def call_function(layer, *args, **kwargs):
        if layer.name in children:
            tapped, inner = children[layer.name]
            results = tapped(*args, **kwargs)
            for inner_path, tensor in zip(inner, results):
                record((layer.name,) + inner_path, tensor)
            outputs = results[len(inner):]
            return outputs[0] if len(outputs) == 1 else outputs
        output = layer(*args, **kwargs)
        if layer.name in direct:
            record((layer.name,), output)
        return output

    clone = keras.models.clone_model(
        model, clone_function=lambda layer: layer, call_function=call_function
    )
    outputs = [recorded[tuple(path)] for path in paths] + list(clone.outputs)
    return keras.Model(single_tensor(clone.inputs), outputs, name=f"{model.name}_features")
