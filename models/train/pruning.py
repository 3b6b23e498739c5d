"""Structured pruning as a recipe step: time-series families (feature MLP, 1-D CNN, dense on raw windows) and image
CNNs.

`edgeloop train --prune-keep F` trains the recipe at its width, then keeps the
fraction F of every hidden layer's neurons (Dense) or filters (the 1-D CNN's
1 x k convs) and fine-tunes the narrower net; the exported model is the
fine-tuned pruned one, and the recipe (width + prune_keep) reproduces it.

Why the narrower net is the family at a smaller width: the families size
their layers from one `width` by a monotone schedule (an MLP halves from
`width`, at least 4 units; the 1-D CNN doubles from `width`, capped at 4x),
so the net at width ceil(F * width) has no layer wider than the trained
one's. Each layer keeps that many of its units, those of largest L1 norm of
incoming weights (over the inputs the previous layer kept); the next layer
keeps the rows of the kept units (a global average over time maps channels
one to one). The output layer keeps every class.

Image CNNs (`copy_kept_filters`): every conv (the stem, each block's 3x3 or
pointwise conv) keeps ceil(F * its filters), those of largest L1 norm after
folding the batch norm that follows (|gamma| / sqrt(var + eps) times the
kernel's L1 norm: the filter's size in the deployed int8 graph, where batch
norm no longer exists). A depthwise conv keeps the channels its input keeps;
the head keeps the rows of the kept channels (at every position for a
Flatten head). The narrower net is the family with those per-conv widths
(`conv_channels`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from edgeloop import InputError, require

MIN_WIDTH = 2  # the smallest width a time-series family builds


def pruned_width(width: int, keep: float) -> int:
    """The width of the pruned net: `keep` of `width`, rounded up, at least MIN_WIDTH."""
    if not 0 < keep < 1:
        raise InputError(f"--prune-keep {keep:g}: give the fraction of units to keep, between 0 and 1 (e.g. 0.5)")
    return max(MIN_WIDTH, math.ceil(width * keep))


def copy_kept_weights(model: Any, narrow: Any) -> Any:
    """Fill `narrow` (the same family at a smaller width) with `model`'s weights of the units of largest L1
    norm in every hidden layer; returns `narrow`."""
    keras = require("keras")

    old_layers = [layer for layer in model.layers if layer.weights]
    new_layers = [layer for layer in narrow.layers if layer.weights]
    if [type(a) for a in old_layers] != [type(b) for b in new_layers]:
        raise ValueError("the narrower net has another topology")
    kept: np.ndarray | None = None  # units of the tensor flowing into the current layer (None: all)
    for i, (old, new) in enumerate(zip(old_layers, new_layers)):
        if not isinstance(old, (keras.layers.Dense, keras.layers.Conv2D)) or \
                isinstance(old, keras.layers.DepthwiseConv2D):
            raise ValueError(f"time-series pruning does not know layer {old.name} ({type(old).__name__})")
        kernel, bias = (np.asarray(w) for w in old.get_weights())
        if kept is not None:
            kernel = kernel[..., kept, :]
        if i == len(old_layers) - 1:  # the classes all stay
            new.set_weights([kernel, bias])
            break
        n_keep = new.units if isinstance(new, keras.layers.Dense) else new.filters
        norms = np.abs(kernel).reshape(-1, kernel.shape[-1]).sum(axis=0)
        out = np.sort(np.argsort(-norms, kind="stable")[:n_keep])
        new.set_weights([kernel[..., out], bias[out]])
        kept = out
    return narrow


def pruned_widths(widths: list[int], keep: float) -> list[int]:
    """Channels each image-CNN conv keeps: `keep` of them, rounded up, at least one."""
    if not 0 < keep < 1:
        raise InputError(f"--prune-keep {keep:g}: give the fraction of filters to keep, between 0 and 1 (e.g. 0.5)")
    return [max(1, math.ceil(w * keep)) for w in widths]


def conv_widths(model: Any) -> list[int]:
    """Output channels of an image CNN's stem and of each block's (3x3 or pointwise) conv, in order."""
    keras = require("keras")

    return [layer.filters for layer in model.layers if isinstance(layer, keras.layers.Conv2D)
            and not isinstance(layer, keras.layers.DepthwiseConv2D)]


def _filter_norms(conv: Any, bn: Any) -> np.ndarray:
    """L1 norm of each output filter after folding the batch norm that follows it."""
    kernel = np.asarray(conv.get_weights()[0])
    gamma, _, _, var = (np.asarray(w) for w in bn.get_weights())
    scale = np.abs(gamma) / np.sqrt(var + bn.epsilon)
    return np.abs(kernel).sum(axis=tuple(range(kernel.ndim - 1))) * scale


def copy_kept_filters(model: Any, narrow: Any) -> Any:
    """Fill `narrow` (the same image CNN at smaller per-conv widths) with `model`'s weights of the filters of
    largest folded L1 norm in every conv; returns `narrow`."""
    keras = require("keras")

    old_layers = [layer for layer in model.layers if layer.weights]
    new_layers = [layer for layer in narrow.layers if layer.weights]
    if [type(a) for a in old_layers] != [type(b) for b in new_layers]:
        raise ValueError("the pruned net has another topology")
    kept = np.arange(model.inputs[0].shape[-1])  # channels of the tensor flowing into the current layer
    features = model.get_layer("features")
    for i, (old, new) in enumerate(zip(old_layers, new_layers)):
        w = [np.asarray(a) for a in old.get_weights()]
        if isinstance(old, keras.layers.DepthwiseConv2D):
            new.set_weights([w[0][:, :, kept, :]])
        elif isinstance(old, keras.layers.Conv2D):
            out = np.sort(np.argsort(-_filter_norms(old, old_layers[i + 1]), kind="stable")[:new.filters])
            new.set_weights([w[0][:, :, kept, :][..., out]])
            kept = out
        elif isinstance(old, keras.layers.BatchNormalization):
            new.set_weights([a[kept] for a in w])
        elif isinstance(old, keras.layers.Dense):
            kernel, bias = w
            if isinstance(features, keras.layers.Flatten):  # rows are (row, column, channel), channel fastest
                channels = old.input.shape[-1] // (features.input.shape[1] * features.input.shape[2])
                kernel = kernel.reshape(-1, channels, kernel.shape[-1])[:, kept, :].reshape(-1, kernel.shape[-1])
            else:
                kernel = kernel[kept]
            new.set_weights([kernel, bias])
        else:
            raise ValueError(f"channel pruning does not know layer {old.name} ({type(old).__name__})")
    return narrow
