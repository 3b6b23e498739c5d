"""Read .tflite files through the generated TFLite schema package (`tflite` on PyPI, the [compile] extra).

The package is flatc's output for TensorFlow's schema.fbs, so field layouts,
enum values and schema defaults come from the schema itself rather than from
slot numbers written by hand. This module adds what generated code lacks: a
file that is truncated, foreign or corrupt raises `TFLiteFormatError` (never
another exception, never an endless loop over a garbage vector length), and
constant buffers are resolved into numpy arrays of the tensor's shape.
"""

from __future__ import annotations

import functools
import inspect
import struct
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from edgeloop import require
from edgeloop.models.compiler.errors import TFLiteFormatError

schema = require("tflite", needed_for="reading .tflite models")
"""The generated TFLite schema package: tables (schema.Conv2DOptions...) and enums (schema.TensorType...)."""
_flatbuffers = require("flatbuffers", needed_for="reading .tflite models")

_NUMPY_DTYPES: dict[str, np.dtype] = {
    "FLOAT32": np.dtype("<f4"), "FLOAT16": np.dtype("<f2"), "INT32": np.dtype("<i4"), "UINT8": np.dtype("u1"),
    "INT64": np.dtype("<i8"), "BOOL": np.dtype("u1"), "INT16": np.dtype("<i2"), "INT8": np.dtype("i1"),
    "FLOAT64": np.dtype("<f8"), "UINT32": np.dtype("<u4"), "UINT16": np.dtype("<u2"), "UINT64": np.dtype("<u8"),
}


def _enum_names(enum: type) -> dict[int, str]:
    """{value: NAME} of a generated enum class."""
    return {v: k for k, v in vars(enum).items() if not k.startswith("_") and isinstance(v, int)}


TENSOR_TYPES: dict[int, tuple[str, np.dtype | None]] = {
    code: (name.lower(), _NUMPY_DTYPES.get(name)) for code, name in _enum_names(schema.TensorType).items()
}
"""TensorType code -> (name, numpy dtype or None when constants of that type are not read here)."""

BUILTIN_NAMES: dict[int, str] = _enum_names(schema.BuiltinOperator)
"""BuiltinOperator code -> name (CONV_2D...), for messages and dispatch."""

_OPTIONS_NAMES: dict[int, str] = _enum_names(schema.BuiltinOptions)
_Options = TypeVar("_Options")


def _schema_defaults(options_class: type[_Options]) -> _Options:
    """An options table with no fields: every accessor returns the schema's default."""
    builder = _flatbuffers.Builder(16)
    builder.StartObject(0)
    builder.Finish(builder.EndObject())
    return options_class.GetRootAs(bytes(builder.Output()), 0)


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
    """One operator: builtin code, tensor indices and its builtin options as the file holds them."""

    index: int
    code: int
    custom_code: str
    version: int
    inputs: list[int]
    outputs: list[int]
    options_type: int = 0  # BuiltinOptions union tag (0: none)
    _options: Any = field(repr=False, default=None)  # flatbuffers Table of the options, or None

    @property
    def name(self) -> str:
        if self.code == schema.BuiltinOperator.CUSTOM:
            return f"CUSTOM({self.custom_code})"
        return BUILTIN_NAMES.get(self.code, f"BUILTIN_{self.code}")

    def options(self, options_class: type[_Options]) -> _Options:
        """The builtin options read as `options_class` (e.g. ``schema.Conv2DOptions``).

        An operator stored without options gives the schema's defaults; options
        of another type mean a corrupt or mislabelled file (TFLiteFormatError).
        """
        if self._options is None:
            return _schema_defaults(options_class)
        expected = getattr(schema.BuiltinOptions, options_class.__name__)
        if self.options_type != expected:
            found = _OPTIONS_NAMES.get(self.options_type, f"options type {self.options_type}")
            raise TFLiteFormatError(f"operator {self.index} ({self.name}) carries {found}, not "
                                    f"{options_class.__name__}: the .tflite file is corrupt")
        options = options_class()
        options.Init(self._options.Bytes, self._options.Pos)
        return options


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


# Generated code reads whatever the offsets point at: these are what it raises on a corrupt file.
_CORRUPTION = (struct.error, IndexError, ValueError, TypeError, OverflowError, AttributeError)


def read_tflite(data: bytes) -> TFLiteModel:
    """Parse .tflite bytes. Raises TFLiteFormatError for anything that is not a valid TFLite file."""
    data = bytes(data)
    if len(data) < 8:
        raise TFLiteFormatError(f"file of {len(data)} bytes is too short to be a .tflite model")
    if not schema.Model.ModelBufferHasIdentifier(data, 0):
        raise TFLiteFormatError(
            f"missing the TFLite file identifier 'TFL3' (found {data[4:8]!r}): this is not a "
            ".tflite flatbuffer; convert the model with tf.lite.TFLiteConverter")
    try:
        return _read_model(data)
    except TFLiteFormatError:
        raise
    except _CORRUPTION as exc:
        raise TFLiteFormatError(f"cannot read the .tflite file ({type(exc).__name__}: {exc}): it is truncated "
                                "or corrupt; re-export it from the converter") from None


def _count(n: int, item_bytes: int, data: bytes, what: str) -> int:
    """`n` when that many items of `item_bytes` can fit in the file; a garbage length fails here, not in a loop."""
    if n < 0 or n * item_bytes > len(data):
        raise TFLiteFormatError(f"the file claims {n} {what}, more than its {len(data)} bytes can hold: "
                                "the .tflite file is truncated or corrupt; re-export it from the converter")
    return n


def _ints(array: Any) -> list[int]:
    """A generated `...AsNumpy()` result (0 when the vector is absent) as a list of ints."""
    return [] if isinstance(array, int) else [int(v) for v in array]


def _text(raw: bytes | None) -> str:
    return raw.decode("utf-8", errors="replace") if raw else ""


def _check_range(data: bytes, start: int, length: int) -> None:
    if start < 0 or length < 0 or start + length > len(data):
        raise TFLiteFormatError(
            f"offset {start}+{length} lies outside the {len(data)}-byte file: the .tflite file is "
            "truncated or corrupt; re-export it from the converter")


@functools.cache
def _field_readers(options_class: type) -> tuple[str, ...]:
    """Names of the generated zero-argument field accessors of an options table class."""
    skip = {"Init", "GetRootAs"}
    return tuple(name for name, fn in vars(options_class).items()
                 if callable(fn) and not name.startswith("_") and name not in skip
                 and not name.startswith("GetRootAs") and not name.endswith("BufferHasIdentifier")
                 and list(inspect.signature(fn).parameters) == ["self"])


def _read_every_field(options_type: int, table: Any) -> None:
    """Read each field of an operator's options once, so a corrupt table fails while the file is read."""
    name = _OPTIONS_NAMES.get(options_type)
    options_class = getattr(schema, name, None) if name else None
    if options_class is None:
        return  # an unknown union tag: Operator.options() refuses it when asked
    options = options_class()
    options.Init(table.Bytes, table.Pos)
    for reader in _field_readers(options_class):
        getattr(options, reader)()


def _read_model(data: bytes) -> TFLiteModel:
    model = schema.Model.GetRootAs(data, 0)
    opcodes = []
    for i in range(_count(model.OperatorCodesLength(), 4, data, "operator codes")):
        oc = model.OperatorCodes(i)
        # Codes above 127 live in builtin_code; older files only fill the deprecated int8 field.
        code = max(int(oc.DeprecatedBuiltinCode()), int(oc.BuiltinCode()))
        opcodes.append((code, _text(oc.CustomCode()), int(oc.Version())))
    buffers = []
    for i in range(_count(model.BuffersLength(), 4, data, "buffers")):
        b = model.Buffers(i)
        offset, size = int(b.Offset()), int(b.Size())
        if offset > 1:  # large models keep buffers after the flatbuffer
            _check_range(data, offset, size)
            buffers.append(data[offset:offset + size])
        else:
            raw = b.DataAsNumpy()
            buffers.append(b"" if isinstance(raw, int) else raw.tobytes())
    n_subgraphs = _count(model.SubgraphsLength(), 4, data, "subgraphs")
    if not n_subgraphs:
        raise TFLiteFormatError("the .tflite file has no subgraph")
    sg = model.Subgraphs(0)

    tensors = []
    for i in range(_count(sg.TensorsLength(), 4, data, "tensors")):
        t = sg.Tensors(i)
        shape = tuple(_ints(t.ShapeAsNumpy()))
        q = t.Quantization()
        quant = None
        if q is not None and q.ScaleLength():
            scale = np.asarray(q.ScaleAsNumpy(), np.float32)
            zp = np.zeros(scale.size, np.int64) if q.ZeroPointIsNone() else np.asarray(q.ZeroPointAsNumpy(), np.int64)
            quant = Quantization(scale, zp, int(q.QuantizedDimension()))
        tensor = Tensor(i, _text(t.Name()), shape, int(t.Type()), quant)
        buf_index = int(t.Buffer())
        if buf_index >= len(buffers) and buf_index != 0:
            raise TFLiteFormatError(f"tensor {i} ({tensor.name!r}) refers to missing buffer {buf_index}")
        raw = buffers[buf_index] if buf_index < len(buffers) else b""
        if raw:
            dt = tensor.np_dtype
            if dt is None:
                raise TFLiteFormatError(f"tensor {i} ({tensor.name!r}) has constant data of unsupported type "
                                        f"{tensor.dtype_name}")
            if len(raw) != tensor.size * dt.itemsize:
                raise TFLiteFormatError(
                    f"tensor {i} ({tensor.name!r}) has {len(raw)} bytes of data for shape {list(shape)} "
                    f"of {tensor.dtype_name}: the file is corrupt")
            tensor.data = np.frombuffer(raw, dt).reshape(shape).copy()
        tensors.append(tensor)

    operators = []
    for i in range(_count(sg.OperatorsLength(), 4, data, "operators")):
        op = sg.Operators(i)
        oi = int(op.OpcodeIndex())
        if oi >= len(opcodes):
            raise TFLiteFormatError(f"operator {i} uses opcode {oi}, but the file defines {len(opcodes)}")
        code, custom, version = opcodes[oi]
        ins, outs = _ints(op.InputsAsNumpy()), _ints(op.OutputsAsNumpy())
        for t in ins + outs:
            if t >= len(tensors):
                raise TFLiteFormatError(f"operator {i} refers to tensor {t}, but the graph has {len(tensors)}")
        options_type, options = int(op.BuiltinOptionsType()), op.BuiltinOptions()
        if options is not None:
            _read_every_field(options_type, options)
        operators.append(Operator(i, code, custom, version, ins, outs, options_type, options))

    inputs, outputs = _ints(sg.InputsAsNumpy()), _ints(sg.OutputsAsNumpy())
    for t in inputs + outputs:
        if not 0 <= t < len(tensors):
            raise TFLiteFormatError(f"graph input/output tensor {t} does not exist")
    return TFLiteModel(int(model.Version()), _text(model.Description()), tensors, operators, inputs, outputs,
                       n_subgraphs)
