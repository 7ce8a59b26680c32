"""Checks that victims fit each other and the perturber that attacks them."""


def check_victims_agree(victims, image_shape=None):
    """Raises ``ValueError`` unless all victims share input shape and classes."""
    first = victims[0]
    for victim in victims[1:]:
        if victim.task != first.task:
            raise ValueError(
                f"ensemble victims disagree on task: {first.name} is a {first.task}, "
                f"{victim.name} is a {victim.task}"
            )
        if victim.input_shape != first.input_shape:
            raise ValueError(
                f"ensemble victims disagree on input shape: {first.name} takes "
                f"{first.input_shape}, {victim.name} takes {victim.input_shape}"
            )
        if victim.num_classes != first.num_classes:
            raise ValueError(
                f"ensemble victims disagree on class count: {first.name} has "
                f"{first.num_classes}, {victim.name} has {victim.num_classes}"
            )
    if image_shape is not None and tuple(image_shape) != first.input_shape:
        raise ValueError(
            f"victim {first.name} takes images of shape {first.input_shape}, "
            f"but the perturber makes {tuple(image_shape)}"
        )
    names = [v.name for v in victims]
    if len(set(names)) != len(names):
        raise ValueError(f"victim names must be unique, got {names}")
