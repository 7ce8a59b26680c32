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
