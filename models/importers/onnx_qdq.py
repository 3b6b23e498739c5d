"""QDQ-quantized ONNX -> int8 .tflite, keeping the file's scales and zero points.

The user's quantization (post-training or quantization-aware) is kept as is:
activation scales and zero points come from the QuantizeLinear nodes,
weights from the integer initializers and their per-channel scales. The
flatbuffer is written directly (models.compiler.tflite_writer), so TFLite
Micro runs exactly this model and stays the oracle for the compiled C.

Two TFLite Micro rules override the file, with a warning: SOFTMAX and
LOGISTIC outputs use scale 1/256 and zero point -128.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgeloop.models.compiler.tflite_writer import ModelBuilder
from edgeloop.models.importers.errors import ModelImportError
from edgeloop.models.importers.onnx_graph import load_graph, ort_tensor_runner
from edgeloop.models.importers.onnx_ir import IRGraph, IROp, QWeights, build_ir

_PROB_Q = (1.0 / 256.0, -128)  # TFLite Micro's required output quantization of SOFTMAX and LOGISTIC
_FUSABLE = {"relu": "RELU", "relu6": "RELU6"}


@dataclass
class QdqModel:
    int8_tflite: bytes
    ort_fn: Callable[[np.ndarray], np.ndarray]
    source_shape: tuple[int, ...]
    channels_first: bool
    warnings: list[str] = field(default_factory=list)
    # onnxruntime's value of each written tensor after its QuantizeLinear/DequantizeLinear, by TFLite tensor name
    layer_reference: Callable[[np.ndarray], dict[str, np.ndarray]] | None = None


def qdq_to_tflite(path: Path) -> QdqModel:
    """Convert a QDQ ONNX file to a full-int8 .tflite (int8 input and output)."""
    graph = load_graph(path)
    ir = build_ir(graph, qdq=True)
    writer = _Writer(ir)
    data = writer.build()
    # each written tensor as the QDQ graph itself holds it after quantization (its DequantizeLinear output)
    written = {}
    for name in writer.index:
        if name in ir.onnx_names and name != ir.input:
            onnx_name, perm, flat = ir.onnx_names[name]
            written[name] = (ir.dequantized.get(onnx_name, onnx_name), perm, flat)
    reference = ort_tensor_runner(path, graph.input, graph.input_shape, written)
    return QdqModel(data, graph.ort_fn, ir.source_shape, ir.channels_first, writer.warnings, reference)


class _Writer:
    def __init__(self, ir: IRGraph) -> None:
        self.ir = ir
        self.mb = ModelBuilder()
        self.index: dict[str, int] = {}
        self.warnings: list[str] = []

    def _q(self, name: str, op: IROp | None = None) -> tuple[float, int]:
        q = self.ir.qparams.get(name)
        if q is None:
            where = f" (output of layer {op.layer}, {op.kind})" if op is not None else ""
            raise ModelImportError(f"tensor {name!r}{where} has no QuantizeLinear: the QDQ graph is not fully "
                                   "quantized; quantize every activation (onnxruntime.quantization.quantize_static)")
        return q

    def _activation(self, name: str, op: IROp | None = None, q: tuple[float, int] | None = None) -> int:
        if name not in self.index:
            s, z = q or self._q(name, op)
            self.index[name] = self.mb.tensor(self.ir.shapes[name], "int8", s, z, name=name)
        return self.index[name]

    def build(self) -> bytes:
        ops = self._fuse_activations(self.ir.ops)
        inp = self._activation(self.ir.input)
        for op in ops:
            self._write(op)
        return self.mb.build([inp], [self.index[self.ir.output]])

    def _fuse_activations(self, ops: list[IROp]) -> list[IROp]:
        """Fold a ReLU/ReLU6 into the layer before it when that layer's output carries no quantization."""
        uses: dict[str, int] = {}
        for op in ops:
            for i in op.inputs:
                uses[i] = uses.get(i, 0) + 1
        out, skip = [], set()
        for k, op in enumerate(ops):
            if k in skip:
                continue
            nxt = ops[k + 1] if k + 1 < len(ops) else None
            if op.kind in ("conv", "depthwise", "dense", "add") and op.output not in self.ir.qparams and \
                    nxt is not None and nxt.kind in _FUSABLE and nxt.inputs == [op.output] and uses[op.output] == 1:
                op.params["activation"] = nxt.kind
                op.output = nxt.output
                skip.add(k + 1)
            out.append(op)
        return out

    def _weights(self, op: IROp, key: str, layout_fn, axis_after: int) -> tuple[int, np.ndarray]:
        q: QWeights | None = op.qconsts.get(key)
        if q is None:
            raise ModelImportError(f"layer {op.layer} ({op.kind}) has float weights in a QDQ graph; quantize the "
                                   "weights too (onnxruntime.quantization quantizes Conv and MatMul weights)")
        if np.any(q.zero_point != 0) or q.q.dtype != np.int8:
            raise ModelImportError(f"layer {op.layer} ({op.kind}) has {q.q.dtype} weights with non-zero zero "
                                   "points; TFLite needs symmetric int8 weights (QuantType.QInt8, symmetric)")
        data = layout_fn(q.q)
        name = f"{op.output}/weights"
        t = self.mb.tensor(data.shape, "int8", [float(s) for s in q.scale], [0] * q.scale.size,
                           axis=axis_after if q.scale.size > 1 else 0, data=data, name=name)
        return t, q.scale.astype(np.float64)

    def _bias(self, op: IROp, s_in: float, w_scale: np.ndarray, channels: int) -> int:
        scales = s_in * (w_scale if w_scale.size == channels else np.full(channels, w_scale[0]))
        qb = op.qconsts.get("bias")
        if qb is not None:
            values = qb.q.reshape(-1).astype(np.int32)
        else:
            values = np.round(op.consts["bias"].astype(np.float64) / scales).astype(np.int32)
        return self.mb.tensor((channels,), "int32", [float(s) for s in scales.astype(np.float32)],
                              [0] * channels, data=values, name=f"{op.output}/bias")

    def _explicit_pad(self, op: IROp, x: int, x_name: str) -> tuple[int, str]:
        top, left, bottom, right = op.params["pads"]
        n, h, w, c = self.ir.shapes[x_name]
        padded = f"{op.output}/padded"
        self.ir.shapes[padded] = (n, h + top + bottom, w + left + right, c)
        q = self._q(x_name)
        paddings = self.mb.tensor((4, 2), "int32", data=np.array([[0, 0], [top, bottom], [left, right], [0, 0]],
                                                                   np.int32), name=f"{padded}/paddings")
        y = self._activation(padded, q=q)
        self.mb.op("PAD", [x, paddings], [y])
        return y, padded

    def _write(self, op: IROp) -> None:
        p, mb = op.params, self.mb
        x_name = op.inputs[0] if op.inputs else None
        x = self.index[x_name] if x_name is not None else None
        act = {"none": "NONE", "relu": "RELU", "relu6": "RELU6"}[p.get("activation", "none")]
        if op.kind in ("conv", "depthwise"):
            if p["padding"] == "explicit":
                x, x_name = self._explicit_pad(op, x, x_name)
            s_in, _ = self._q(x_name)
            if op.kind == "conv":
                w, ws = self._weights(op, "weights_oihw", lambda q: q.transpose(0, 2, 3, 1), 0)
            else:
                w, ws = self._weights(op, "weights_oihw", lambda q: q.transpose(1, 2, 3, 0), 3)
            channels = op.consts["weights_oihw"].shape[0]
            bias = self._bias(op, s_in, ws, channels)
            y = self._activation(op.output, op)
            pad = "VALID" if p["padding"] in ("valid", "explicit") else "SAME"
            (sh, sw), (dh, dw) = p["strides"], p["dilations"]
            if op.kind == "conv":
                mb.op("CONV_2D", [x, w, bias], [y], "Conv2DOptions", padding=pad, stride_w=sw, stride_h=sh,
                      activation=act, dilation_w=dw, dilation_h=dh)
            else:
                mb.op("DEPTHWISE_CONV_2D", [x, w, bias], [y], "DepthwiseConv2DOptions", padding=pad, stride_w=sw,
                      stride_h=sh, depth_multiplier=p["multiplier"], activation=act, dilation_w=dw, dilation_h=dh)
        elif op.kind == "dense":
            s_in, _ = self._q(x_name)
            q = op.qconsts.get("weights_io")
            if q is not None and q.scale.size > 1 and q.axis != 1:
                raise ModelImportError(f"layer {op.layer} (dense) has weights quantized per input feature; "
                                       "quantize them per output channel")
            w, ws = self._weights(op, "weights_io", lambda q: np.ascontiguousarray(q.T), 0)
            channels = op.consts["weights_io"].shape[1]
            bias = self._bias(op, s_in, ws, channels)
            y = self._activation(op.output, op)
            mb.op("FULLY_CONNECTED", [x, w, bias], [y], "FullyConnectedOptions", activation=act)
        elif op.kind in ("maxpool", "avgpool"):
            if self._q(op.output, op) != self._q(x_name):
                raise ModelImportError(f"layer {op.layer} ({op.kind}) changes the quantization; TFLite Micro "
                                       "pools with equal input and output scales")
            y = self._activation(op.output, op)
            (kh, kw), (sh, sw) = p["kernel"], p["strides"]
            mb.op("MAX_POOL_2D" if op.kind == "maxpool" else "AVERAGE_POOL_2D", [x], [y], "Pool2DOptions",
                  padding=p["padding"].upper(), stride_w=sw, stride_h=sh, filter_w=kw, filter_h=kh, activation="NONE")
        elif op.kind == "mean":
            axes = mb.tensor((2,), "int32", data=np.array([1, 2], np.int32), name=f"{op.output}/axes")
            y = self._activation(op.output, op)
            mb.op("MEAN", [x, axes], [y], "ReducerOptions", keep_dims=int(p["keepdims"]))
        elif op.kind == "reshape":
            shape = self.ir.shapes[op.output]
            st = mb.tensor((len(shape),), "int32", data=np.asarray(shape, np.int32), name=f"{op.output}/shape")
            y = self._activation(op.output, op, q=self.ir.qparams.get(op.output) or self._q(x_name))
            if self._q(op.output, op) != self._q(x_name):
                raise ModelImportError(f"layer {op.layer} (reshape) changes the quantization; requantize before it")
            mb.op("RESHAPE", [x, st], [y], "ReshapeOptions")
        elif op.kind in ("relu", "relu6"):
            y = self._activation(op.output, op)
            mb.op(op.kind.upper(), [x], [y])
        elif op.kind in ("softmax", "sigmoid"):
            got = self.ir.qparams.get(op.output)
            if got is not None and (np.float32(got[0]) != np.float32(_PROB_Q[0]) or got[1] != _PROB_Q[1]):
                self.warnings.append(f"layer {op.layer} ({op.kind}): output quantization (scale {got[0]:.6g}, zero "
                                     f"point {got[1]}) replaced by TFLite Micro's required 1/256, -128")
            y = self._activation(op.output, op, q=_PROB_Q)
            if op.kind == "softmax":
                mb.op("SOFTMAX", [x], [y], "SoftmaxOptions", beta=1.0)
            else:
                mb.op("LOGISTIC", [x], [y])
        elif op.kind in ("add", "mul"):
            if len(op.inputs) == 2:
                other = self.index[op.inputs[1]]
            else:
                qc = op.qconsts.get("constant")
                if qc is None or qc.scale.size != 1:
                    raise ModelImportError(f"layer {op.layer} ({op.kind}) has a float or per-channel constant "
                                           "operand; quantize it per tensor")
                s, z = float(qc.scale[0]), int(qc.zero_point[0])
                value = np.clip(np.round(op.consts["constant"] / s) + z, -128, 127).astype(np.int8)
                other = mb.tensor(value.shape, "int8", s, z, data=value, name=f"{op.output}/constant")
            y = self._activation(op.output, op)
            mb.op(op.kind.upper(), [x, other], [y], "AddOptions" if op.kind == "add" else "MulOptions",
                  activation=act)
        elif op.kind == "concat":
            qs = {self._q(i) for i in op.inputs} | {self._q(op.output, op)}
            if len(qs) != 1:
                raise ModelImportError(f"layer {op.layer} (concat) joins tensors of different quantization; "
                                       "TFLite Micro needs one scale for all inputs and the output")
            y = self._activation(op.output, op)
            mb.op("CONCATENATION", [self.index[i] for i in op.inputs], [y], "ConcatenationOptions",
                  axis=p["axis"], activation="NONE")
        elif op.kind == "pad":
            top, left, bottom, right = p["pads"]
            paddings = mb.tensor((4, 2), "int32", data=np.array([[0, 0], [top, bottom], [left, right], [0, 0]],
                                                                 np.int32), name=f"{op.output}/paddings")
            y = self._activation(op.output, op, q=self.ir.qparams.get(op.output) or self._q(x_name))
            mb.op("PAD", [x, paddings], [y])
        else:
            raise ModelImportError(f"layer {op.layer} ({op.kind}) cannot be written as int8 TFLite")
