"""Float ONNX -> Keras (channels-last), checked against onnxruntime, then quantized like any Keras model."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeloop import require
from edgeloop.models.importers.errors import ModelImportError
from edgeloop.models.importers.onnx_graph import load_graph
from edgeloop.models.importers.onnx_ir import IRGraph, IROp, build_ir

CHECK_L2R = 1e-4  # float32 rebuild against onnxruntime: only summation order may differ


@dataclass
class RebuiltModel:
    """The Keras twin of a float ONNX graph and the onnxruntime function it must agree with."""

    keras_model: Any
    ort_fn: Callable[[np.ndarray], np.ndarray]
    source_shape: tuple[int, ...]
    channels_first: bool

    def check_against_onnxruntime(self, x_board: np.ndarray, x_source: np.ndarray) -> float:
        """L2 relative error of the Keras rebuild against onnxruntime; ModelImportError above CHECK_L2R."""
        ours = np.asarray(self.keras_model(x_board, training=False)).reshape(len(x_board), -1)
        ref = np.asarray(self.ort_fn(x_source)).reshape(len(x_source), -1)
        norm = float(np.linalg.norm(ref))
        l2r = float(np.linalg.norm(ours - ref) / norm) if norm else float(np.abs(ours - ref).max())
        if not l2r <= CHECK_L2R:
            raise ModelImportError(f"the Keras rebuild of the ONNX graph differs from onnxruntime (L2 relative "
                                   f"error {l2r:.3g} > {CHECK_L2R:g}): an operator is mapped wrongly; please "
                                   "report the model")
        return l2r


def onnx_to_keras(path: Path) -> RebuiltModel:
    """Rebuild a float ONNX model in Keras (NHWC) for the operators the compiler supports."""
    graph = load_graph(path)
    ir = build_ir(graph, qdq=False)
    return RebuiltModel(ir_to_keras(ir), graph.ort_fn, ir.source_shape, ir.channels_first)


def ir_to_keras(ir: IRGraph):
    """A functional Keras model computing the IR graph in float32."""
    keras = require("keras", needed_for="rebuilding ONNX models in Keras")
    L = keras.layers
    inp = keras.Input(ir.shapes[ir.input][1:], batch_size=1, name="input")
    t = {ir.input: inp}
    for op in ir.ops:
        t[op.output] = _layer(op, [t[i] for i in op.inputs], ir, keras, L)
    return keras.Model(inp, t[ir.output])


def _layer(op: IROp, xs: list, ir: IRGraph, keras, L):
    p = op.params
    x = xs[0] if xs else None
    if op.kind in ("conv", "depthwise"):
        if p["padding"] == "explicit":
            top, left, bottom, right = p["pads"]
            x = L.ZeroPadding2D(((top, bottom), (left, right)))(x)
        padding = "same" if p["padding"] == "same" else "valid"
        w = op.consts["weights_oihw"]
        if op.kind == "conv":
            layer = L.Conv2D(w.shape[0], p["kernel"], strides=p["strides"], dilation_rate=p["dilations"],
                             padding=padding)
            layer.build(x.shape)
            layer.set_weights([w.transpose(2, 3, 1, 0), op.consts["bias"]])
        else:
            cin, mult = x.shape[-1], p["multiplier"]
            layer = L.DepthwiseConv2D(p["kernel"], strides=p["strides"], dilation_rate=p["dilations"],
                                      padding=padding, depth_multiplier=mult)
            layer.build(x.shape)
            kh, kw = p["kernel"]
            layer.set_weights([w.reshape(cin, mult, kh, kw).transpose(2, 3, 0, 1), op.consts["bias"]])
        return layer(x)
    if op.kind == "dense":
        w = op.consts["weights_io"]
        layer = L.Dense(w.shape[1])
        layer.build(x.shape)
        layer.set_weights([w, op.consts["bias"]])
        return layer(x)
    if op.kind == "relu":
        return L.ReLU()(x)
    if op.kind == "relu6":
        return L.ReLU(6.0)(x)
    if op.kind == "sigmoid":
        return L.Activation("sigmoid")(x)
    if op.kind == "softmax":
        return L.Softmax()(x)
    if op.kind in ("maxpool", "avgpool"):
        cls = L.MaxPooling2D if op.kind == "maxpool" else L.AveragePooling2D
        return cls(p["kernel"], strides=p["strides"], padding=p["padding"])(x)
    if op.kind == "mean":
        return L.GlobalAveragePooling2D(keepdims=p["keepdims"])(x)
    if op.kind == "reshape":
        return L.Reshape(ir.shapes[op.output][1:])(x)
    if op.kind == "concat":
        return L.Concatenate(axis=p["axis"])(xs)
    if op.kind == "pad":
        top, left, bottom, right = p["pads"]
        return L.ZeroPadding2D(((top, bottom), (left, right)))(x)
    if op.kind in ("add", "mul"):
        if len(xs) == 2:
            return (L.Add() if op.kind == "add" else L.Multiply())(xs)
        const = op.consts["constant"][0]  # drop the batch axis: broadcast over it
        fn = keras.ops.add if op.kind == "add" else keras.ops.multiply
        return fn(x, const)
    raise ModelImportError(f"internal: no Keras mapping for IR op {op.kind}")
