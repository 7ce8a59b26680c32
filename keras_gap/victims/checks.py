"""Checks that victims fit each other and the perturber that attacks them."""


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
