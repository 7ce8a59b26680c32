"""Held-out evaluation of a perturber against segmentation victims.

Metrics (as the original GAP segmentation code, ignore label 255 excluded):

* ``success_rate`` (targeted): pixel accuracy of the adversarial prediction
  against the target map (``clean_success_rate``: of the clean prediction);
* ``clean_miou`` / ``adversarial_miou``: mean IoU against the ground truth
  over the classes present (IoU undefined, i.e. never predicted nor in the
  ground truth, is left out, as ``np.nanmean`` does);
* ``clean_pixel_accuracy`` / ``adversarial_pixel_accuracy``: against the
  ground truth;
* ``fooling_rate``: share of pixels whose prediction the attack changed;
* ``random_noise_success_rate`` (targeted) / ``random_noise_miou``
  (untargeted): the same budget spent on a random ±ε sign pattern, the floor
  every attack must beat;
* ``linf`` / ``l2``: largest norms of the applied perturbations.
"""

import os

import numpy as np

from keras_gap.evaluation.classification import perturbed_batches
from keras_gap.evaluation.classification import predictions
from keras_gap.objectives.segmentation import IGNORE_LABEL
from keras_gap.objectives.segmentation import check_label_map


def confusion_matrix(labels, predictions, num_classes):
    """``num_classes`` × ``num_classes`` counts (row: label, column: prediction)
    over pixels whose label is a class (255 and out-of-range labels skipped)."""
    labels = np.asarray(labels).reshape(-1).astype(np.int64)
    predictions = np.asarray(predictions).reshape(-1).astype(np.int64)
    valid = (labels >= 0) & (labels < num_classes)
    index = labels[valid] * num_classes + predictions[valid]
    return np.bincount(index, minlength=num_classes**2).reshape(num_classes, num_classes)


def mean_iou(confusion):
    """Mean IoU over classes whose union is not empty; nan if none is."""
    confusion = np.asarray(confusion, np.float64)
    intersection = np.diag(confusion)
    union = confusion.sum(0) + confusion.sum(1) - intersection
    present = union > 0
    if not present.any():
        return float("nan")
    return float(np.mean(intersection[present] / union[present]))


def pixel_accuracy(confusion):
    confusion = np.asarray(confusion)
    total = confusion.sum()
    return float(np.trace(confusion) / total) if total else float("nan")


def target_success(predictions, target_map):
    """(hits, counted pixels) of ``predictions`` (B, H, W) against one map."""
    target_map = np.asarray(target_map)
    valid = np.broadcast_to(target_map != IGNORE_LABEL, np.shape(predictions))
    hits = (np.asarray(predictions) == target_map) & valid
    return int(hits.sum()), int(valid.sum())


def load_target_map(spec, test_data=None):
    """A target map from ``PATH.png`` (grey or palette PNG of class ids) or
    ``scene:INDEX`` (the label map of test image INDEX)."""
    spec = str(spec)
    if spec.startswith("scene:"):
        try:
            index = int(spec[len("scene:"):])
        except ValueError:
            raise ValueError(f"--target-map scene:INDEX needs an integer, got {spec!r}") from None
        if test_data is None:
            raise ValueError("--target-map scene:INDEX needs a segmentation data set")
        if not 0 <= index < test_data.num_examples:
            raise ValueError(
                f"--target-map {spec}: {test_data.name} test has scenes "
                f"0..{test_data.num_examples - 1}"
            )
        _, label_map = next(iter(test_data.make_dataset().skip(index).take(1)))
        return np.asarray(label_map, np.int32)
    if not os.path.isfile(spec):
        raise ValueError(f"target map not found: {spec!r} (give a .png file or scene:INDEX)")
    from PIL import Image

    try:
        with Image.open(spec) as image:
            if image.mode not in ("L", "P", "I", "I;16"):
                raise ValueError(
                    f"target map {spec!r} is a {image.mode} image; it must be a "
                    "single-channel (grey or palette) PNG of class ids"
                )
            return np.asarray(image).astype(np.int32)
    except OSError as error:
        raise ValueError(f"target map {spec!r} is not a readable image: {error}") from None


def save_target_map(target_map, path):
    """Writes a label map as a grey PNG that ``load_target_map`` reads back."""
    from PIL import Image

    Image.fromarray(np.asarray(target_map).astype(np.uint8), mode="L").save(path)


def segmentation_target_map(spec, victim, test_data):
    """Loads ``spec`` and checks it against the victim's output."""
    target_map = load_target_map(spec, test_data)
    return check_label_map(target_map, victim.num_classes, victim.input_shape[:2])


def evaluate_segmentation(perturber, victims, data, batch_size=32, limit=None,
                          seed=0, target_map=None):
    """Evaluates ``perturber`` on ``data`` (image, label map) against each victim.

    Returns ``{"num_images", "linf", "l2", "victims": {name: {metrics}}}``.
    """
    num_classes = victims[0].num_classes
    zero = np.zeros((num_classes, num_classes), np.int64)
    state = {v.name: {"clean": zero.copy(), "adversarial": zero.copy(), "noise": zero.copy(),
                      "hits": 0, "clean_hits": 0, "noise_hits": 0, "counted": 0,
                      "changed": 0, "pixels": 0} for v in victims}
    norms = {}
    for images, labels, adversarial, noisy in perturbed_batches(
            perturber, data, batch_size, limit, seed, norms):
        for victim in victims:
            clean, adv, noisy_prediction = predictions(victim, images, adversarial, noisy)
            s = state[victim.name]
            s["clean"] += confusion_matrix(labels, clean, num_classes)
            s["adversarial"] += confusion_matrix(labels, adv, num_classes)
            s["noise"] += confusion_matrix(labels, noisy_prediction, num_classes)
            s["changed"] += int(np.sum(adv != clean))
            s["pixels"] += int(clean.size)
            if target_map is not None:
                hits, counted = target_success(adv, target_map)
                s["hits"] += hits
                s["counted"] += counted
                s["clean_hits"] += target_success(clean, target_map)[0]
                s["noise_hits"] += target_success(noisy_prediction, target_map)[0]
    results = {}
    for name, s in state.items():
        metrics = {
            "clean_miou": mean_iou(s["clean"]),
            "adversarial_miou": mean_iou(s["adversarial"]),
            "random_noise_miou": mean_iou(s["noise"]),
            "clean_pixel_accuracy": pixel_accuracy(s["clean"]),
            "adversarial_pixel_accuracy": pixel_accuracy(s["adversarial"]),
            "random_noise_pixel_accuracy": pixel_accuracy(s["noise"]),
            "fooling_rate": s["changed"] / s["pixels"],
        }
        if target_map is not None:
            counted = max(s["counted"], 1)
            metrics["success_rate"] = s["hits"] / counted
            metrics["clean_success_rate"] = s["clean_hits"] / counted
            metrics["random_noise_success_rate"] = s["noise_hits"] / counted
        results[name] = metrics
    return {"task": "segmentation", **norms, "victims": results}


def segmentation_summary(metrics, config, seconds):
    """The lines ``run_attack`` prints after a segmentation run."""
    targeted = "success_rate" in metrics
    lines = [
        f"{config.kind} {config.objective} attack on a segmenter, {config.norm} epsilon "
        f"{config.epsilon:.4g}, {metrics['num_images']} held-out test images, "
        f"trained in {seconds:.0f} s",
        f"max applied linf {metrics['linf']:.4f}, max applied l2 {metrics['l2']:.4f}",
    ]
    header = ["victim", "clean mIoU", "adv mIoU", "noise mIoU", "clean acc", "adv acc"]
    keys = ["clean_miou", "adversarial_miou", "random_noise_miou",
            "clean_pixel_accuracy", "adversarial_pixel_accuracy"]
    if targeted:
        header += ["success", "noise success"]
        keys += ["success_rate", "random_noise_success_rate"]
    names = list(metrics["victims"])
    first = max(len(header[0]), *(len(n) for n in names))
    lines.append("  ".join([header[0].ljust(first)] + header[1:]))
    for name in names:
        m = metrics["victims"][name]
        cells = [name.ljust(first)] + [
            f"{m[k]:.4f}".ljust(len(h)) for k, h in zip(keys, header[1:])]
        lines.append("  ".join(cells))
    return "\n".join(lines)


def save_segmentation_samples(perturber, victim, test, path, target_map=None, count=4):
    """``samples.png``: image, clean prediction, adversarial prediction (and the
    target map) as colour-coded label maps."""
    from keras_gap.reports.figures import save_segmentation_samples_png

    images, labels = next(iter(test.dataset(count)))
    adversarial = perturber(images, training=False)
    clean = np.argmax(victim.logits(images).numpy(), -1)
    adv = np.argmax(victim.logits(adversarial).numpy(), -1)
    save_segmentation_samples_png(
        np.asarray(images), np.asarray(adversarial), np.asarray(labels), clean, adv,
        path, num_classes=victim.num_classes, target_map=target_map,
    )


def resolve_target_map_spec(config):
    """Checks the ``--target-map`` flags of an ``AttackConfig`` before any
    model is loaded; makes a PNG path absolute."""
    if config.target_map is None:
        return None
    if config.target_class is not None:
        raise ValueError("give --target-class (classifiers) or --target-map (segmenters), not both")
    if config.objective != "targeted":
        raise ValueError(
            f"--target-map only applies to --objective targeted, not {config.objective!r}"
        )
    spec = str(config.target_map)
    if spec.startswith("scene:"):
        return spec
    if not os.path.isfile(spec):
        raise ValueError(f"target map not found: {spec!r} (give a .png file or scene:INDEX)")
    return os.path.abspath(spec)


def attack_objective(config, victim):
    """The objective of a run for ``victim``'s task, and the target map
    (None for classifiers and untargeted segmentation)."""
    from keras_gap.data import load_image_data
    from keras_gap.objectives import build_objective
    from keras_gap.objectives import build_segmentation_objective

    if victim.task != "segmenter":
        if config.target_map is not None:
            raise ValueError(
                f"--target-map is for segmentation victims; {victim.name} is a classifier "
                "(use --target-class)"
            )
        return build_objective(config.objective, config.target_class), None
    if config.target_class is not None:
        raise ValueError(
            f"{victim.name} is a segmenter: give --target-map PATH.png or scene:INDEX "
            "instead of --target-class"
        )
    target_map = None
    if config.target_map is not None:
        test = load_image_data(config.dataset, "test", victim.input_shape, config.tfds_data_dir)
        check_segmentation_data(victim, test)
        target_map = segmentation_target_map(config.target_map, victim, test)
    return build_segmentation_objective(config.objective, target_map), target_map


def check_segmentation_data(victim, data):
    """Raises unless ``data`` yields label maps fitting the segmenter ``victim``."""
    label_spec = data.make_dataset().element_spec[1]
    if label_spec.shape.rank != 2:
        raise ValueError(
            f"{victim.name} is a segmenter but {data.name} has no label maps; use a "
            "segmentation data set (fashion_scenes, tfds:cityscapes)"
        )
    if len(data.class_names) > victim.num_classes:
        raise ValueError(
            f"{data.name} has {len(data.class_names)} classes but segmenter "
            f"{victim.name} predicts only {victim.num_classes}"
        )
