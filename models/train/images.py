"""Image classification recipes: the bottle fill-level CNNs and any folder-per-class image set."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from edgeloop.models.data.imagesets import load_image_set
from edgeloop.models.quantize import ModelMeta, labels_json, representative_sample
from edgeloop.models.train.common import FitConfig, Stopwatch, fit, setup_tensorflow, split_indices
from edgeloop.models.train.families import IMAGE_PRESETS, build_image_cnn, image_training_wrapper
from edgeloop.models.train.finish import finish

if TYPE_CHECKING:
    from edgeloop.models.train.recipes import TrainRequest


def _splits(data: dict[str, tuple[np.ndarray, np.ndarray]], seed: int) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """(train, val, test) arrays; a missing val or test split is carved out of train, seeded."""
    if "train" not in data:
        raise ValueError("the image set has no training images (split 'train')")
    x, y = data["train"]
    if "test" not in data:
        tr, te = split_indices(len(x), 0.15, seed + 101)
        data["test"] = (x[te], y[te])
        x, y = x[tr], y[tr]
    if "val" not in data:
        tr, va = split_indices(len(x), 0.15, seed + 202)
        data["val"] = (x[va], y[va])
        x, y = x[tr], y[tr]
    return (x, y), data["val"], data["test"]


def train_images(req: "TrainRequest") -> dict[str, Any]:
    """Train the image CNN preset `req.arch` (sizes overridable) on `req.data`, export and report."""
    preset = IMAGE_PRESETS[req.arch]
    size = req.input_size or preset.input_size
    color = req.color or preset.color
    width = req.width or preset.width
    depth = req.depth or preset.depth
    clock = Stopwatch()
    setup_tensorflow(req.seed)
    data, labels = load_image_set(req.data, size, color, seed=req.seed, raw=True)  # uint8: a quarter of the memory
    labels = labels_json(labels)
    if len(labels) < 2:
        raise ValueError(f"need at least two classes to train a classifier, found {labels}")
    (x, y), (x_val, y_val), (x_test, y_test) = _splits(data, req.seed)
    counts = np.bincount(y, minlength=len(labels))
    if (counts == 0).any():
        missing = [labels[i] for i in np.flatnonzero(counts == 0)]
        raise ValueError(f"no training images for class(es) {missing}; record or generate some first")
    model = build_image_cnn(size, 1 if color == "gray" else 3, len(labels), width=width, depth=depth,
                            name=req.name)
    cfg = FitConfig(epochs=req.epochs or preset.epochs, batch_size=64, learning_rate=4e-3, patience=8,
                    progress=req.progress,
                    class_weight={i: float(len(y) / (len(labels) * c)) for i, c in enumerate(counts)})
    hist = fit(image_training_wrapper(model), x, y, x_val, y_val, cfg, desc=req.name)
    # Black and white frames pin the calibrated input range to exactly [0, 1]: q = pixel - 128.
    rep = representative_sample(x, 300, req.seed).astype(np.float32) / 255.0
    rep = np.concatenate([np.zeros_like(rep[:1]), np.ones_like(rep[:1]), rep])
    meta = ModelMeta(labels=tuple(labels), input_kind="image",
                     preprocess={"image": {"size": size, "color": color, "scale": "pixel / 255"}})
    task = "bottle fill level" if req.task == "bottles" else "image classification"
    return finish(model, name=req.name, task=task, out_dir=req.out, meta=meta, representative=rep,
                  x_test=x_test.astype(np.float32) / 255.0, y_test=y_test, seed=req.seed, recipe=[req.command()],
                  history=hist,
                  evaluated_on=f"{len(x_test)} held-out test images",
                  description=f"{preset.description if req.arch in IMAGE_PRESETS else ''} "
                              f"(input {size}×{size} {color}, width {width}, depth {depth}).",
                  info={"train_seconds": clock.seconds(), "train_samples": int(len(x)),
                        "val_samples": int(len(x_val)), "arch": req.arch,
                        "input": {"size": size, "color": color, "width": width, "depth": depth}})
