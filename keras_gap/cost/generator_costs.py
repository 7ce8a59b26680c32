"""The cost of generator designs at several image sizes, next to victims'.

``design_costs`` builds each design (a registered generator at given or
default sizes) for each image shape, counts its FLOPs per image from the
model (``evaluation.cost``) and times an image-dependent perturber built on
it (generator, L∞ projection, clipping: one attack) on this machine with
``throughput.time_forward``. ``victim_costs`` does the same for victims
(Keras Applications names or ``.keras`` files) and adds what FGSM and PGD-10
cost them, so the generator-to-attack ratio at ImageNet sizes can be read
without the hardware. ``python -m train.generator_cost`` prints both.
"""

import dataclasses
import re

import numpy as np

from keras_gap.cost.flops import FORWARD_BACKWARD_FACTOR
from keras_gap.cost.flops import attack_flops
from keras_gap.baselines.gradient_attacks import PGD_STEPS
from keras_gap.cost.flops import flops_per_image
from keras_gap.cost.timing import time_forward
from keras_gap.generators import build_generator
from keras_gap.generators import generator_arguments
from keras_gap.layers import LinfProjection
from keras_gap.perturbers import ImageDependentPerturber
from keras_gap.victims import is_application
from keras_gap.victims import load_victim


@dataclasses.dataclass(frozen=True)
class Design:
    """A generator design: a ``GENERATORS`` name and optional sizes."""

    kind: str
    filters: int = None
    blocks: int = None

    @classmethod
    def parse(cls, text):
        """``"separable_resnet"``, ``"resnet:64:6"`` or ``"unet:32"``."""
        parts = str(text).split(":")
        if not 1 <= len(parts) <= 3 or not all(p.isdigit() for p in parts[1:]):
            raise ValueError(
                f"a design is NAME[:FILTERS[:BLOCKS]], e.g. resnet:64:6, got {text!r}")
        numbers = [int(p) for p in parts[1:]] + [None] * (3 - len(parts))
        design = cls(parts[0], *numbers)
        generator_arguments(design.kind, (28, 28, 1))  # rejects unknown names
        return design

    def arguments(self, image_shape):
        return generator_arguments(self.kind, image_shape, self.filters, self.blocks)

    def label(self, image_shape):
        filters, blocks = self.arguments(image_shape).values()
        return f"{self.kind} {filters}/{blocks}"


def parse_shape(text):
    """``"299"`` (RGB) or ``"28x28x1"`` → ``(height, width, channels)``."""
    match = re.fullmatch(r"(\d+)(?:x(\d+)x(\d+))?", str(text).strip())
    if not match or int(match.group(1)) < 1 or (match.group(2) and (
            int(match.group(2)) < 1 or int(match.group(3)) < 1)):
        raise ValueError(f"an image shape is N or HxWxC, e.g. 299 or 28x28x1, got {text!r}")
    height = int(match.group(1))
    if match.group(2) is None:
        return (height, height, 3)
    return (height, int(match.group(2)), int(match.group(3)))


def default_batch_size(image_shape):
    """Big batches for small images, a few images for ImageNet sizes."""
    return 256 if max(image_shape[:2]) <= 64 else 8


def _timing(model_call, image_shape, batch_size, warmup, repeats, seed):
    images = np.random.default_rng(seed).random(
        (batch_size or default_batch_size(image_shape),) + image_shape).astype(np.float32)
    return time_forward(model_call, images, warmup, repeats)["ms_per_image"]


def design_costs(designs, shapes, time=True, batch_size=None, warmup=1, repeats=3, seed=0):
    """One row per design and shape: label, parameters, FLOPs, ms/image."""
    rows = []
    for design in designs:
        for shape in shapes:
            generator = build_generator(design.kind, shape, seed=seed,
                                        **design.arguments(shape))
            row = {"design": design.label(shape), "generator": design.kind,
                   **design.arguments(shape), "image_shape": list(shape),
                   "parameters": int(generator.count_params()),
                   "flops": flops_per_image(generator), "ms_per_image": None}
            if time:
                perturber = ImageDependentPerturber(generator, LinfProjection(0.1))
                row["ms_per_image"] = _timing(
                    lambda x, p=perturber: p(x, training=False), shape, batch_size,
                    warmup, repeats, seed)
            rows.append(row)
    return rows


def victim_costs(victims, shapes, time=True, batch_size=None, warmup=1, repeats=3, seed=0):
    """One row per victim and shape: forward, FGSM and PGD-10 FLOPs, and the
    forward pass's ms/image; ``victims`` are Applications names or files."""
    rows = []
    for spec in victims:
        for shape in shapes:
            # FLOPs and times do not depend on the weights: none are downloaded.
            weights = "random" if is_application(spec) else None
            victim = load_victim(spec, weights=weights, input_shape=shape)
            if tuple(victim.input_shape) != tuple(shape):
                continue  # a .keras victim only runs at its own size
            forward = flops_per_image(victim.model)
            row = {"victim": victim.name, "image_shape": list(shape), "forward_flops": forward,
                   "fgsm_flops": attack_flops(forward, 1),
                   "pgd10_flops": attack_flops(forward, PGD_STEPS), "ms_per_image": None}
            if time:
                row["ms_per_image"] = _timing(
                    lambda x, m=victim.model: m(x, training=False), shape, batch_size,
                    warmup, repeats, seed)
            rows.append(row)
    return rows


def _shape_text(shape):
    return "×".join(str(d) for d in shape)


def format_costs(design_rows, victim_rows=()):
    """Markdown tables of ``design_costs`` and ``victim_costs`` rows."""
    lines = ["| design | image | parameters | GFLOP / image | CPU ms / image |",
             "|---|---|---:|---:|---:|"]
    for row in design_rows:
        ms = "—" if row["ms_per_image"] is None else f"{row['ms_per_image']:.3f}"
        lines.append(f"| {row['design']} | {_shape_text(row['image_shape'])} | "
                     f"{row['parameters']:,} | {row['flops'] / 1e9:.4g} | {ms} |")
    if victim_rows:
        lines += ["", f"| victim | image | forward GFLOP | FGSM GFLOP | PGD-{PGD_STEPS} GFLOP "
                  "| forward CPU ms / image |", "|---|---|---:|---:|---:|---:|"]
        for row in victim_rows:
            ms = "—" if row["ms_per_image"] is None else f"{row['ms_per_image']:.3f}"
            lines.append(
                f"| {row['victim']} | {_shape_text(row['image_shape'])} | "
                f"{row['forward_flops'] / 1e9:.4g} | {row['fgsm_flops'] / 1e9:.4g} | "
                f"{row['pgd10_flops'] / 1e9:.4g} | {ms} |")
        lines.append(f"\nAttack FLOPs count a forward and backward pass as "
                     f"{FORWARD_BACKWARD_FACTOR} forward passes per step.")
    return "\n".join(lines)
