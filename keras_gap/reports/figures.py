"""Pictures of perturbations and of clean / adversarial pairs."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from keras_gap.artifacts import atomic_path  # noqa: E402


def amplify(perturbation):
    """Maps a perturbation to [0, 1] for display: 0.5 ± δ / max|δ| / 2."""
    perturbation = np.asarray(perturbation, np.float32)
    peak = float(np.max(np.abs(perturbation))) or 1.0
    return 0.5 + 0.5 * perturbation / peak


def _show(axis, image, title):
    image = np.asarray(image)
    if image.shape[-1] == 1:
        axis.imshow(image[..., 0], cmap="gray", vmin=0.0, vmax=1.0)
    else:
        axis.imshow(np.clip(image, 0.0, 1.0))
    axis.set_title(title, fontsize=8)
    axis.axis("off")


def save_perturbation_png(perturbation, path, title=None):
    """Saves ``perturbation`` (H, W, C), amplified to the full grey range."""
    perturbation = np.asarray(perturbation)
    figure, axis = plt.subplots(figsize=(3, 3.2))
    peak = float(np.max(np.abs(perturbation)))
    _show(axis, amplify(perturbation), title or f"perturbation (amplified, max |δ| = {peak:.3g})")
    _save(figure, path)


def save_samples_png(clean, adversarial, clean_names, adversarial_names, path,
                     perturbations=None):
    """Saves rows of clean / adversarial (/ amplified perturbation) images
    titled with the victim's predicted class names."""
    count = len(clean)
    columns = 2 if perturbations is None else 3
    figure, axes = plt.subplots(
        count, columns, figsize=(2.2 * columns, 2.3 * count), squeeze=False
    )
    for row in range(count):
        _show(axes[row, 0], clean[row], f"clean: {clean_names[row]}")
        _show(axes[row, 1], adversarial[row], f"adversarial: {adversarial_names[row]}")
        if perturbations is not None:
            _show(axes[row, 2], amplify(perturbations[row]), "perturbation (amplified)")
    _save(figure, path)


def label_colours(label_map, num_classes):
    """RGB picture of a label map: one fixed colour per class, black for 255."""
    label_map = np.asarray(label_map)
    palette = plt.get_cmap("tab20" if num_classes > 10 else "tab10")(
        np.arange(max(num_classes, 1)) % 20)[:, :3]
    rgb = np.zeros(label_map.shape + (3,), np.float32)
    valid = (label_map >= 0) & (label_map < num_classes)
    rgb[valid] = palette[label_map[valid]]
    return rgb


def save_segmentation_samples_png(images, adversarial, labels, clean_predictions,
                                  adversarial_predictions, path, num_classes,
                                  target_map=None):
    """Rows of image, ground truth, clean prediction, adversarial image,
    adversarial prediction (and the target map) as colour-coded label maps."""
    count = len(images)
    panels = [("image", lambda r: images[r]),
              ("ground truth", lambda r: label_colours(labels[r], num_classes)),
              ("clean prediction", lambda r: label_colours(clean_predictions[r], num_classes)),
              ("adversarial image", lambda r: adversarial[r]),
              ("adversarial prediction",
               lambda r: label_colours(adversarial_predictions[r], num_classes))]
    if target_map is not None:
        panels.append(("target map", lambda r: label_colours(target_map, num_classes)))
    height, width = np.asarray(images).shape[1:3]
    scale = 2.4 / max(height, width)
    figure, axes = plt.subplots(
        count, len(panels),
        figsize=(len(panels) * width * scale + 0.4, count * (height * scale + 0.35)),
        squeeze=False,
    )
    for row in range(count):
        for column, (title, picture) in enumerate(panels):
            _show(axes[row, column], picture(row), title)
    _save(figure, path)


def _save(figure, path):
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=100, format="png")
    plt.close(figure)
