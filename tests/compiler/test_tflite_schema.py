"""The .tflite reader and writer go through the generated schema package; corrupt files fail cleanly."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from edgeloop.models.compiler import TFLiteFormatError
from edgeloop.models.compiler.tflite_reader import read_tflite, schema
from edgeloop.models.compiler.tflite_writer import ModelBuilder


def _conv_model(**options) -> bytes:
    b = ModelBuilder()
    x = b.tensor((1, 6, 6, 2), scale=0.5, zero_point=-3)
    w = b.tensor((4, 3, 3, 2), scale=[0.1, 0.2, 0.3, 0.4], axis=0, data=np.ones((4, 3, 3, 2), np.int8))
    y = b.tensor((1, 3, 3, 4), scale=0.25, zero_point=1)
    b.op("CONV_2D", [x, w], [y], "Conv2DOptions" if options else None, **options)
    return b.build([x], [y])


def test_written_options_read_back_through_the_schema() -> None:
    model = read_tflite(_conv_model(padding="SAME", stride_w=2, stride_h=2, activation="RELU6", dilation_w=1,
                                    dilation_h=1))
    (op,) = model.operators
    assert op.name == "CONV_2D" and op.code == schema.BuiltinOperator.CONV_2D
    o = op.options(schema.Conv2DOptions)
    assert (o.Padding(), o.StrideW(), o.StrideH()) == (schema.Padding.SAME, 2, 2)
    assert o.FusedActivationFunction() == schema.ActivationFunctionType.RELU6
    w = model.tensors[1]
    assert w.dtype_name == "int8" and w.quant.axis == 0 and w.quant.scale.tolist() == pytest.approx([.1, .2, .3, .4])
    assert w.data.shape == (4, 3, 3, 2) and int(w.data.sum()) == 72


def test_missing_options_give_the_schema_defaults() -> None:
    (op,) = read_tflite(_conv_model()).operators
    o = op.options(schema.Conv2DOptions)
    assert (o.DilationWFactor(), o.DilationHFactor(), o.StrideW()) == (1, 1, 0)  # schema.fbs defaults


def test_options_of_another_type_are_a_format_error() -> None:
    (op,) = read_tflite(_conv_model(padding="VALID", stride_w=1, stride_h=1)).operators
    with pytest.raises(TFLiteFormatError, match=r"operator 0 \(CONV_2D\) carries Conv2DOptions, not AddOptions"):
        op.options(schema.AddOptions)


def test_a_garbage_vector_length_fails_at_once() -> None:
    data = bytearray(_conv_model(padding="VALID", stride_w=1, stride_h=1))
    model = schema.Model.GetRootAs(bytes(data), 0)
    sg = model.Subgraphs(0)
    tensors_vector = sg._tab.Vector(sg._tab.Offset(4))  # where the subgraph's tensor count is stored
    struct.pack_into("<I", data, tensors_vector - 4, 0x7FFFFFFF)
    with pytest.raises(TFLiteFormatError, match="claims 2147483647 tensors"):
        read_tflite(bytes(data))


@pytest.mark.parametrize("scale", [float("nan"), 0.0, float("inf"), -0.5])
def test_corrupt_quantization_scales_are_compile_errors(scale: float) -> None:
    from edgeloop.models.compiler import CompileError, compile_bytes

    b = ModelBuilder()
    x = b.tensor((1, 4), scale=0.5, zero_point=0)
    w = b.tensor((2, 4), scale=[scale, 0.1], axis=0, data=np.ones((2, 4), np.int8))
    y = b.tensor((1, 2), scale=0.25, zero_point=0)
    b.op("FULLY_CONNECTED", [x, w], [y], "FullyConnectedOptions", activation="NONE")
    with pytest.raises(CompileError, match="scale|multiplier"):
        compile_bytes(b.build([x], [y]), name="bad_scale")
