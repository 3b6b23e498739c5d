"""The time-series families (1-D CNN on raw windows, dense on raw windows) through our compiler: bit-exact
with TFLite Micro on the host (reference and optimized kernels) and on the Cortex-M7 under QEMU."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from conftest import random_inputs

from edgeloop.models.compiler import compile_bytes
from edgeloop.models.compiler.host import kernel_sources
from edgeloop.models.compiler.tflite_reader import read_tflite


@pytest.fixture(scope="module")
def cnn1d_tflite() -> bytes:
    """An int8 1-D CNN (window 50, 3 channels, width 8: three 1×5 stride-2 convs, mean, softmax)."""
    from edgeloop.models.quantize import to_tflite_int8
    from edgeloop.models.train.common import setup_tensorflow
    from edgeloop.models.train.families import build_cnn1d

    setup_tensorflow(3)
    model = build_cnn1d(50, 3, 4, width=8)
    rep = np.random.default_rng(3).normal(size=(64, 50, 3)).astype(np.float32)
    return to_tflite_int8(model, rep, seed=3)


def test_cnn1d_lowers_to_height_one_convolutions(cnn1d_tflite: bytes) -> None:
    model = read_tflite(cnn1d_tflite)
    result = compile_bytes(cnn1d_tflite, name="cnn1d")
    convs = [s for s in result.graph.steps if s.op == "CONV_2D"]
    assert len(convs) == 3, [s.op for s in result.graph.steps]
    assert list(model.tensors[model.inputs[0]].shape) == [1, 50, 3]
    # height-1 convolutions, and no kernel sees only padding: every conv input is at least as long as its kernel
    for step in convs:
        shape = model.tensors[model.operators[step.index].inputs[0]].shape
        weights = model.tensors[model.operators[step.index].inputs[1]].shape  # OHWI
        assert shape[1] == 1 and weights[1] == 1 and shape[2] >= weights[2], (shape, weights)


def test_cnn1d_is_bit_exact_with_tflm_on_the_host(cnn1d_tflite: bytes, bit_exact) -> None:
    report = bit_exact(cnn1d_tflite, count=4, seed=11, name="cnn1d")
    assert report["ref"] == 0 and report["opt"] == 0


def test_dense_raw_is_bit_exact_with_tflm_on_the_host(bit_exact) -> None:
    from edgeloop.models.quantize import to_tflite_int8
    from edgeloop.models.train.common import setup_tensorflow
    from edgeloop.models.train.families import build_dense_raw

    setup_tensorflow(4)
    model = build_dense_raw((8, 8, 1), 3, width=16)
    rep = np.random.default_rng(4).random((64, 8, 8, 1)).astype(np.float32)
    report = bit_exact(to_tflite_int8(model, rep, seed=4), count=4, seed=12, name="dense_raw")
    assert report["ref"] == 0 and report["opt"] == 0


@pytest.mark.qemu
@pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
                    reason="needs qemu-system-arm and arm-none-eabi-gcc")
def test_cnn1d_is_bit_exact_on_cortex_m7_under_qemu(cnn1d_tflite: bytes, tmp_path) -> None:
    from edgeloop.app.link.qemu import build_bare_metal, run_bare_metal
    from edgeloop.models.compiler.harness import harness_source, parse_result
    from edgeloop.models.reference import run_reference_batch

    result = compile_bytes(cnn1d_tflite, name="cnn1d")
    (tmp_path / "cnn1d.c").write_text(result.c_source)
    (tmp_path / "cnn1d.h").write_text(result.h_source)
    xs = random_inputs(cnn1d_tflite, 3, np.random.default_rng(9))
    (tmp_path / "main.c").write_text(harness_source("cnn1d", xs, run_reference_batch(cnn1d_tflite, xs)))
    for variant, flags in (("ref", ["-DNN_OPTIMIZED=0"]), ("opt", [])):
        elf = build_bare_metal([tmp_path / "main.c", tmp_path / "cnn1d.c", *kernel_sources()],
                               tmp_path / variant, includes=[tmp_path], name="cnn1d", extra_cflags=flags)
        res = parse_result(run_bare_metal(elf, timeout=120).check().output)
        assert res["mismatches"] == 0 and res["runs"] == 3, (variant, res)
