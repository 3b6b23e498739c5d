"""Read an ONNX model for import: static shapes, constants, the operators we can map, and onnxruntime.

The graph is run once by onnxruntime with a batch of one and every
intermediate tensor as an output: that gives each tensor's static shape and
the value of every shape computation (Shape -> Gather -> Concat -> Reshape
chains), so importers never re-implement ONNX shape inference.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgeloop import require
from edgeloop.models.importers.errors import ModelImportError, UnsupportedOperatorError

# ONNX operators the importers map onto the compiler's operators.
SUPPORTED = ("Conv", "Gemm", "MatMul", "Add", "Mul", "Relu", "Clip (as ReLU/ReLU6)", "Sigmoid", "Softmax",
             "MaxPool", "AveragePool", "GlobalAveragePool", "ReduceMean (over H, W)", "BatchNormalization "
             "(after Conv/Gemm)", "Flatten", "Reshape", "Squeeze", "Unsqueeze", "Transpose", "Concat", "Pad",
             "Identity", "Dropout", "QuantizeLinear/DequantizeLinear (QDQ)")
# The usual replacement, where a common operator has one the compiler runs.
REPLACEMENTS = {
    "HardSwish": "ReLU6 (the compiler has no HARD_SWISH; x*ReLU6(x+3)/6 is fused back into it by converters)",
    "HardSigmoid": "ReLU6 or Sigmoid", "LeakyRelu": "ReLU", "PRelu": "ReLU", "Elu": "ReLU", "Selu": "ReLU",
    "Gelu": "ReLU", "Mish": "ReLU", "Tanh": "Sigmoid (scaled) or ReLU6", "Softplus": "ReLU",
    "ConvTranspose": "Resize + Conv or a strided Conv in the decoder", "LSTM": "Conv1D over the window",
    "GRU": "Conv1D over the window", "Resize": "a strided Conv or pooling", "Upsample": "a strided Conv",
    "InstanceNormalization": "BatchNormalization (folded into the Conv)", "LayerNormalization":
        "BatchNormalization (folded into the Conv)", "Div": "Mul by the reciprocal constant", "Sub": "Add of the "
        "negated constant", "ReduceMax": "MaxPool over the whole map",
}
_SHAPE_OPS = {"Shape", "Gather", "Cast", "Slice", "Concat", "Unsqueeze", "Squeeze", "Constant", "ConstantOfShape",
              "Range", "Mul", "Add", "Div", "Sub", "Equal", "Where", "Expand", "ReduceProd"}


def _onnx():
    onnx = require("onnx", needed_for="importing ONNX models")
    return onnx, require("onnx.numpy_helper")


def _ort():
    return require("onnxruntime", needed_for="importing ONNX models")


def is_qdq(path: Path) -> bool:
    """True when the ONNX graph holds QuantizeLinear/DequantizeLinear nodes (a QDQ-quantized model)."""
    onnx, _ = _onnx()
    try:
        model = onnx.load(str(path))
    except Exception as exc:
        raise ModelImportError(f"{path} is not a readable ONNX file ({str(exc)[:200]})") from None
    ops = {n.op_type for n in model.graph.node}
    if ops & {"QLinearConv", "QLinearMatMul", "ConvInteger", "MatMulInteger"}:
        raise ModelImportError(f"{path} is quantized in the QOperator format (QLinearConv...); export it in the "
                               "QDQ format (onnxruntime.quantization: quant_format=QuantFormat.QDQ)")
    return bool(ops & {"QuantizeLinear", "DequantizeLinear"})


@dataclass
class Node:
    """One ONNX node with its attributes decoded to Python values."""

    index: int
    op: str
    name: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict = field(default_factory=dict)


@dataclass
class OnnxGraph:
    """The graph of a single-input, single-output ONNX model with static shapes (batch 1)."""

    path: Path
    nodes: list[Node]
    consts: dict[str, np.ndarray]        # initializers and Constant node outputs
    shapes: dict[str, tuple[int, ...]]   # every tensor's shape at batch 1
    values: dict[str, np.ndarray]        # every tensor's value for a zero input (shape computations)
    input: str
    input_shape: tuple[int, ...]         # with the batch of one
    output: str
    ort_fn: Callable[[np.ndarray], np.ndarray]

    def producer(self) -> dict[str, Node]:
        return {o: n for n in self.nodes for o in n.outputs}

    def consumers(self) -> dict[str, list[Node]]:
        out: dict[str, list[Node]] = {}
        for n in self.nodes:
            for i in n.inputs:
                if i:
                    out.setdefault(i, []).append(n)
        return out


def load_graph(path: Path) -> OnnxGraph:
    """Load `path`, fix the batch to 1 and learn every tensor's shape by running it once."""
    onnx, numpy_helper = _onnx()
    ort = _ort()
    model = onnx.load(str(path))
    g = model.graph
    inits = {i.name for i in g.initializer}
    inputs = [i for i in g.input if i.name not in inits]
    if len(inputs) != 1 or len(g.output) != 1:
        raise ModelImportError(f"{path} has {len(inputs)} inputs and {len(g.output)} outputs; supported: exactly "
                               "one of each")
    dims = []
    for d in inputs[0].type.tensor_type.shape.dim:
        dims.append(d.dim_value if d.dim_value > 0 else 1)  # a symbolic batch (or any free dim) becomes 1
    if inputs[0].type.tensor_type.elem_type != 1:
        raise ModelImportError(f"{path}: the input {inputs[0].name!r} is not float32; supported: float32 inputs")
    consts = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    nodes = []
    for k, n in enumerate(g.node):
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
        if n.op_type == "Constant":
            consts[n.output[0]] = numpy_helper.to_array(attrs["value"]) if "value" in attrs else \
                np.asarray(next(iter(attrs.values())))
            continue
        nodes.append(Node(k, n.op_type, n.name, list(n.input), list(n.output), attrs))
    # Run once with every intermediate tensor as an output.
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    known = {o.name for o in probe.graph.output}
    for n in nodes:
        for o in n.outputs:
            if o and o not in known:
                probe.graph.output.append(onnx.helper.make_empty_tensor_value_info(o))
                known.add(o)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.log_severity_level = 3
    try:
        sess = ort.InferenceSession(probe.SerializeToString(), options, providers=["CPUExecutionProvider"])
        names = [o.name for o in sess.get_outputs()]
        outs = sess.run(names, {inputs[0].name: np.zeros(dims, np.float32)})
    except Exception as exc:
        raise ModelImportError(f"onnxruntime cannot run {path} ({str(exc)[:300]})") from None
    values = dict(zip(names, outs))
    shapes = {k: tuple(int(d) for d in np.shape(v)) for k, v in values.items()}
    shapes[inputs[0].name] = tuple(dims)
    shapes.update({k: tuple(v.shape) for k, v in consts.items()})
    return OnnxGraph(Path(path), nodes, consts, shapes, values, inputs[0].name, tuple(dims), g.output[0].name,
                     ort_runner(path, inputs[0].name, tuple(dims)))


def ort_runner(path: Path, input_name: str, shape: tuple[int, ...]) -> Callable[[np.ndarray], np.ndarray]:
    """onnxruntime on the file as it is: the float reference for (N, *shape[1:]) inputs, one at a time."""
    ort = _ort()
    options = ort.SessionOptions()
    options.log_severity_level = 3
    sess = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def run(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float32)
        return np.stack([sess.run(None, {input_name: row.reshape(shape)})[0] for row in x])

    return run


def ort_tensor_runner(path: Path, input_name: str, shape: tuple[int, ...],
                      names: dict[str, tuple[str, tuple[int, ...], np.ndarray | None]]
                      ) -> Callable[[np.ndarray], dict[str, np.ndarray]]:
    """onnxruntime returning chosen intermediate tensors in channels-last form: {our name: (N, ...) array}.

    `names` maps our tensor name to (ONNX tensor, axis permutation, flattened element order or None).
    """
    onnx, _ = _onnx()
    ort = _ort()
    model = onnx.load(str(path))
    present = {o.name for o in model.graph.output}
    for onnx_name, _, _ in names.values():
        if onnx_name not in present:
            model.graph.output.append(onnx.helper.make_empty_tensor_value_info(onnx_name))
            present.add(onnx_name)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.log_severity_level = 3
    sess = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    wanted = sorted({onnx_name for onnx_name, _, _ in names.values()})

    def run(x: np.ndarray) -> dict[str, np.ndarray]:
        rows: dict[str, list[np.ndarray]] = {}
        for row in np.asarray(x, np.float32):
            values = dict(zip(wanted, sess.run(wanted, {input_name: row.reshape(shape)})))
            for ours, (onnx_name, perm, flat) in names.items():
                v = values[onnx_name].transpose(perm)
                rows.setdefault(ours, []).append(v[:, flat] if flat is not None else v)
        return {k: np.concatenate(v) for k, v in rows.items()}

    return run


def unsupported(node: Node, position: int, detail: str = "") -> UnsupportedOperatorError:
    """The error for an operator (or a use of one) the compiler cannot run: layer, alternatives, replacement."""
    hint = REPLACEMENTS.get(node.op)
    text = (f"layer {position} ({node.op}{' ' + repr(node.name) if node.name else ''}) "
            + (detail if detail else "is not supported") + f"; supported ONNX operators: {', '.join(SUPPORTED)}")
    if hint:
        text += f"; the usual replacement: {hint}"
    return UnsupportedOperatorError(text)
