"""Image classification recipes: the bottle fill-level CNNs and any folder-per-class image set."""

from __future__ import annotations

import json
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgeloop import InputError, require
from edgeloop.models.data.imagesets import IMAGE_SUFFIXES, load_image_set
from edgeloop.models.decision import DecisionRule
from edgeloop.models.quantize import ModelMeta, labels_json, representative_sample
from edgeloop.models.train.baselines import baseline_rows
from edgeloop.models.train.common import FitConfig, Stopwatch, fit, setup_tensorflow, split_indices
from edgeloop.models.train.families import (
    IMAGE_PRESETS, build_dense_raw, build_image_cnn, image_cnn_max_depth, image_training_wrapper, masked_fill_loss,
    with_fill_head,
)
from edgeloop.models.train.finish import finish
from edgeloop.models.train.pixel_centring import centred_training
from edgeloop.models.train.pruning import (
    conv_widths, copy_kept_filters, copy_kept_weights, pruned_width, pruned_widths,
)
from edgeloop.models.train.scoring import stream_scores
from edgeloop.models.train.selection import DENSE_MAX_INPUTS, refit_epochs, select_family

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


BASELINE_SIDE = 32
IMAGE_AUTO_FAMILIES = ("image-cnn", "dense")  # the cheap image families `--family auto` tries


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
            cv2 = require("cv2", needed_for="image training")
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


def fitting_depth(size: int, preset_depth: int, notes: list[str], stem_stride: int = 2) -> int:
    """The deepest block count ≤ the preset's whose last 3×3 conv still sees a map of at least 2×2 (no kernel that
    sees only padding) and that divides the input evenly (families.image_cnn_max_depth)."""
    depth = max(1, min(preset_depth, image_cnn_max_depth(size, stem_stride)))
    if depth != preset_depth:
        notes.append(f"depth {depth} (not {preset_depth}): a {size}×{size} input has room for {depth} pooling "
                     "stage(s) before the maps get smaller than a 3×3 kernel")
    return depth


def calibration_images(x: np.ndarray, seed: int) -> np.ndarray:
    """The int8 calibration set of an image model from uint8 images: 300 of them scaled to [0, 1], plus a black
    and a white frame that pin the calibrated input range to exactly [0, 1] (q = pixel - 128)."""
    rep = representative_sample(x, 300, seed).astype(np.float32) / 255.0
    return np.concatenate([np.zeros_like(rep[:1]), np.ones_like(rep[:1]), rep])


def _teacher_probabilities(req: "TrainRequest", size: int, color: str, n_classes: int,
                           student: tuple[np.ndarray, np.ndarray], keep: np.ndarray | None) -> dict[str, np.ndarray]:
    """{"train", "val"}: the --teacher's probabilities of the training and validation images, each read at the
    teacher's own side and colour (a 96-px teacher of a 64-px student sees the 96-px images it was trained on:
    upscaled 64-px images cost it about 2 points on the bottle set). `keep`: the training rows the student
    trains on (--train-margin), None for all."""
    from edgeloop.models.train.distill import load_teacher, teacher_probabilities, teacher_side

    teacher = load_teacher(Path(req.teacher), None, n_classes)
    side, t_color = teacher_side(teacher), "gray" if teacher.inputs[0].shape[-1] == 1 else "rgb"
    if (side, t_color) == (size, color):
        x, x_val = student
    else:  # the same rows (same seed, same split) loaded the teacher's way
        data, _ = load_image_set(req.data, side, t_color, seed=req.seed, raw=True)
        (x, _), (x_val, _), _ = _splits(data, req.seed)
        x = x if keep is None else x[keep]
    return {"train": teacher_probabilities(teacher, x), "val": teacher_probabilities(teacher, x_val)}


def train_images(req: "TrainRequest") -> dict[str, Any]:
    """Train the image CNN preset `req.arch` (sizes overridable), the dense net on pixels, or with `auto` both
    (selection.select_family keeps the best on val), on `req.data`; `--refit` retrains the kept one on train + val;
    export and report."""
    preset = IMAGE_PRESETS[req.arch]
    notes: list[str] = []
    size = req.input_size or default_image_size(req.data, preset.input_size, notes)
    color = req.color or preset.color
    arch = {"stem_stride": req.stem_stride or 2, "pool": req.pool or "max", "head": req.head or "flatten",
            "block": req.block or "plain"}
    conv_channels = req.conv_channels
    width = conv_channels[0] if conv_channels else req.width or preset.width
    depth = len(conv_channels) - 1 if conv_channels else \
        req.depth or fitting_depth(size, preset.depth, notes, arch["stem_stride"])
    if req.family not in ("default", "image-cnn", "dense", "auto"):
        raise InputError(f"--family {req.family} does not train on images; use image-cnn (default), dense or auto")
    if req.prune_keep is not None:
        pruned_width(width, req.prune_keep)  # a keep fraction outside (0, 1): one line before loading the images
    clock = Stopwatch()
    setup_tensorflow(req.seed)
    # uint8 pixels: a quarter of the memory; "fill" (bottle sets) feeds the auxiliary regression head
    data, labels = load_image_set(req.data, size, color, seed=req.seed, raw=True, values="fill")
    labels = labels_json(labels)
    if len(labels) < 2:
        raise InputError(f"need at least two classes to train a classifier, found {labels}")
    (x, y, fill), (x_val, y_val, fill_val), (x_test, y_test, _) = _splits(data, req.seed)
    keep = None
    if req.train_margin:
        from edgeloop.models.train.label_margin import class_boundaries, clean_rows

        keep = clean_rows(fill, class_boundaries(req.data), req.train_margin)
        notes.append(f"--train-margin {req.train_margin:g}: {int((~keep).sum())} of {len(y)} training images within "
                     "it of a class boundary left out of training (validation and test keep every image)")
        x, y, fill = x[keep], y[keep], fill[keep]
    counts = np.bincount(y, minlength=len(labels))
    if (counts == 0).any():
        missing = [labels[i] for i in np.flatnonzero(counts == 0)]
        raise InputError(f"no training images for class(es) {missing}; record or generate some first")
    max_channels = req.max_channels or preset.max_channels * width // preset.width
    epochs = req.epochs or preset.epochs
    n_color = 1 if color == "gray" else 3
    candidates = list(IMAGE_AUTO_FAMILIES) if req.family == "auto" else \
        ["dense" if req.family == "dense" else "image-cnn"]
    if req.family == "auto" and size * size * n_color > DENSE_MAX_INPUTS:
        candidates.remove("dense")
        notes.append(f"auto: dense not tried, {size}×{size}×{n_color} pixels are more than {DENSE_MAX_INPUTS} inputs")
    use_fill = bool(np.isfinite(fill).any())
    cfg = FitConfig(epochs=epochs, batch_size=64, learning_rate=4e-3, patience=8,
                    progress=req.progress,
                    # Keras weighs classes of single-output models only; bottle sets are balanced anyway
                    class_weight=None if use_fill else
                    {i: float(len(y) / (len(labels) * c)) for i, c in enumerate(counts)})

    sizes = {"image-cnn": (width, depth), "dense": (req.width or 32, req.depth or 1)}  # (width, depth)

    def build(family: str, widths: list[int] | None = conv_channels, dense_width: int | None = None) -> Any:
        if family == "dense":  # `dense_width`: a pruned net's
            return build_dense_raw((size, size, n_color), len(labels), width=dense_width or sizes["dense"][0],
                                   depth=sizes["dense"][1], name=req.name)
        return build_image_cnn(size, n_color, len(labels), width=widths[0] if widths else width, depth=depth,
                               max_channels=max(widths) if widths else max_channels, name=req.name, widths=widths,
                               **arch)

    soft: dict[str, np.ndarray] = {}  # the teacher's probabilities of the train and val images (distillation)
    if req.teacher:
        soft = _teacher_probabilities(req, size, color, len(labels), (x, x_val), keep)
        notes.append(f"distilled from the teacher {req.teacher} (half label cross-entropy, half its softened "
                     "probabilities, read at the teacher's own input side and colour)")

    def fit_one(family: str, xs: np.ndarray = x, ys: np.ndarray = y, fills: np.ndarray = fill,
                run: FitConfig = cfg,
                softs: np.ndarray | None = soft.get("train"),
                initial: Any = None) -> tuple[Any, dict[str, list[float]]]:
        model = initial if initial is not None else build(family)  # `initial`: fine-tune it (a pruned net)
        probs_loss: Any = "sparse_categorical_crossentropy"
        ys_t, yv_t = ys, y_val
        if softs is not None:
            from edgeloop.models.train.distill import distillation_loss, distillation_targets

            probs_loss, run = distillation_loss(), replace(run, class_weight=None)
            ys_t, yv_t = distillation_targets(ys, softs, len(labels)), distillation_targets(y_val, None, len(labels))
        if use_fill and family == "image-cnn":  # the fill head grows from the CNN's "features" layer
            def target(cls: np.ndarray, level: np.ndarray) -> dict[str, np.ndarray]:
                return {"probabilities": cls, "fill": np.where(np.isfinite(level), level, -1.0)[:, None]}

            return model, fit(image_training_wrapper(with_fill_head(model)), xs, target(ys_t, fills), x_val,
                              target(yv_t, fill_val), run, desc=f"{req.name} {family}",
                              loss={"probabilities": probs_loss, "fill": masked_fill_loss},
                              metrics={"probabilities": [] if softs is not None else ["accuracy"]})
        # a dense net trains on centred pixels, folded back into it when training ends (pixel_centring)
        with centred_training(model, xs, folded=initial is not None) if family == "dense" else \
                nullcontext(image_training_wrapper(model)) as trainable:
            return model, fit(trainable, xs, ys_t, x_val, yv_t, run, desc=f"{req.name} {family}",
                              loss=probs_loss, metrics=() if softs is not None else ("accuracy",))

    best, tried = select_family(candidates, fit_one, lambda _, m: m.predict(x_val.astype(np.float32) / 255.0,
                                                                           verbose=0, batch_size=256), y_val, notes)
    model, family, hist = best.model, best.family, best.history
    width, depth = sizes[family]
    trained_on = int(len(x))
    if req.refit:
        best_epochs = refit_epochs(hist)
        model, _ = fit_one(family, np.concatenate([x, x_val]), np.concatenate([y, y_val]),
                           np.concatenate([fill, fill_val]),
                           replace(cfg, epochs=best_epochs, patience=best_epochs),
                           np.concatenate([soft["train"], soft["val"]]) if soft else None)
        trained_on += int(len(x_val))
        notes.append(f"--refit: the final {family} model retrained on train + val ({trained_on} images) for "
                     f"{best_epochs} epochs")
    trained_widths = conv_widths(model) if family == "image-cnn" else None
    pruned = ""
    if req.prune_keep is not None:
        if family == "dense":  # every hidden layer keeps its neurons of largest L1 norm (as time series do)
            narrow_width = pruned_width(width, req.prune_keep)
            narrow = copy_kept_weights(model, build(family, dense_width=narrow_width))
            kept_what = f"width {narrow_width}"
            how = (f"trained at width {width}, kept the neurons of largest L1 norm of incoming weights in every "
                   f"hidden layer (width {narrow_width})")
        else:
            narrow_widths = pruned_widths(trained_widths, req.prune_keep)
            narrow = copy_kept_filters(model, build(family, narrow_widths))
            kept_what = f"conv widths {narrow_widths}"
            how = (f"trained at conv widths {trained_widths}, kept each conv's filters of largest folded-batch-norm "
                   f"L1 norm (widths {narrow_widths})")
        # a quarter of the learning rate for half the training's epochs (--refit: half its fixed epochs on
        # train + val), as time-series pruning fine-tunes
        tune = replace(cfg, learning_rate=cfg.learning_rate / 4, epochs=max(1, epochs // 2))
        if req.refit:
            half = max(1, refit_epochs(hist) // 2)
            model, _ = fit_one(family, np.concatenate([x, x_val]), np.concatenate([y, y_val]),
                               np.concatenate([fill, fill_val]), replace(tune, epochs=half, patience=half),
                               np.concatenate([soft["train"], soft["val"]]) if soft else None, initial=narrow)
        else:
            model, _ = fit_one(family, run=tune, initial=narrow)
        pruned = f", pruned to {kept_what} and fine-tuned"
        notes.append(f"--prune-keep {req.prune_keep:g}: {how} and fine-tuned them at a quarter of the learning rate")
    rep = calibration_images(x, req.seed)
    meta = ModelMeta(labels=tuple(labels), input_kind="image",
                     preprocess={"image": {"size": size, "color": color, "scale": "pixel / 255"}},
                     decision=req.decision)
    task = "bottle fill level" if req.task == "bottles" else "image classification"
    # Baselines on the same split and the same pixels, area-downscaled to at most 32×32 (1,024 values per gray
    # image): a logistic regression on 9,216 pixels of thousands of images would not fit in memory or time.
    side = min(size, BASELINE_SIDE)

    def pixels(imgs: np.ndarray) -> np.ndarray:
        cv2 = require("cv2", needed_for="image training")
        small = [cv2.resize(im, (side, side), interpolation=cv2.INTER_AREA) if side != size else im for im in imgs]
        return np.asarray(small, np.float32).reshape(len(imgs), -1) / 255.0

    baselines = baseline_rows(pixels(x), y, pixels(x_test), y_test, len(labels), req.seed,
                              lambda p: stream_scores(p, y_test, None, DecisionRule()))
    for b in baselines:
        b["description"] += f" (pixels at {side}×{side})"
    return finish(model, name=req.name, task=task, out_dir=req.out, meta=meta, representative=rep,
                  baselines=baselines,
                  x_test=x_test.astype(np.float32) / 255.0, y_test=y_test, seed=req.seed, recipe=[req.command()],
                  history=hist,
                  evaluated_on=f"{len(x_test)} held-out test images",
                  description=("Dense network on pixels" if family == "dense" else
                               preset.description) + f" (input {size}×{size} {color}, width {width}, depth {depth}"
                                                     f"{pruned}).",
                  info={"train_seconds": clock.seconds(), "train_samples": int(len(x)), "fill_head": use_fill,
                        "val_samples": int(len(x_val)), "arch": req.arch, "refit": req.refit,
                        "final_training_windows": trained_on, "families_tried": tried,
                        "input": {"size": size, "color": color, "width": width, "depth": depth,
                                  **(arch if family == "image-cnn" else {})}, "notes": notes,
                        **({"conv_widths": conv_widths(model), "trained_conv_widths": trained_widths}
                           if trained_widths else {}),
                        "family": family},
                  resolved=replace(req.recipe(), family=family, input_size=size, color=color, width=width,
                                   depth=depth, max_channels=max_channels, epochs=epochs,
                                   **(arch if family == "image-cnn" else {})))
