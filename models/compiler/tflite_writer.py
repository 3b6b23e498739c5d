"""Write small TFLite flatbuffers directly (one or a few operators, exact quantization).

Tests use it to generate thousands of single-operator models with random
shapes and quantization parameters in milliseconds, something the Keras
converter cannot do. Field numbers follow TensorFlow's schema.fbs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeloop import require

flatbuffers = require("flatbuffers", needed_for="writing .tflite files")

TYPE_CODES = {"float32": 0, "int32": 2, "int64": 4, "int8": 9, "uint8": 3, "int16": 7}
OPCODES = {"ADD": 0, "AVERAGE_POOL_2D": 1, "CONCATENATION": 2, "CONV_2D": 3, "DEPTHWISE_CONV_2D": 4,
           "DEQUANTIZE": 6, "FULLY_CONNECTED": 9, "LOGISTIC": 14, "MAX_POOL_2D": 17, "MUL": 18,
           "RESHAPE": 22, "SOFTMAX": 25, "PAD": 34, "MEAN": 40, "QUANTIZE": 114, "TANH": 28,
           "SUB": 41, "RELU": 19, "RELU6": 21, "SPACE_TO_BATCH_ND": 38, "BATCH_TO_SPACE_ND": 37}
# BuiltinOptions union member -> (type code, {field name: (slot, kind, default)})
OPTIONS = {
    "Conv2DOptions": (1, {"padding": (0, "b", 0), "stride_w": (1, "i", 0), "stride_h": (2, "i", 0),
                          "activation": (3, "b", 0), "dilation_w": (4, "i", 1), "dilation_h": (5, "i", 1)}),
    "DepthwiseConv2DOptions": (2, {"padding": (0, "b", 0), "stride_w": (1, "i", 0), "stride_h": (2, "i", 0),
                                   "depth_multiplier": (3, "i", 0), "activation": (4, "b", 0),
                                   "dilation_w": (5, "i", 1), "dilation_h": (6, "i", 1)}),
    "Pool2DOptions": (5, {"padding": (0, "b", 0), "stride_w": (1, "i", 0), "stride_h": (2, "i", 0),
                          "filter_w": (3, "i", 0), "filter_h": (4, "i", 0), "activation": (5, "b", 0)}),
    "FullyConnectedOptions": (8, {"activation": (0, "b", 0), "keep_num_dims": (2, "B", 0)}),
    "SoftmaxOptions": (9, {"beta": (0, "f", 0.0)}),
    "ConcatenationOptions": (10, {"axis": (0, "i", 0), "activation": (1, "b", 0)}),
    "AddOptions": (11, {"activation": (0, "b", 0)}),
    "ReshapeOptions": (17, {}),
    "MulOptions": (21, {"activation": (0, "b", 0)}),
    "ReducerOptions": (27, {"keep_dims": (0, "B", 0)}),
}
PADDING = {"SAME": 0, "VALID": 1}
ACT = {"NONE": 0, "RELU": 1, "RELU_N1_TO_1": 2, "RELU6": 3, "TANH": 4}


@dataclass
class _T:
    shape: tuple[int, ...]
    dtype: str
    scale: list[float] | None
    zero_point: list[int] | None
    axis: int
    data: np.ndarray | None
    name: str


@dataclass
class _Op:
    name: str
    inputs: list[int]
    outputs: list[int]
    options: tuple[str, dict] | None


class ModelBuilder:
    """Accumulate tensors and operators, then `build()` the .tflite bytes."""

    def __init__(self) -> None:
        self.tensors: list[_T] = []
        self.ops: list[_Op] = []

    def tensor(self, shape, dtype: str = "int8", scale=None, zero_point=None, *, axis: int = 0,
               data: np.ndarray | None = None, name: str | None = None) -> int:
        if scale is not None and np.ndim(scale) == 0:
            scale = [float(scale)]
        if zero_point is not None and np.ndim(zero_point) == 0:
            zero_point = [int(zero_point)]
        if scale is not None and zero_point is None:
            zero_point = [0] * len(scale)
        self.tensors.append(_T(tuple(int(d) for d in shape), dtype, scale, zero_point, axis,
                               None if data is None else np.ascontiguousarray(data), name or f"t{len(self.tensors)}"))
        return len(self.tensors) - 1

    def op(self, name: str, inputs: list[int], outputs: list[int], options: str | None = None, **fields) -> None:
        self.ops.append(_Op(name, list(inputs), list(outputs), (options, fields) if options else None))

    def build(self, inputs: list[int], outputs: list[int]) -> bytes:
        b = flatbuffers.Builder(4096)
        b.ForceDefaults(True)  # write every field given, even when it equals the schema default
        codes = sorted({o.name for o in self.ops}, key=list(OPCODES).index)

        def ivec(values) -> int:
            return b.CreateNumpyVector(np.asarray(values, np.int32))

        # Buffers: 0 is the empty sentinel, then one per constant tensor.
        buffer_offsets = []
        empty = _table(b, [])
        buffer_offsets.append(empty)
        tensor_buffer = {}
        for i, t in enumerate(self.tensors):
            if t.data is not None:
                raw = t.data.astype(_np_dtype(t.dtype)).tobytes()
                b.StartVector(1, len(raw), 16)
                for byte in reversed(raw):
                    b.PrependByte(byte)
                vec = b.EndVector()
                buffer_offsets.append(_table(b, [(0, "off", vec)]))
                tensor_buffer[i] = len(buffer_offsets) - 1

        tensor_offsets = []
        for i, t in enumerate(self.tensors):
            name = b.CreateString(t.name)
            shape = ivec(t.shape)
            quant = 0
            if t.scale is not None:
                sc = b.CreateNumpyVector(np.asarray(t.scale, np.float32))
                zp = b.CreateNumpyVector(np.asarray(t.zero_point, np.int64))
                quant = _table(b, [(2, "off", sc), (3, "off", zp), (6, "i", t.axis)])
            fields = [(0, "off", shape), (1, "b", TYPE_CODES[t.dtype]), (2, "I", tensor_buffer.get(i, 0)),
                      (3, "off", name)]
            if quant:
                fields.append((4, "off", quant))
            tensor_offsets.append(_table(b, fields))

        op_offsets = []
        for o in self.ops:
            fields = [(0, "I", codes.index(o.name)), (1, "off", ivec(o.inputs)), (2, "off", ivec(o.outputs))]
            if o.options is not None:
                oname, values = o.options
                type_code, spec = OPTIONS[oname]
                ofields = []
                for key, v in values.items():
                    slot, kind, _ = spec[key]
                    if key == "padding":
                        v = PADDING[v]
                    elif key == "activation":
                        v = ACT[v]
                    ofields.append((slot, kind, v))
                fields += [(3, "B", type_code), (4, "off", _table(b, ofields))]
            op_offsets.append(_table(b, fields))

        sg = _table(b, [(0, "off", _offvec(b, tensor_offsets)), (1, "off", ivec(inputs)),
                        (2, "off", ivec(outputs)), (3, "off", _offvec(b, op_offsets)),
                        (4, "off", b.CreateString("main"))])
        opcode_offsets = []
        for c in codes:
            code = OPCODES[c]
            opcode_offsets.append(_table(b, [(0, "b", min(code, 127)), (2, "i", 1), (3, "i", code)]))
        root = _table(b, [(0, "I", 3), (1, "off", _offvec(b, opcode_offsets)),
                          (2, "off", _offvec(b, [sg])), (3, "off", b.CreateString("edgeloop test model")),
                          (4, "off", _offvec(b, buffer_offsets))])
        b.Finish(root, file_identifier=b"TFL3")
        return bytes(b.Output())


def _np_dtype(name: str) -> np.dtype:
    return np.dtype({"float32": "<f4", "int32": "<i4", "int64": "<i8", "int8": "i1", "uint8": "u1",
                     "int16": "<i2"}[name])


def _offvec(b: flatbuffers.Builder, offsets: list[int]) -> int:
    b.StartVector(4, len(offsets), 4)
    for off in reversed(offsets):
        b.PrependUOffsetTRelative(off)
    return b.EndVector()


def _table(b: flatbuffers.Builder, fields: list[tuple[int, str, object]]) -> int:
    n = max((slot for slot, _, _ in fields), default=-1) + 1
    b.StartObject(n)
    for slot, kind, v in fields:
        if kind == "off":
            b.PrependUOffsetTRelativeSlot(slot, v, 0)
        elif kind == "b":
            b.PrependInt8Slot(slot, int(v), 0)
        elif kind == "B":
            b.PrependUint8Slot(slot, int(v), 0)
        elif kind == "i":
            b.PrependInt32Slot(slot, int(v), 0)
        elif kind == "I":
            b.PrependUint32Slot(slot, int(v), 0)
        elif kind == "f":
            b.PrependFloat32Slot(slot, float(v), 0.0)
        else:
            raise ValueError(kind)
    return b.EndObject()
