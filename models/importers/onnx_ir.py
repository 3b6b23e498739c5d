"""ONNX graph -> a small channels-last op list (IR) shared by the float (Keras) and QDQ (int8 TFLite) back ends.

Layout: every ONNX tensor is held as `ir = onnx.transpose(perm)`. Conv-like
operators need an NCHW ONNX tensor held as NHWC (perm 0,2,3,1), which is
what the IR stores; a Transpose node only changes the perm, so the
NHWC<->NCHW pairs tf2onnx inserts cost nothing. Flattening an NCHW tensor
held as NHWC yields the elements in HWC order: the following Gemm/MatMul
gets its weight rows permuted instead of moving data at run time.

QDQ graphs are collapsed first: Q->DQ pairs become per-tensor
(scale, zero point) on the float tensor, DQ of constant int8 weights
becomes the float weights plus the file's integers and scales.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgeloop.models.importers.errors import ModelImportError
from edgeloop.models.importers.onnx_graph import Node, OnnxGraph, unsupported

NHWC = (0, 2, 3, 1)


@dataclass
class QWeights:
    """Integer constants of a QDQ file: values, per-channel (or single) scales and zero points, axis."""

    q: np.ndarray
    scale: np.ndarray
    zero_point: np.ndarray
    axis: int


@dataclass
class IROp:
    """One operator in channels-last form; `consts` hold float arrays, `qconsts` the QDQ file's integers."""

    kind: str
    inputs: list[str]
    output: str
    layer: int
    params: dict[str, Any] = field(default_factory=dict)
    consts: dict[str, np.ndarray] = field(default_factory=dict)
    qconsts: dict[str, QWeights] = field(default_factory=dict)


@dataclass
class IRGraph:
    ops: list[IROp]
    shapes: dict[str, tuple[int, ...]]          # IR tensor shapes (channels-last, batch 1)
    qparams: dict[str, tuple[float, int]]       # per-tensor (scale, zero point) from a QDQ file
    input: str
    output: str
    source_shape: tuple[int, ...]               # ONNX input shape without batch
    channels_first: bool                        # the ONNX input is NCHW (held as NHWC)
    onnx_names: dict[str, tuple[str, tuple[int, ...], np.ndarray | None]]  # IR tensor -> (ONNX tensor, perm, flat)
    dequantized: dict[str, str] = field(default_factory=dict)  # QDQ: ONNX tensor -> its DequantizeLinear output


def _resolve(alias: dict[str, str], name: str) -> str:
    while name in alias:
        name = alias[name]
    return name


def collapse_qdq(graph: OnnxGraph) -> tuple[list[Node], dict[str, str], dict[str, tuple[float, int]],
                                               dict[str, QWeights], dict[str, str]]:
    """Remove QuantizeLinear/DequantizeLinear: (other nodes, aliases, activation qparams, quantized consts,
    the DequantizeLinear output that carries each quantized activation)."""
    alias: dict[str, str] = {}
    dequantized: dict[str, str] = {}
    qparams: dict[str, tuple[float, int]] = {}
    qconsts: dict[str, QWeights] = {}
    rest = []
    for n in graph.nodes:
        if n.op not in ("QuantizeLinear", "DequantizeLinear"):
            rest.append(n)
            continue
        scale = np.asarray(graph.consts[n.inputs[1]], np.float32)
        has_zp = len(n.inputs) > 2 and n.inputs[2]
        zp = np.asarray(graph.consts[n.inputs[2]]) if has_zp else np.zeros_like(scale, np.int8)
        src = n.inputs[0]
        if n.op == "DequantizeLinear" and src in graph.consts:
            q = np.asarray(graph.consts[src])
            axis = int(n.attrs.get("axis", 1)) % max(q.ndim, 1)
            shape = [1] * q.ndim
            if scale.size > 1:
                shape[axis] = scale.size
            real = (q.astype(np.float64) - zp.reshape(shape).astype(np.float64)) * scale.reshape(shape)
            graph.consts[n.outputs[0]] = real.astype(np.float32)
            graph.shapes[n.outputs[0]] = tuple(q.shape)
            qconsts[n.outputs[0]] = QWeights(q, scale.reshape(-1), zp.reshape(-1).astype(np.int64), axis)
            continue
        if scale.size != 1:
            raise ModelImportError(f"{n.op} {n.name!r} quantizes an activation per channel; TFLite Micro needs "
                                   "one scale per activation tensor (quantize activations per tensor)")
        if zp.dtype != np.int8:
            raise ModelImportError(f"{n.op} {n.name!r} uses {zp.dtype} activations; supported: int8 "
                                   "(quantize with activation_type=QuantType.QInt8)")
        if n.op == "QuantizeLinear":
            base = _resolve(alias, src)
            qparams.setdefault(base, (float(scale.reshape(-1)[0]), int(zp.reshape(-1)[0])))
            alias[n.outputs[0]] = base
        else:
            alias[n.outputs[0]] = _resolve(alias, src)
            dequantized.setdefault(alias[n.outputs[0]], n.outputs[0])
    for n in rest:
        n.inputs = [_resolve(alias, i) if i else i for i in n.inputs]
    return rest, alias, qparams, qconsts, dequantized


def _live(nodes: list[Node], output: str) -> list[Node]:
    producers = {o: n for n in nodes for o in n.outputs}
    needed, live = {output}, []
    for n in reversed(nodes):
        if not any(o in needed for o in n.outputs):
            continue
        live.append(n)
        data = n.inputs[:1] if n.op in ("Reshape", "Squeeze", "Unsqueeze", "Expand") else n.inputs
        if n.op == "Clip" or n.op == "Pad":
            data = n.inputs[:1]
        needed.update(i for i in data if i and i in producers)
    return live[::-1]


class _Builder:
    def __init__(self, graph: OnnxGraph, qparams: dict, qconsts: dict) -> None:
        self.g = graph
        self.qparams_onnx = qparams
        self.qconsts = qconsts
        self.rep: dict[str, tuple[str, tuple[int, ...], np.ndarray | None]] = {}
        self.ops: list[IROp] = []
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.qparams: dict[str, tuple[float, int]] = {}
        self.onnx_names: dict[str, tuple[str, tuple[int, ...], np.ndarray | None]] = {}

    # -- tensors
    def define(self, onnx_name: str, perm: tuple[int, ...], flat_perm: np.ndarray | None = None,
               ir_name: str | None = None) -> str:
        ir = ir_name or onnx_name
        self.rep[onnx_name] = (ir, perm, flat_perm)
        if ir not in self.shapes:
            shape = self.g.shapes[onnx_name]
            self.shapes[ir] = tuple(shape[p] for p in perm)
            self.onnx_names[ir] = (onnx_name, perm, flat_perm)
        if onnx_name in self.qparams_onnx and ir not in self.qparams:
            self.qparams[ir] = self.qparams_onnx[onnx_name]
        return ir

    def alias(self, onnx_name: str, rep: tuple[str, tuple[int, ...], np.ndarray | None]) -> None:
        """`onnx_name` is the same data as an existing IR tensor (a transpose or identity)."""
        self.rep[onnx_name] = rep
        if onnx_name in self.qparams_onnx:
            self.qparams.setdefault(rep[0], self.qparams_onnx[onnx_name])

    def get(self, name: str, node: Node, pos: int) -> tuple[str, tuple[int, ...], np.ndarray | None]:
        if name not in self.rep:
            raise unsupported(node, pos, f"reads {name!r}, which is neither computed nor a supported constant")
        return self.rep[name]

    def nhwc(self, name: str, node: Node, pos: int) -> str:
        ir, perm, flat = self.get(name, node, pos)
        if len(perm) != 4 or perm != NHWC or flat is not None:
            raise unsupported(node, pos, f"needs a channels-first 4-D input, but {name!r} would need a run-time "
                                         "transpose (TRANSPOSE is not compiled)")
        return ir

    def const(self, name: str) -> np.ndarray | None:
        return self.g.consts.get(name)

    def emit(self, kind: str, inputs: list[str], onnx_out: str, perm: tuple[int, ...], layer: int,
             flat: np.ndarray | None = None, **params) -> IROp:
        out = self.define(onnx_out, perm, flat)
        op = IROp(kind, inputs, out, layer, params)
        self.ops.append(op)
        return op


def _conv_padding(pads: list[int], in_hw: tuple[int, int], k: tuple[int, int], s: tuple[int, int],
                  d: tuple[int, int], out_hw: tuple[int, int]) -> tuple[str, list[int]]:
    """'valid', 'same' (TensorFlow's split) or 'explicit' with [top, left, bottom, right]."""
    top, left, bottom, right = pads[0], pads[1], pads[2], pads[3]
    if not any(pads):
        return "valid", [0, 0, 0, 0]
    same = []
    for i in range(2):
        total = max((out_hw[i] - 1) * s[i] + (k[i] - 1) * d[i] + 1 - in_hw[i], 0)
        same.append((total // 2, total - total // 2))
    if (top, bottom) == same[0] and (left, right) == same[1] and all(
            out_hw[i] == -(-in_hw[i] // s[i]) for i in range(2)):
        return "same", [top, left, bottom, right]
    return "explicit", [top, left, bottom, right]


def build_ir(graph: OnnxGraph, qdq: bool) -> IRGraph:
    """Map every live node of `graph` onto IR ops; UnsupportedOperatorError names the first that cannot be."""
    if qdq:
        nodes, alias, qparams, qconsts, dequantized = collapse_qdq(graph)
        output = _resolve(alias, graph.output)
    else:
        nodes, qparams, qconsts, output, dequantized = list(graph.nodes), {}, {}, graph.output, {}
    b = _Builder(graph, qparams, qconsts)
    shape = graph.input_shape
    channels_first = len(shape) == 4 and shape[1] in (1, 3) and shape[3] not in (1, 3)
    in_perm = NHWC if channels_first else tuple(range(len(shape)))
    ir_input = b.define(graph.input, in_perm)
    live = _live(nodes, output)
    consumers: dict[str, int] = {}
    for n in live:
        for i in n.inputs:
            consumers[i] = consumers.get(i, 0) + 1
    for pos, n in enumerate(live):
        _map_node(b, n, pos, consumers)
    if output not in b.rep:
        raise ModelImportError(f"the graph output {graph.output!r} is not computed from the input")
    ir_out, perm, flat = b.rep[output]
    if flat is not None or perm != tuple(range(len(perm))):
        if not (len(b.shapes[ir_out]) == 4 and b.shapes[ir_out][1] == b.shapes[ir_out][2] == 1):
            raise ModelImportError("the graph output is a channels-first feature map; the board returns it "
                                   "channels-last: flatten or pool it before the output")
    return IRGraph(b.ops, b.shapes, b.qparams, ir_input, ir_out, tuple(shape[1:]), channels_first, b.onnx_names,
                   dequantized)


def _map_node(b: _Builder, n: Node, pos: int, consumers: dict[str, int]) -> None:
    op, g = n.op, b.g
    if op in ("Identity", "Dropout"):
        b.alias(n.outputs[0], b.get(n.inputs[0], n, pos))
        return
    if op == "Transpose":
        ir, p, flat = b.get(n.inputs[0], n, pos)
        q = list(n.attrs.get("perm", list(range(len(p)))[::-1]))
        inv = [q.index(i) for i in range(len(q))]
        b.alias(n.outputs[0], (ir, tuple(inv[i] for i in p), flat))
        return
    if op == "Conv":
        _conv(b, n, pos)
        return
    if op in ("Gemm", "MatMul"):
        _dense(b, n, pos)
        return
    if op == "BatchNormalization":
        _fold_batchnorm(b, n, pos, consumers)
        return
    if op in ("Relu", "Sigmoid", "Clip"):
        ir, p, flat = b.get(n.inputs[0], n, pos)
        kind = {"Relu": "relu", "Sigmoid": "sigmoid"}.get(op)
        if op == "Clip":
            lo = n.attrs.get("min", float(g.consts[n.inputs[1]]) if len(n.inputs) > 1 and n.inputs[1] else None)
            hi = n.attrs.get("max", float(g.consts[n.inputs[2]]) if len(n.inputs) > 2 and n.inputs[2] else None)
            if lo == 0 and hi is None:
                kind = "relu"
            elif lo == 0 and hi is not None and abs(hi - 6.0) < 1e-6:
                kind = "relu6"
            else:
                raise unsupported(n, pos, f"clips to [{lo}, {hi}]; supported: [0, inf) as ReLU and [0, 6] as ReLU6")
        b.emit(kind, [ir], n.outputs[0], p, pos, flat)
        return
    if op == "Softmax":
        ir, p, flat = b.get(n.inputs[0], n, pos)
        rank = len(g.shapes[n.inputs[0]])
        axis = int(n.attrs.get("axis", -1)) % rank
        if p[-1] != axis or (rank > 2 and any(d != 1 for d in b.shapes[ir][1:-1])):
            raise unsupported(n, pos, "is not over the last, only non-unit axis")
        b.emit("softmax", [ir], n.outputs[0], p, pos, flat)
        return
    if op in ("MaxPool", "AveragePool"):
        _pool(b, n, pos)
        return
    if op == "GlobalAveragePool" or op == "ReduceMean":
        ir = b.nhwc(n.inputs[0], n, pos)
        axes = n.attrs.get("axes")
        if axes is None and len(n.inputs) > 1 and n.inputs[1]:
            axes = list(g.consts[n.inputs[1]])
        if op == "ReduceMean" and sorted(int(a) % 4 for a in axes) != [2, 3]:
            raise unsupported(n, pos, f"averages over axes {axes}; supported: the spatial axes 2, 3")
        keep = op == "GlobalAveragePool" or bool(n.attrs.get("keepdims", 1))
        if keep:
            b.emit("mean", [ir], n.outputs[0], NHWC, pos)
        else:
            b.emit("mean", [ir], n.outputs[0], (0, 1), pos)
        b.ops[-1].params["keepdims"] = keep
        return
    if op in ("Flatten", "Reshape", "Squeeze", "Unsqueeze"):
        _reshape(b, n, pos)
        return
    if op in ("Add", "Mul"):
        _binary(b, n, pos)
        return
    if op == "Concat":
        irs = [b.get(i, n, pos) for i in n.inputs]
        perms = {p for _, p, _ in irs}
        if len(perms) != 1 or any(f is not None for _, _, f in irs):
            raise unsupported(n, pos, "joins tensors held in different layouts")
        p = irs[0][1]
        axis = int(n.attrs["axis"]) % len(p)
        b.emit("concat", [ir for ir, _, _ in irs], n.outputs[0], p, pos, axis=p.index(axis))
        return
    if op == "Pad":
        ir = b.nhwc(n.inputs[0], n, pos)
        pads = list(n.attrs.get("pads", g.consts.get(n.inputs[1]) if len(n.inputs) > 1 else []))
        mode = n.attrs.get("mode", b"constant")
        value = float(g.consts[n.inputs[2]]) if len(n.inputs) > 2 and n.inputs[2] else 0.0
        if (mode if isinstance(mode, str) else mode.decode()) != "constant" or value != 0.0 or len(pads) != 8 \
                or pads[0] or pads[1] or pads[4] or pads[5]:
            raise unsupported(n, pos, "pads other than zeros over H and W")
        b.emit("pad", [ir], n.outputs[0], NHWC, pos, pads=[int(pads[2]), int(pads[3]), int(pads[6]), int(pads[7])])
        return
    raise unsupported(n, pos)


def _conv(b: _Builder, n: Node, pos: int) -> None:
    g = b.g
    ir = b.nhwc(n.inputs[0], n, pos)
    w = g.consts.get(n.inputs[1])
    if w is None or w.ndim != 4:
        raise unsupported(n, pos, "has non-constant or non-2-D weights (Conv1D: export as Conv2D with H=1)")
    bias = g.consts.get(n.inputs[2]) if len(n.inputs) > 2 and n.inputs[2] else None
    o, i_per_group, kh, kw = w.shape
    cin = g.shapes[n.inputs[0]][1]
    group = int(n.attrs.get("group", 1))
    strides = tuple(n.attrs.get("strides", [1, 1]))
    dil = tuple(n.attrs.get("dilations", [1, 1]))
    pads = list(n.attrs.get("pads", [0, 0, 0, 0]))
    if n.attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise unsupported(n, pos, "uses auto_pad; re-export with explicit pads")
    in_shape, out_shape = g.shapes[n.inputs[0]], g.shapes[n.outputs[0]]
    padding, pads4 = _conv_padding([pads[0], pads[1], pads[2], pads[3]], in_shape[2:], (kh, kw), strides, dil,
                                   out_shape[2:])
    if group == 1:
        kind = "conv"
    elif group == cin and i_per_group == 1:
        kind = "depthwise"
    else:
        raise unsupported(n, pos, f"is a grouped convolution ({group} groups of {cin} channels); supported: "
                                  "1 group or depthwise")
    op = b.emit(kind, [ir], n.outputs[0], NHWC, pos, strides=strides, dilations=dil, padding=padding,
                pads=pads4, kernel=(kh, kw), multiplier=o // cin if kind == "depthwise" else 1, activation="none")
    op.consts["weights_oihw"] = w
    if n.inputs[1] in b.qconsts:
        op.qconsts["weights_oihw"] = b.qconsts[n.inputs[1]]
    op.consts["bias"] = bias if bias is not None else np.zeros(o, np.float32)
    if bias is not None and n.inputs[2] in b.qconsts:
        op.qconsts["bias"] = b.qconsts[n.inputs[2]]


def _dense(b: _Builder, n: Node, pos: int) -> None:
    g = b.g
    ir, p, flat = b.get(n.inputs[0], n, pos)
    w = g.consts.get(n.inputs[1])
    if w is None or w.ndim != 2 or len(b.shapes[ir]) != 2:
        raise unsupported(n, pos, "is not a 2-D input times a constant 2-D weight matrix")
    q = b.qconsts.get(n.inputs[1])
    if n.op == "Gemm":
        if n.attrs.get("transA", 0) or n.attrs.get("alpha", 1.0) != 1.0 or n.attrs.get("beta", 1.0) != 1.0:
            raise unsupported(n, pos, "uses transA, alpha or beta")
        if n.attrs.get("transB", 0):
            w = w.T
            if q is not None:
                q = QWeights(q.q.T, q.scale, q.zero_point, 1 - q.axis)
    # w is [in, out] now; rows follow the ONNX element order of the input
    if flat is not None:
        w = w[flat]
        if q is not None:
            q = QWeights(q.q[flat], q.scale, q.zero_point, q.axis)
    bias = g.consts.get(n.inputs[2]) if len(n.inputs) > 2 and n.inputs[2] else None
    op = b.emit("dense", [ir], n.outputs[0], (0, 1), pos, activation="none")
    op.consts["weights_io"] = np.ascontiguousarray(w)
    if q is not None:
        op.qconsts["weights_io"] = q
    op.consts["bias"] = (np.asarray(bias, np.float32).reshape(-1) if bias is not None
                         else np.zeros(w.shape[1], np.float32))
    if bias is not None and n.inputs[2] in b.qconsts:
        op.qconsts["bias"] = b.qconsts[n.inputs[2]]


def _fold_batchnorm(b: _Builder, n: Node, pos: int, consumers: dict[str, int]) -> None:
    g = b.g
    prev = b.ops[-1] if b.ops else None
    ir, _, _ = b.get(n.inputs[0], n, pos)
    if prev is not None and prev.qconsts:
        raise unsupported(n, pos, "sits between quantized layers; fold it before quantizing (run "
                                  "onnxruntime.quantization.quant_pre_process on the float model first)")
    if prev is None or prev.output != ir or prev.kind not in ("conv", "depthwise", "dense") or \
            consumers.get(n.inputs[0], 0) != 1:
        raise unsupported(n, pos, "does not directly follow a Conv or Gemm it can be folded into")
    gamma, beta, mean, var = (np.asarray(g.consts[i], np.float64) for i in n.inputs[1:5])
    k = gamma / np.sqrt(var + float(n.attrs.get("epsilon", 1e-5)))
    key = "weights_io" if prev.kind == "dense" else "weights_oihw"
    w = prev.consts[key].astype(np.float64)
    prev.consts[key] = (w * k if prev.kind == "dense" else w * k[:, None, None, None]).astype(np.float32)
    prev.consts["bias"] = ((prev.consts["bias"] - mean) * k + beta).astype(np.float32)
    b.alias(n.outputs[0], b.rep[n.inputs[0]])


def _pool(b: _Builder, n: Node, pos: int) -> None:
    g = b.g
    ir = b.nhwc(n.inputs[0], n, pos)
    k = tuple(n.attrs["kernel_shape"])
    s = tuple(n.attrs.get("strides", [1, 1]))
    pads = list(n.attrs.get("pads", [0, 0, 0, 0]))
    if n.attrs.get("ceil_mode", 0) or tuple(n.attrs.get("dilations", [1, 1])) != (1, 1):
        raise unsupported(n, pos, "uses ceil_mode or dilations")
    padding, _ = _conv_padding(pads, g.shapes[n.inputs[0]][2:], k, s, (1, 1), g.shapes[n.outputs[0]][2:])
    if padding == "explicit" or (n.op == "AveragePool" and padding == "same" and n.attrs.get("count_include_pad", 0)):
        raise unsupported(n, pos, f"pads {pads}, which is neither VALID nor TensorFlow's SAME")
    b.emit("maxpool" if n.op == "MaxPool" else "avgpool", [ir], n.outputs[0], NHWC, pos, kernel=k, strides=s,
           padding=padding)


def _reshape(b: _Builder, n: Node, pos: int) -> None:
    g = b.g
    ir, p, flat = b.get(n.inputs[0], n, pos)
    in_shape, out_shape = g.shapes[n.inputs[0]], g.shapes[n.outputs[0]]
    identity = p == tuple(range(len(p))) and flat is None
    nontrivial = [d for d in in_shape[1:] if d != 1]
    if identity or len(nontrivial) <= 1:
        b.emit("reshape", [ir], n.outputs[0], tuple(range(len(out_shape))), pos, shape=tuple(out_shape))
        return
    if p == NHWC and len(out_shape) == 2 and out_shape[1] == int(np.prod(in_shape[1:])):
        _, c, h, w = in_shape
        # IR element j (h, w, c order) is ONNX element order[j] (c, h, w order)
        order = np.arange(c * h * w).reshape(c, h, w).transpose(1, 2, 0).reshape(-1)
        b.emit("reshape", [ir], n.outputs[0], (0, 1), pos, flat=order, shape=tuple(out_shape))
        return
    raise unsupported(n, pos, f"reshapes a channels-first tensor {list(in_shape)} to {list(out_shape)} in a way "
                              "that needs a run-time transpose; flatten it (to [N, C*H*W]) or pool it first")


def _binary(b: _Builder, n: Node, pos: int) -> None:
    g = b.g
    a_name, c_name = n.inputs
    consts = [g.consts.get(a_name), g.consts.get(c_name)]
    if consts[0] is not None and consts[1] is not None:
        raise unsupported(n, pos, "combines two constants")
    if consts[0] is None and consts[1] is None:
        ia, ic = b.get(a_name, n, pos), b.get(c_name, n, pos)
        if ia[1] != ic[1] or (ia[2] is None) != (ic[2] is None) or b.shapes[ia[0]] != b.shapes[ic[0]]:
            raise unsupported(n, pos, "combines tensors of different shapes or layouts")
        b.emit(n.op.lower(), [ia[0], ic[0]], n.outputs[0], ia[1], pos, ia[2])
        return
    tensor, const = (a_name, consts[1]) if consts[1] is not None else (c_name, consts[0])
    ir, p, flat = b.get(tensor, n, pos)
    full = np.broadcast_to(np.asarray(const, np.float32), g.shapes[tensor])
    value = full.transpose(p)
    if flat is not None:
        value = value[:, flat]
    op = b.emit(n.op.lower(), [ir], n.outputs[0], p, pos, flat)
    op.consts["constant"] = np.ascontiguousarray(value)
    if (c_name if consts[1] is not None else a_name) in b.qconsts:
        op.qconsts["constant"] = b.qconsts[c_name if consts[1] is not None else a_name]
