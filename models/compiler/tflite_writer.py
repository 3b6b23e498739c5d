"""Write small TFLite flatbuffers directly (one or a few operators, exact quantization).

Tests use it to generate thousands of single-operator models with random
shapes and quantization parameters in milliseconds, something the Keras
converter cannot do. Tables are written with the builder functions of the
generated schema package (`tflite`), so no field number is written by hand.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeloop import require
from edgeloop.models.compiler.tflite_reader import schema

flatbuffers = require("flatbuffers", needed_for="writing .tflite files")

TYPE_CODES = {"float32": schema.TensorType.FLOAT32, "int32": schema.TensorType.INT32,
              "int64": schema.TensorType.INT64, "int8": schema.TensorType.INT8, "uint8": schema.TensorType.UINT8,
              "int16": schema.TensorType.INT16}
OPCODES = {name: getattr(schema.BuiltinOperator, name) for name in (
    "ADD", "AVERAGE_POOL_2D", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D", "DEQUANTIZE", "FULLY_CONNECTED",
    "LOGISTIC", "MAX_POOL_2D", "MUL", "RESHAPE", "SOFTMAX", "PAD", "MEAN", "QUANTIZE", "TANH", "SUB", "RELU",
    "RELU6", "SPACE_TO_BATCH_ND", "BATCH_TO_SPACE_ND")}
# Options tables the builder writes: their keyword -> the schema field's generated name.
OPTIONS: dict[str, dict[str, str]] = {
    "Conv2DOptions": {"padding": "Padding", "stride_w": "StrideW", "stride_h": "StrideH",
                      "activation": "FusedActivationFunction", "dilation_w": "DilationWFactor",
                      "dilation_h": "DilationHFactor"},
    "DepthwiseConv2DOptions": {"padding": "Padding", "stride_w": "StrideW", "stride_h": "StrideH",
                               "depth_multiplier": "DepthMultiplier", "activation": "FusedActivationFunction",
                               "dilation_w": "DilationWFactor", "dilation_h": "DilationHFactor"},
    "Pool2DOptions": {"padding": "Padding", "stride_w": "StrideW", "stride_h": "StrideH", "filter_w": "FilterWidth",
                      "filter_h": "FilterHeight", "activation": "FusedActivationFunction"},
    "FullyConnectedOptions": {"activation": "FusedActivationFunction", "keep_num_dims": "KeepNumDims"},
    "SoftmaxOptions": {"beta": "Beta"},
    "ConcatenationOptions": {"axis": "Axis", "activation": "FusedActivationFunction"},
    "AddOptions": {"activation": "FusedActivationFunction"},
    "ReshapeOptions": {},
    "MulOptions": {"activation": "FusedActivationFunction"},
    "ReducerOptions": {"keep_dims": "KeepDims"},
}
PADDING = {"SAME": schema.Padding.SAME, "VALID": schema.Padding.VALID}
ACT = {name: getattr(schema.ActivationFunctionType, name) for name in ("NONE", "RELU", "RELU_N1_TO_1", "RELU6",
                                                                       "TANH")}


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
        schema.BufferStart(b)
        buffer_offsets = [schema.BufferEnd(b)]
        tensor_buffer = {}
        for i, t in enumerate(self.tensors):
            if t.data is not None:
                raw = t.data.astype(_np_dtype(t.dtype)).tobytes()
                b.StartVector(1, len(raw), 16)  # 16-byte aligned, as the converter writes constants
                for byte in reversed(raw):
                    b.PrependByte(byte)
                vec = b.EndVector()
                schema.BufferStart(b)
                schema.BufferAddData(b, vec)
                buffer_offsets.append(schema.BufferEnd(b))
                tensor_buffer[i] = len(buffer_offsets) - 1

        tensor_offsets = []
        for i, t in enumerate(self.tensors):
            name = b.CreateString(t.name)
            shape = ivec(t.shape)
            quant = None
            if t.scale is not None:
                sc = b.CreateNumpyVector(np.asarray(t.scale, np.float32))
                zp = b.CreateNumpyVector(np.asarray(t.zero_point, np.int64))
                schema.QuantizationParametersStart(b)
                schema.QuantizationParametersAddScale(b, sc)
                schema.QuantizationParametersAddZeroPoint(b, zp)
                schema.QuantizationParametersAddQuantizedDimension(b, t.axis)
                quant = schema.QuantizationParametersEnd(b)
            schema.TensorStart(b)
            schema.TensorAddShape(b, shape)
            schema.TensorAddType(b, TYPE_CODES[t.dtype])
            schema.TensorAddBuffer(b, tensor_buffer.get(i, 0))
            schema.TensorAddName(b, name)
            if quant is not None:
                schema.TensorAddQuantization(b, quant)
            tensor_offsets.append(schema.TensorEnd(b))

        op_offsets = []
        for o in self.ops:
            op_inputs, op_outputs = ivec(o.inputs), ivec(o.outputs)
            options = _options_table(b, *o.options) if o.options is not None else None
            schema.OperatorStart(b)
            schema.OperatorAddOpcodeIndex(b, codes.index(o.name))
            schema.OperatorAddInputs(b, op_inputs)
            schema.OperatorAddOutputs(b, op_outputs)
            if options is not None:
                schema.OperatorAddBuiltinOptionsType(b, getattr(schema.BuiltinOptions, o.options[0]))
                schema.OperatorAddBuiltinOptions(b, options)
            op_offsets.append(schema.OperatorEnd(b))

        sg_tensors, sg_inputs, sg_outputs = _offvec(b, tensor_offsets), ivec(inputs), ivec(outputs)
        sg_operators, sg_name = _offvec(b, op_offsets), b.CreateString("main")
        schema.SubGraphStart(b)
        schema.SubGraphAddTensors(b, sg_tensors)
        schema.SubGraphAddInputs(b, sg_inputs)
        schema.SubGraphAddOutputs(b, sg_outputs)
        schema.SubGraphAddOperators(b, sg_operators)
        schema.SubGraphAddName(b, sg_name)
        sg = schema.SubGraphEnd(b)
        opcode_offsets = []
        for c in codes:
            code = OPCODES[c]
            schema.OperatorCodeStart(b)
            # Codes above 127 do not fit the deprecated int8 field; readers take the larger of the two.
            placeholder = schema.BuiltinOperator.PLACEHOLDER_FOR_GREATER_OP_CODES
            schema.OperatorCodeAddDeprecatedBuiltinCode(b, min(code, placeholder))
            schema.OperatorCodeAddVersion(b, 1)
            schema.OperatorCodeAddBuiltinCode(b, code)
            opcode_offsets.append(schema.OperatorCodeEnd(b))
        codes_vec, subgraphs = _offvec(b, opcode_offsets), _offvec(b, [sg])
        description, buffers = b.CreateString("edgeloop test model"), _offvec(b, buffer_offsets)
        schema.ModelStart(b)
        schema.ModelAddVersion(b, 3)
        schema.ModelAddOperatorCodes(b, codes_vec)
        schema.ModelAddSubgraphs(b, subgraphs)
        schema.ModelAddDescription(b, description)
        schema.ModelAddBuffers(b, buffers)
        b.Finish(schema.ModelEnd(b), file_identifier=b"TFL3")
        return bytes(b.Output())


def _np_dtype(name: str) -> np.dtype:
    return np.dtype({"float32": "<f4", "int32": "<i4", "int64": "<i8", "int8": "i1", "uint8": "u1",
                     "int16": "<i2"}[name])


def _offvec(b: flatbuffers.Builder, offsets: list[int]) -> int:
    b.StartVector(4, len(offsets), 4)
    for off in reversed(offsets):
        b.PrependUOffsetTRelative(off)
    return b.EndVector()


def _options_table(b: flatbuffers.Builder, table: str, values: dict) -> int:
    """Write builtin options `table` (e.g. Conv2DOptions) with the builder's keyword values."""
    fields = OPTIONS[table]
    getattr(schema, f"{table}Start")(b)
    for key, value in values.items():
        if key == "padding":
            value = PADDING[value]
        elif key == "activation":
            value = ACT[value]
        getattr(schema, f"{table}Add{fields[key]}")(b, value)
    return getattr(schema, f"{table}End")(b)
