"""Structured (channel) pruning, measured across the CV folds and used only where it pays.

Image CNNs: each fold trains the chosen candidate, removes the filters of
lowest L1 norm from every convolution (the stem, and each block's 3x3 or
pointwise conv), rebuilds the narrower net with the kept weights and
fine-tunes it. The filter norm is taken after folding the batch norm that
follows the conv (|gamma| / sqrt(var + eps) times the kernel's L1 norm): that
is the filter's size in the deployed int8 graph, where batch norm no longer
exists. A depthwise conv keeps the channels its input keeps; the head keeps
the rows of the kept channels (at every position for a Flatten head).

Time-series families (feature MLP, 1-D CNN, dense on raw windows): each fold
prunes the trained net to `keep` of its width, neurons/filters of largest L1
norm, and fine-tunes it, exactly as `edgeloop train --prune-keep` does
(models/train/pruning.py).

Pruning "pays" when its CV accuracy stays within the design tolerance of the
unpruned model's on the same folds while the flash shrinks. What is exported
then differs by family, because a recipe must reproduce it:
- time series: the recipe plus `prune_keep`, so `edgeloop train` trains at
  the width, prunes and fine-tunes: the exported model is the fine-tuned
  pruned one, as measured;
- image CNNs: the recipe at the pruned widths (`conv_channels`, `edgeloop
  train --conv-channels`), trained from scratch. Their training (fill-level
  head, augmentation wrapper, distillation, batch norm) has no pruning step
  yet; until it has, the from-scratch retrain is what a recipe can
  reproduce.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from edgeloop import require
from edgeloop.models.design import adapter
from edgeloop.models.design.search import SearchConfig, _inner_val, _release, fold_indices

KEEP_FRACTION = 0.5  # channels each conv keeps


def pruned_widths(widths: list[int], keep: float) -> list[int]:
    """Channels each conv keeps: `keep` of them, rounded up, at least one."""
    return [max(1, math.ceil(w * keep)) for w in widths]


def conv_widths(model: Any) -> list[int]:
    """Output channels of the stem and of each block's (3x3 or pointwise) conv, in order."""
    keras = require("keras")

    return [layer.filters for layer in model.layers if isinstance(layer, keras.layers.Conv2D)
            and not isinstance(layer, keras.layers.DepthwiseConv2D)]


def _filter_norms(conv: Any, bn: Any) -> np.ndarray:
    """L1 norm of each output filter after folding the batch norm that follows it."""
    kernel = np.asarray(conv.get_weights()[0])
    gamma, _, _, var = (np.asarray(w) for w in bn.get_weights())
    scale = np.abs(gamma) / np.sqrt(var + bn.epsilon)
    return np.abs(kernel).sum(axis=tuple(range(kernel.ndim - 1))) * scale


def prune_image_cnn(model: Any, params: dict[str, Any], n_classes: int,
                    keep: float = KEEP_FRACTION) -> tuple[Any, list[int]]:
    """A narrower copy of a trained `build_image_cnn` model: each conv keeps its `keep` filters of largest folded
    L1 norm. Returns (pruned model with the kept weights, its per-conv widths)."""
    keras = require("keras")

    widths = pruned_widths(conv_widths(model), keep)
    pruned = adapter.build_model("image_cnn", dict(params, conv_channels=widths), 0, n_classes, name=model.name)
    old_layers = [layer for layer in model.layers if layer.weights]
    new_layers = [layer for layer in pruned.layers if layer.weights]
    assert [type(a) for a in old_layers] == [type(b) for b in new_layers], "the pruned net has another topology"
    kept = np.arange(model.inputs[0].shape[-1])  # channels of the tensor flowing into the current layer
    flatten_head = isinstance(model.get_layer("features"), keras.layers.Flatten)
    for i, (old, new) in enumerate(zip(old_layers, new_layers)):
        w = [np.asarray(a) for a in old.get_weights()]
        if isinstance(old, keras.layers.DepthwiseConv2D):
            new.set_weights([w[0][:, :, kept, :]])
        elif isinstance(old, keras.layers.Conv2D):
            n_keep = new.filters
            out = np.sort(np.argsort(-_filter_norms(old, old_layers[i + 1]), kind="stable")[:n_keep])
            new.set_weights([w[0][:, :, kept, :][..., out]])
            kept = out
        elif isinstance(old, keras.layers.BatchNormalization):
            new.set_weights([a[kept] for a in w])
        elif isinstance(old, keras.layers.Dense):
            kernel, bias = w
            if flatten_head:  # rows are (row, column, channel), channel fastest
                channels = old.input.shape[-1] // (model.get_layer("features").input.shape[1] *
                                                   model.get_layer("features").input.shape[2])
                kernel = kernel.reshape(-1, channels, kernel.shape[-1])[:, kept, :].reshape(-1, kernel.shape[-1])
            else:
                kernel = kernel[kept]
            new.set_weights([kernel, bias])
        else:
            raise ValueError(f"channel pruning does not know layer {old.name} ({type(old).__name__})")
    return pruned, widths


def pruning_gain(td: adapter.TaskData, chosen: dict[str, Any], cfg: SearchConfig, sizer: Any,
                 keep: float = KEEP_FRACTION) -> dict[str, Any]:
    """Prune and fine-tune the chosen candidate in each CV fold; compare with the unpruned net on the same folds.

    Image CNNs: every conv keeps `keep` of its filters; time-series families: `keep` of the width (each hidden
    layer at the family's schedule for that width, as `edgeloop train --prune-keep` prunes). `params_after` is
    the recipe to export where it pays.
    """
    family, params = chosen["family"], chosen["params"]
    series = family != "image_cnn"
    if series and adapter.pruned_width(int(params["width"]), keep) >= int(params["width"]):
        return {"applied": False, "pays": False,
                "why": f"skipped: width {params['width']} is already the smallest a {family} prunes to"}
    dev, _ = td.arrays(params, family)
    plain, pruned = [], []
    narrow_params: dict[str, Any] = {}
    for k, (tr, held) in enumerate(fold_indices(dev, cfg.folds, cfg.seed)):
        fit_idx, val_idx = _inner_val(dev, tr, cfg.seed + k)
        fit_rows, val_rows = dev.take(fit_idx), dev.take(val_idx)
        scored = held[dev.evaluate[held]]
        full = adapter.fit(td, family, params, fit_rows, val_rows, cfg.seed + k, cfg.epochs)
        plain.append(float(np.mean(full.predict(td.kind, dev.x[scored]).argmax(-1) == dev.y[scored])))
        if series:
            narrow, width = adapter.prune_series(full.model, family, params,
                                                 adapter.model_input_shape(td, family, params), td.n_classes, keep)
            narrow_params = dict(params, width=width)
        else:
            narrow, widths = prune_image_cnn(full.model, params, td.n_classes, keep)
            narrow_params = dict(params, conv_channels=widths)
        tuned = adapter.fit(td, family, narrow_params, fit_rows, val_rows, cfg.seed + k, max(1, cfg.epochs // 2),
                            initial=narrow)
        pruned.append(float(np.mean(tuned.predict(td.kind, dev.x[scored]).argmax(-1) == dev.y[scored])))
        _release()
    before = sizer.check(family, params)
    after = sizer.check(family, narrow_params)
    loss = 100 * float(np.mean(plain) - np.mean(pruned))
    pays = loss <= cfg.tolerance and after.flash_bytes < before.flash_bytes
    if series:
        shape = {"width_before": int(params["width"]), "width_after": narrow_params["width"]}
        params_after = dict(params, prune_keep=keep)
        exported = (f"the exported model is trained at width {params['width']}, pruned to {narrow_params['width']} "
                    f"and fine-tuned (recipe field prune_keep {keep:g}: `edgeloop train --prune-keep {keep:g}`)")
        pruned_to = f"width {narrow_params['width']}"
    else:
        shape = {"widths_before": conv_widths_of(params), "widths_after": narrow_params["conv_channels"]}
        params_after = narrow_params
        exported = "the exported model is the recipe at the pruned widths, trained from scratch"
        pruned_to = str(narrow_params["conv_channels"])
    return {"keep_fraction": keep, **shape, "params_after": params_after,
            "flash_bytes_before": before.flash_bytes, "flash_bytes_after": after.flash_bytes,
            "cv_accuracy_before": float(np.mean(plain)), "cv_accuracy_after": float(np.mean(pruned)),
            "loss_points": loss, "folds": len(plain), "pays": bool(pays), "applied": bool(pays),
            "why": (f"pays: {before.flash_bytes:,} -> {after.flash_bytes:,} B flash for {loss:.1f} points of CV "
                    f"accuracy (tolerance {cfg.tolerance:g}); {exported}"
                    if pays else f"does not pay: pruned to {pruned_to} it loses {loss:.1f} points of CV accuracy "
                    f"(tolerance {cfg.tolerance:g}) for {before.flash_bytes - after.flash_bytes:,} B of flash; the "
                    "unpruned recipe is exported")}


def conv_widths_of(params: dict[str, Any]) -> list[int]:
    """Per-conv widths of an image CNN candidate (its explicit `conv_channels`, else width doubling to the cap)."""
    return list(params.get("conv_channels") or adapter.image_cnn_channels(int(params["width"]), int(params["depth"]),
                                                                   int(params["max_channels"])))
