"""Every picture the programs write, through one figure saver.

Perturbations (amplified), clean / adversarial pairs, segmentation label
maps, the transfer heat map and the benchmark's fooling-rate curves. The
non-interactive Agg backend is chosen here, once, for the whole package.
"""

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
    save_figure(figure, path)


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
    save_figure(figure, path)


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
    save_figure(figure, path)


def save_figure(figure, path):
    """Writes ``figure`` as a PNG atomically (temporary name, then rename)
    and closes it."""
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=100, format="png")
    plt.close(figure)


def save_heat_map(values, row_labels, column_labels, bold, title, path):
    """A rows × columns heat map in [0, 1] with each value written in its
    cell; cells where ``bold`` is true get a star and bold type."""
    values = np.array(values, dtype=np.float64)
    rows, columns = values.shape
    figure, axis = plt.subplots(figsize=(2.0 + 1.4 * columns, 1.2 + 0.6 * rows + 0.5))
    image = axis.imshow(values, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
    for i in range(rows):
        for j in range(columns):
            axis.text(j, i, f"{values[i, j]:.2f}" + ("*" if bold[i][j] else ""),
                      ha="center", va="center", fontsize=10,
                      color="black" if values[i, j] > 0.6 else "white",
                      fontweight="bold" if bold[i][j] else "normal")
    axis.set_xticks(range(columns), column_labels, rotation=30, ha="right")
    axis.set_yticks(range(rows), row_labels)
    axis.set_xlabel("evaluated on")
    axis.set_ylabel("trained on")
    axis.set_title(title, fontsize=9)
    figure.colorbar(image, ax=axis, fraction=0.046, pad=0.04)
    save_figure(figure, path)


def save_curves(curves, x_label, y_label, path):
    """One line per ``{label: [(x, y), ...]}`` entry, y in [0, 1]."""
    figure, axis = plt.subplots(figsize=(6, 4))
    for label, points in curves.items():
        axis.plot(*zip(*sorted(points)), marker="o", label=label)
    axis.set_xlabel(x_label)
    axis.set_ylabel(y_label)
    axis.set_ylim(0.0, 1.0)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    save_figure(figure, path)
