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


def check_data_fits_victim(data, victim):
    """Raises ``ValueError`` unless ``data``'s labels are ``victim``'s outputs.

    A classifier needs exactly its own number of classes: with fewer, a
    prediction names no class of the data set (a run would train, then fail
    drawing its samples); with more, labels point past the victim's outputs.
    A segmenter needs label maps of at most its number of classes.
    """
    classes = len(data.class_names)
    if victim.task == "segmenter":
        if not data.has_label_maps:
            raise ValueError(
                f"{victim.name} is a segmenter but {data.name} has no label maps; use a "
                "segmentation data set (fashion_scenes, tfds:cityscapes)"
            )
        if classes > victim.num_classes:
            raise ValueError(
                f"{data.name} has {classes} classes but segmenter {victim.name} "
                f"predicts only {victim.num_classes}"
            )
        return
    if data.has_label_maps:
        raise ValueError(
            f"{data.name} holds label maps (segmentation) but {victim.name} is a classifier"
        )
    if classes != victim.num_classes:
        hint = ""
        if victim.num_classes == 1000:
            hint = ("; an ImageNet folder whose class folders are WordNet ids "
                    "(n01440764, ...) gets ImageNet's 1,000 class ids whatever classes it holds")
        raise ValueError(
            f"{data.name} has {classes} classes but victim {victim.name} predicts "
            f"{victim.num_classes}: its labels would not be the victim's classes{hint}"
        )
