"""Structured (channel) pruning, measured across the CV folds and used only where it pays.

Each fold trains the chosen candidate, prunes it exactly as `edgeloop train
--prune-keep` does (models/train/pruning.py) and fine-tunes it:
- image CNNs: every convolution (the stem, each block's 3x3 or pointwise
  conv) keeps the filters of largest L1 norm after folding its batch norm;
- dense and time-series families (feature MLP, 1-D CNN, dense nets on raw
  windows or pixels): `keep` of the width, neurons/filters of largest L1 norm.

Pruning "pays" when its CV accuracy stays within the design tolerance of the
unpruned model's on the same folds while the flash shrinks. The exported
recipe is then the unpruned one plus `prune_keep`, so `edgeloop train`
trains at the recipe's widths, prunes and fine-tunes: the exported model is
the fine-tuned pruned one, as measured.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgeloop.models.design import adapter
from edgeloop.models.design.search import SearchConfig, _inner_val, _release, fold_indices
from edgeloop.models.train.pruning import conv_widths, copy_kept_filters, pruned_widths

__all__ = ["KEEP_FRACTION", "conv_widths", "conv_widths_of", "prune_image_cnn", "pruned_widths", "pruning_gain"]

KEEP_FRACTION = 0.5  # channels each conv keeps


def prune_image_cnn(model: Any, params: dict[str, Any], n_classes: int,
                    keep: float = KEEP_FRACTION) -> tuple[Any, list[int]]:
    """A narrower copy of a trained `build_image_cnn` model, pruned as `edgeloop train --prune-keep` prunes it
    (models/train/pruning.py): each conv keeps its `keep` filters of largest folded L1 norm. Returns (pruned model
    with the kept weights, its per-conv widths)."""
    widths = pruned_widths(conv_widths(model), keep)
    narrow = adapter.build_model("image_cnn", dict(params, conv_channels=widths), 0, n_classes, name=model.name)
    return copy_kept_filters(model, narrow), widths


def pruning_gain(td: adapter.TaskData, chosen: dict[str, Any], cfg: SearchConfig, sizer: Any,
                 keep: float = KEEP_FRACTION) -> dict[str, Any]:
    """Prune and fine-tune the chosen candidate in each CV fold; compare with the unpruned net on the same folds.

    Image CNNs: every conv keeps `keep` of its filters; dense and time-series families: `keep` of the width (each
    hidden layer at the family's schedule for that width, as `edgeloop train --prune-keep` prunes). `params_after` is
    the recipe to export where it pays.
    """
    family, params = chosen["family"], chosen["params"]
    series = family != "image_cnn"  # pruned by width: every family but the image CNN
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
        pruned_to = f"width {narrow_params['width']}"
    else:
        shape = {"widths_before": conv_widths_of(params), "widths_after": narrow_params["conv_channels"]}
        pruned_to = f"widths {narrow_params['conv_channels']}"
    params_after = dict(params, prune_keep=keep)
    exported = (f"the exported model is trained at the recipe's width, pruned to {pruned_to} and fine-tuned "
                f"(recipe field prune_keep {keep:g}: `edgeloop train --prune-keep {keep:g}`)")
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
