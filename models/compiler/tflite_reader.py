"""A minimal reader of the TFLite flatbuffer schema: just the tables the compiler needs.

It reads the binary layout directly (vtables, offsets, vectors) with bounds
checks, so a truncated or foreign file raises `TFLiteFormatError` instead of
crashing or returning garbage. Field numbers follow TensorFlow's schema.fbs.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np

from edgeloop.models.compiler.errors import TFLiteFormatError

# TensorType enum of schema.fbs -> (name, numpy dtype or None when unsupported here).
TENSOR_TYPES: dict[int, tuple[str, np.dtype | None]] = {
    0: ("float32", np.dtype("<f4")),
    1: ("float16", np.dtype("<f2")),
    2: ("int32", np.dtype("<i4")),
    3: ("uint8", np.dtype("u1")),
    4: ("int64", np.dtype("<i8")),
    5: ("string", None),
    6: ("bool", np.dtype("u1")),
    7: ("int16", np.dtype("<i2")),
    8: ("complex64", None),
    9: ("int8", np.dtype("i1")),
    10: ("float64", np.dtype("<f8")),
}

# BuiltinOperator codes (schema.fbs) for names in messages and the ops we compile.
BUILTIN_NAMES: dict[int, str] = {
    0: "ADD", 1: "AVERAGE_POOL_2D", 2: "CONCATENATION", 3: "CONV_2D", 4: "DEPTHWISE_CONV_2D",
    5: "DEPTH_TO_SPACE", 6: "DEQUANTIZE", 7: "EMBEDDING_LOOKUP", 8: "FLOOR", 9: "FULLY_CONNECTED",
    10: "HASHTABLE_LOOKUP", 11: "L2_NORMALIZATION", 12: "L2_POOL_2D",
    13: "LOCAL_RESPONSE_NORMALIZATION", 14: "LOGISTIC", 15: "LSH_PROJECTION", 16: "LSTM",
    17: "MAX_POOL_2D", 18: "MUL", 19: "RELU", 20: "RELU_N1_TO_1", 21: "RELU6", 22: "RESHAPE",
    23: "RESIZE_BILINEAR", 24: "RNN", 25: "SOFTMAX", 26: "SPACE_TO_DEPTH", 27: "SVDF", 28: "TANH",
    32: "CUSTOM", 34: "PAD", 36: "GATHER", 37: "BATCH_TO_SPACE_ND", 38: "SPACE_TO_BATCH_ND",
    39: "TRANSPOSE", 40: "MEAN", 41: "SUB", 42: "DIV", 43: "SQUEEZE",
    44: "UNIDIRECTIONAL_SEQUENCE_LSTM", 45: "STRIDED_SLICE", 47: "EXP", 49: "SPLIT",
    50: "LOG_SOFTMAX", 53: "CAST", 54: "PRELU", 55: "MAXIMUM", 56: "ARG_MAX", 57: "MINIMUM",
    60: "PADV2", 65: "SLICE", 67: "TRANSPOSE_CONV", 70: "EXPAND_DIMS", 74: "SUM", 82: "REDUCE_MAX",
    83: "PACK", 88: "UNPACK", 97: "RESIZE_NEAREST_NEIGHBOR", 98: "LEAKY_RELU", 102: "SPLIT_V",
    114: "QUANTIZE", 117: "HARD_SWISH", 126: "BATCH_MATMUL",
}


class _Table:
    """A flatbuffer table at `pos` in `buf`, with bounds-checked field access."""

    __slots__ = ("buf", "pos", "_vt", "_vt_len")

    def __init__(self, buf: bytes, pos: int) -> None:
        self.buf = buf
        self.pos = pos
        vt = pos - _unpack("<i", buf, pos)
        self._vt = vt
        self._vt_len = _unpack("<H", buf, vt)

    def _field(self, index: int) -> int:
        slot = 4 + 2 * index
        if slot + 2 > self._vt_len:
            return 0
        off = _unpack("<H", self.buf, self._vt + slot)
        return self.pos + off if off else 0

    def has(self, index: int) -> bool:
        return self._field(index) != 0

    def scalar(self, index: int, fmt: str, default: int | float | bool = 0):
        at = self._field(index)
        return _unpack("<" + fmt, self.buf, at) if at else default

    def table(self, index: int) -> _Table | None:
        at = self._field(index)
        return _Table(self.buf, at + _unpack("<I", self.buf, at)) if at else None

    def _vector(self, index: int) -> tuple[int, int] | None:
        at = self._field(index)
        if not at:
            return None
        start = at + _unpack("<I", self.buf, at)
        n = _unpack("<I", self.buf, start)
        return start + 4, n

    def string(self, index: int) -> str:
        vec = self._vector(index)
        if vec is None:
            return ""
        start, n = vec
        _check_range(self.buf, start, n)
        return self.buf[start:start + n].decode("utf-8", errors="replace")

    def array(self, index: int, dtype: str) -> np.ndarray:
        vec = self._vector(index)
        dt = np.dtype(dtype)
        if vec is None:
            return np.zeros(0, dt)
        start, n = vec
        _check_range(self.buf, start, n * dt.itemsize)
        return np.frombuffer(self.buf, dt, n, start).copy()

    def tables(self, index: int) -> list[_Table]:
        vec = self._vector(index)
        if vec is None:
            return []
        start, n = vec
        _check_range(self.buf, start, 4 * n)
        return [_Table(self.buf, start + 4 * i + _unpack("<I", self.buf, start + 4 * i)) for i in range(n)]

    def raw_bytes(self, index: int) -> bytes:
        vec = self._vector(index)
        if vec is None:
            return b""
        start, n = vec
        _check_range(self.buf, start, n)
        return self.buf[start:start + n]


def _check_range(buf: bytes, start: int, length: int) -> None:
    if start < 0 or length < 0 or start + length > len(buf):
        raise TFLiteFormatError(
            f"offset {start}+{length} lies outside the {len(buf)}-byte file: the .tflite file is "
            "truncated or corrupt; re-export it from the converter")


def _unpack(fmt: str, buf: bytes, at: int):
    try:
        if at < 0:
            raise struct.error("negative offset")
        return struct.unpack_from(fmt, buf, at)[0]
    except struct.error as exc:
        raise TFLiteFormatError(
            f"cannot read {fmt} at offset {at} of a {len(buf)}-byte file ({exc}): the .tflite "
            "file is truncated or corrupt; re-export it from the converter") from None


@dataclass(frozen=True)
class Quantization:
    """Per-tensor (one entry) or per-axis quantization parameters."""

    scale: np.ndarray            # float32
    zero_point: np.ndarray       # int64
    axis: int = 0

    @property
    def per_tensor(self) -> bool:
        return self.scale.size == 1


@dataclass
class Tensor:
    """One tensor of the graph; `data` holds constant contents (None for activations)."""

    index: int
    name: str
    shape: tuple[int, ...]
    type_code: int
    quant: Quantization | None
    data: np.ndarray | None = None

    @property
    def dtype_name(self) -> str:
        return TENSOR_TYPES.get(self.type_code, (f"type{self.type_code}", None))[0]

    @property
    def np_dtype(self) -> np.dtype | None:
        return TENSOR_TYPES.get(self.type_code, ("", None))[1]

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    @property
    def nbytes(self) -> int:
        dt = self.np_dtype
        return self.size * (dt.itemsize if dt is not None else 0)


@dataclass
class Operator:
    """One operator: builtin code, tensor indices and its raw options table."""

    index: int
    code: int
    custom_code: str
    version: int
    inputs: list[int]
    outputs: list[int]
    options: _Table | None = field(repr=False, default=None)

    @property
    def name(self) -> str:
        if self.code == 32:
            return f"CUSTOM({self.custom_code})"
        return BUILTIN_NAMES.get(self.code, f"BUILTIN_{self.code}")

    def opt(self, index: int, fmt: str, default: int | float | bool = 0):
        """Scalar field `index` of the builtin options table, or its schema default."""
        return self.options.scalar(index, fmt, default) if self.options is not None else default

    def opt_array(self, index: int, dtype: str) -> np.ndarray:
        return self.options.array(index, dtype) if self.options is not None else np.zeros(0, dtype)


@dataclass
class TFLiteModel:
    """The first subgraph of a .tflite file, with constant buffers resolved."""

    version: int
    description: str
    tensors: list[Tensor]
    operators: list[Operator]
    inputs: list[int]
    outputs: list[int]
    subgraph_count: int


def read_tflite(data: bytes) -> TFLiteModel:
    """Parse .tflite bytes. Raises TFLiteFormatError for anything that is not a valid TFLite file."""
    if len(data) < 8:
        raise TFLiteFormatError(f"file of {len(data)} bytes is too short to be a .tflite model")
    if data[4:8] != b"TFL3":
        raise TFLiteFormatError(
            f"missing the TFLite file identifier 'TFL3' (found {data[4:8]!r}): this is not a "
            ".tflite flatbuffer; convert the model with tf.lite.TFLiteConverter")
    root = _Table(data, _unpack("<I", data, 0))
    version = root.scalar(0, "I")
    opcodes = []
    for oc in root.tables(1):
        deprecated = oc.scalar(0, "b")
        code = max(int(deprecated), int(oc.scalar(3, "i")))
        opcodes.append((code, oc.string(1), int(oc.scalar(2, "i", 1))))
    buffers = []
    for b in root.tables(4):
        offset, size = int(b.scalar(1, "Q")), int(b.scalar(2, "Q"))
        if offset > 1:  # large models keep buffers after the flatbuffer
            _check_range(data, offset, size)
            buffers.append(data[offset:offset + size])
        else:
            buffers.append(b.raw_bytes(0))
    subgraphs = root.tables(2)
    if not subgraphs:
        raise TFLiteFormatError("the .tflite file has no subgraph")
    sg = subgraphs[0]

    tensors = []
    for i, t in enumerate(sg.tables(0)):
        shape = tuple(int(d) for d in t.array(0, "<i4"))
        type_code = int(t.scalar(1, "b"))
        q = t.table(4)
        quant = None
        if q is not None:
            scale = q.array(2, "<f4")
            zp = q.array(3, "<i8")
            if scale.size:
                if zp.size == 0:
                    zp = np.zeros(scale.size, np.int64)
                quant = Quantization(scale, zp, int(q.scalar(6, "i")))
        tensor = Tensor(i, t.string(3), shape, type_code, quant)
        buf_index = int(t.scalar(2, "I"))
        if buf_index >= len(buffers) and buf_index != 0:
            raise TFLiteFormatError(f"tensor {i} ({tensor.name!r}) refers to missing buffer {buf_index}")
        raw = buffers[buf_index] if buf_index < len(buffers) else b""
        if raw:
            dt = tensor.np_dtype
            if dt is None:
                raise TFLiteFormatError(f"tensor {i} ({tensor.name!r}) has constant data of unsupported type {tensor.dtype_name}")
            if len(raw) != tensor.size * dt.itemsize:
                raise TFLiteFormatError(
                    f"tensor {i} ({tensor.name!r}) has {len(raw)} bytes of data for shape {list(shape)} "
                    f"of {tensor.dtype_name}: the file is corrupt")
            tensor.data = np.frombuffer(raw, dt).reshape(shape).copy()
        tensors.append(tensor)

    operators = []
    for i, op in enumerate(sg.tables(3)):
        oi = int(op.scalar(0, "I"))
        if oi >= len(opcodes):
            raise TFLiteFormatError(f"operator {i} uses opcode {oi}, but the file defines {len(opcodes)}")
        code, custom, ver = opcodes[oi]
        ins = [int(x) for x in op.array(1, "<i4")]
        outs = [int(x) for x in op.array(2, "<i4")]
        for t in ins + outs:
            if t >= len(tensors):
                raise TFLiteFormatError(f"operator {i} refers to tensor {t}, but the graph has {len(tensors)}")
        operators.append(Operator(i, code, custom, ver, ins, outs, op.table(4)))

    inputs = [int(x) for x in sg.array(1, "<i4")]
    outputs = [int(x) for x in sg.array(2, "<i4")]
    for t in inputs + outputs:
        if not 0 <= t < len(tensors):
            raise TFLiteFormatError(f"graph input/output tensor {t} does not exist")
    return TFLiteModel(int(version), root.string(3), tensors, operators, inputs, outputs, len(subgraphs))
