"""Image classification recipes: the bottle fill-level CNNs and any folder-per-class image set."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from edgeloop import InputError
from edgeloop.models.data.imagesets import IMAGE_SUFFIXES, load_image_set
from edgeloop.models.quantize import ModelMeta, labels_json, representative_sample
from edgeloop.models.train.common import FitConfig, Stopwatch, fit, setup_tensorflow, split_indices
from edgeloop.models.train.families import (
    IMAGE_PRESETS, build_dense_raw, build_image_cnn, image_training_wrapper, masked_fill_loss, with_fill_head,
)
from edgeloop.models.train.finish import finish

if TYPE_CHECKING:
    from edgeloop.models.train.recipes import TrainRequest


def _splits(data: dict[str, tuple[np.ndarray, ...]], seed: int) -> tuple[tuple[np.ndarray, ...], ...]:
    """(train, val, test) tuples of arrays; a missing val or test split is carved out of train, seeded."""
    if "train" not in data:
        raise InputError("the image set has no training images (split 'train')")
    train = data["train"]
    for split, salt in (("test", 101), ("val", 202)):
        if split not in data:
            keep, take = split_indices(len(train[0]), 0.15, seed + salt)
            data[split] = tuple(a[take] for a in train)
            train = tuple(a[keep] for a in train)
    return train, data["val"], data["test"]


def data_image_size(roots: list[Path]) -> int | None:
    """The larger side of the set's images (dataset.json `size` of an imported set, else the first image)."""
    for root in map(Path, roots):
        info = root / "dataset.json"
        if info.is_file():
            size = json.loads(info.read_text(encoding="utf-8")).get("size")
            if isinstance(size, list) and len(size) == 2:
                return int(max(size))
        first = next((p for p in sorted(root.rglob("*")) if p.suffix.lower() in IMAGE_SUFFIXES), None)
        if first is not None:
            img = cv2.imread(str(first), cv2.IMREAD_UNCHANGED)
            if img is not None:
                return int(max(img.shape[:2]))
    return None


def default_image_size(roots: list[Path], preset_size: int, notes: list[str]) -> int:
    """The input side: the data's own size when it is smaller than the preset's (8×8 stays 8×8, never a silent
    upscale), else the preset's; at least 8 and a multiple of 4 (the stem and one pool halve it)."""
    found = data_image_size(roots)
    if found is None or found >= preset_size:
        notes.append(f"input {preset_size}×{preset_size} (the preset's; the images are "
                     f"{'larger' if found else 'of unknown size'})")
        return preset_size
    size = max(8, found - found % 4)
    notes.append(f"input {size}×{size}: the images' own size ({found} px), not upscaled to the preset's "
                 f"{preset_size}")
    return size


def fitting_depth(size: int, preset_depth: int, notes: list[str]) -> int:
    """The deepest stage count ≤ the preset's whose last 3×3 conv still sees a map of at least 2×2 (no kernel that
    sees only padding) and that divides the input evenly."""
    depth = preset_depth
    while depth > 1 and (size % 2 ** (depth + 1) or size // 2 ** (depth + 1) < 2):
        depth -= 1
    if depth != preset_depth:
        notes.append(f"depth {depth} (not {preset_depth}): a {size}×{size} input has room for {depth} pooling "
                     "stage(s) before the maps get smaller than a 3×3 kernel")
    return depth


def train_images(req: "TrainRequest") -> dict[str, Any]:
    """Train the image CNN preset `req.arch` (sizes overridable) on `req.data`, export and report."""
    preset = IMAGE_PRESETS[req.arch]
    notes: list[str] = []
    size = req.input_size or default_image_size(req.data, preset.input_size, notes)
    color = req.color or preset.color
    width = req.width or preset.width
    depth = req.depth or fitting_depth(size, preset.depth, notes)
    clock = Stopwatch()
    setup_tensorflow(req.seed)
    # uint8 pixels: a quarter of the memory; "fill" (bottle sets) feeds the auxiliary regression head
    data, labels = load_image_set(req.data, size, color, seed=req.seed, raw=True, values="fill")
    labels = labels_json(labels)
    if len(labels) < 2:
        raise InputError(f"need at least two classes to train a classifier, found {labels}")
    (x, y, fill), (x_val, y_val, fill_val), (x_test, y_test, _) = _splits(data, req.seed)
    counts = np.bincount(y, minlength=len(labels))
    if (counts == 0).any():
        missing = [labels[i] for i in np.flatnonzero(counts == 0)]
        raise InputError(f"no training images for class(es) {missing}; record or generate some first")
    max_channels = req.max_channels or preset.max_channels * width // preset.width
    epochs = req.epochs or preset.epochs
    family = "dense" if req.family == "dense" else "image-cnn"
    if req.family not in ("default", "image-cnn", "dense"):
        raise InputError(f"--family {req.family} does not train on images; use image-cnn (default) or dense")
    if family == "dense":
        model = build_dense_raw((size, size, 1 if color == "gray" else 3), len(labels), width=req.width or 32,
                                depth=req.depth or 1, name=req.name)
    else:
        model = build_image_cnn(size, 1 if color == "gray" else 3, len(labels), width=width, depth=depth,
                                max_channels=max_channels, name=req.name)
    use_fill = bool(np.isfinite(fill).any())
    cfg = FitConfig(epochs=epochs, batch_size=64, learning_rate=4e-3, patience=8,
                    progress=req.progress,
                    # Keras weighs classes of single-output models only; bottle sets are balanced anyway
                    class_weight=None if use_fill else
                    {i: float(len(y) / (len(labels) * c)) for i, c in enumerate(counts)})
    if use_fill:
        def target(cls: np.ndarray, level: np.ndarray) -> dict[str, np.ndarray]:
            return {"probabilities": cls, "fill": np.where(np.isfinite(level), level, -1.0)[:, None]}

        hist = fit(image_training_wrapper(with_fill_head(model)), x, target(y, fill), x_val, target(y_val, fill_val),
                   cfg, desc=req.name, loss={"probabilities": "sparse_categorical_crossentropy",
                                             "fill": masked_fill_loss},
                   metrics={"probabilities": ["accuracy"]})
    else:
        hist = fit(image_training_wrapper(model), x, y, x_val, y_val, cfg, desc=req.name)
    # Black and white frames pin the calibrated input range to exactly [0, 1]: q = pixel - 128.
    rep = representative_sample(x, 300, req.seed).astype(np.float32) / 255.0
    rep = np.concatenate([np.zeros_like(rep[:1]), np.ones_like(rep[:1]), rep])
    meta = ModelMeta(labels=tuple(labels), input_kind="image",
                     preprocess={"image": {"size": size, "color": color, "scale": "pixel / 255"}},
                     decision=req.decision)
    task = "bottle fill level" if req.task == "bottles" else "image classification"
    return finish(model, name=req.name, task=task, out_dir=req.out, meta=meta, representative=rep,
                  x_test=x_test.astype(np.float32) / 255.0, y_test=y_test, seed=req.seed, recipe=[req.command()],
                  history=hist,
                  evaluated_on=f"{len(x_test)} held-out test images",
                  description=f"{preset.description if req.arch in IMAGE_PRESETS else ''} "
                              f"(input {size}×{size} {color}, width {width}, depth {depth}).",
                  info={"train_seconds": clock.seconds(), "train_samples": int(len(x)), "fill_head": use_fill,
                        "val_samples": int(len(x_val)), "arch": req.arch,
                        "input": {"size": size, "color": color, "width": width, "depth": depth}, "notes": notes,
                        "family": family},
                  resolved=replace(req.recipe(), family=family, input_size=size, color=color, width=width,
                                   depth=depth, max_channels=max_channels, epochs=epochs))
