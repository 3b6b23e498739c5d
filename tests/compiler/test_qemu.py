"""Compiled models on the real Cortex-M7 instructions under QEMU: reference and DSP kernels, 0 mismatches."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from conftest import FIXTURES, random_inputs

from edgeloop.models.compiler import compile_bytes
from edgeloop.models.compiler.harness import harness_source, parse_result
from edgeloop.models.compiler.host import kernel_sources
from edgeloop.models.reference import run_reference_batch

pytestmark = [
    pytest.mark.qemu,
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
                       reason="needs qemu-system-arm and arm-none-eabi-gcc"),
]

# conv + depthwise + pad + float edges; residual add + mean; concat + pools; mul/logistic gating
MODELS = ["random_04", "random_05", "random_20", "random_16"]


@pytest.mark.parametrize("stem", [*MODELS, "kernel_paths", "plain_paths", "gray_stem", "fused_paths", "wide_paths"])
def test_model_runs_bit_exact_on_cortex_m7(stem: str, tmp_path) -> None:
    """`kernel_paths` chains every optimized conv/depthwise/FC path, `plain_paths` the small-K
    first layers and max pools, `gray_stem` the grayscale register path, `fused_paths` the fused
    conv blocks and the no-bounds max pool, `wide_paths` the same model with every convolution's
    weights widened (test_kernel_paths.py)."""
    from edgeloop.app.link.qemu import build_bare_metal, run_bare_metal

    if stem == "kernel_paths":
        from test_kernel_paths import qemu_chain_model

        tflite = qemu_chain_model()
    elif stem == "plain_paths":
        from test_kernel_paths import plain_paths_model

        tflite = plain_paths_model()
    elif stem == "gray_stem":
        from test_kernel_paths import gray_stem_model

        tflite = gray_stem_model()
    elif stem in ("fused_paths", "wide_paths"):
        from test_kernel_paths import fused_paths_model

        tflite = fused_paths_model()
    else:
        tflite = (FIXTURES / f"{stem}.tflite").read_bytes()
    result = compile_bytes(tflite, name=stem, wide_weights="all" if stem == "wide_paths" else "free")
    (tmp_path / f"{stem}.c").write_text(result.c_source)
    (tmp_path / f"{stem}.h").write_text(result.h_source)
    xs = random_inputs(tflite, 3, np.random.default_rng(7))
    expected = run_reference_batch(tflite, xs)
    (tmp_path / "main.c").write_text(harness_source(stem, xs, expected))
    sources = [tmp_path / "main.c", tmp_path / f"{stem}.c", *kernel_sources()]
    counts = {}
    for variant, flags in (("ref", ["-DNN_OPTIMIZED=0"]), ("opt", [])):
        elf = build_bare_metal(sources, tmp_path / variant, includes=[tmp_path], name=stem,
                               extra_cflags=flags)
        run = run_bare_metal(elf, timeout=120).check()
        res = parse_result(run.output)
        assert res["mismatches"] == 0 and res["runs"] == 3, run.output
        counts[variant] = res["ticks_min"]
    # the DSP kernels must actually be faster on conv-heavy models
    if result.macc > 20000:
        assert counts["opt"] < counts["ref"], counts
