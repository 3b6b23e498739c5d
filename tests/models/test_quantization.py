"""Host quantization rounds like TFLite and the board: halves away from zero, float32 division."""

from __future__ import annotations

import numpy as np
import pytest

from edgeloop.models import quantization
from edgeloop.models.compiler import compile_bytes
from edgeloop.models.compiler.host import HostModel
from edgeloop.models.compiler.tflite_writer import ModelBuilder
from edgeloop.models.quantize import QuantParams
from edgeloop.models.quantize import quantize as export_quantize
from edgeloop.app.live.preprocess import quantize as preprocess_quantize
from edgeloop.protocol import DType, TensorDesc

TIES = np.array([-3.5, -2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5])
AWAY = [-4, -3, -2, -1, 1, 2, 3, 4]  # np.round would give [-4, -2, -2, 0, 0, 2, 2, 4]


def test_exact_ties_round_away_from_zero_at_every_host_site() -> None:
    assert quantization.round_half_away(TIES).tolist() == AWAY
    assert [quantization.round_half_away_int(float(v)) for v in TIES] == AWAY
    assert quantization.quantize(TIES * 0.25, 0.25, 0).tolist() == AWAY
    assert export_quantize(TIES * 0.25, QuantParams(0.25, 0)).tolist() == AWAY
    assert preprocess_quantize(TIES * 0.25, TensorDesc(DType.INT8, (8,), 0.25, 0)).tolist() == AWAY
    positive = preprocess_quantize(TIES + 10, TensorDesc(DType.UINT8, (8,), 1.0, 0))
    assert positive.tolist() == [7, 8, 9, 10, 11, 12, 13, 14]  # 6.5 ... 13.5 all round up


def test_values_just_below_a_half_round_down() -> None:
    below = np.nextafter(0.5, 0.0)
    assert quantization.round_half_away(np.array([below, -below])).tolist() == [0, 0]
    assert quantization.round_half_away_int(below) == 0  # floor(x + 0.5) would give 1 here


def test_saturation_and_dequantize() -> None:
    assert quantization.quantize([1e9, -1e9], 0.5, 3).tolist() == [127, -128]
    assert quantization.dequantize(np.array([-128, 3, 127]), 0.5, 3).tolist() == [-65.5, 0.0, 62.0]


@pytest.mark.slow
def test_host_quantize_matches_the_boards_quantize_kernel_on_ties(tmp_path) -> None:
    """The compiled QUANTIZE op (float32 in, int8 out) computes the very bytes the host sends."""
    scale, zero_point = 0.3, -5  # not a power of two: the division rounds in float32
    real = np.concatenate([(np.arange(-40, 40) + 0.5) * np.float32(scale),
                           np.random.default_rng(0).normal(0, 10, 176)]).astype(np.float32)
    b = ModelBuilder()
    x = b.tensor((1, real.size), "float32")
    y = b.tensor((1, real.size), scale=scale, zero_point=zero_point)
    b.op("QUANTIZE", [x], [y])
    compiled = compile_bytes(b.build([x], [y]), name="quant_ties")
    (tmp_path / "quant_ties.c").write_text(compiled.c_source)
    (tmp_path / "quant_ties.h").write_text(compiled.h_source)
    board = HostModel(tmp_path, "quant_ties", build_dir=tmp_path / "build")(real, np.int8, real.size)
    assert board.tolist() == quantization.quantize(real, scale, zero_point).tolist()
    ratio = real / np.float32(scale)
    assert np.any(np.abs(ratio - np.trunc(ratio)) == 0.5)  # the inputs do hit exact ties
