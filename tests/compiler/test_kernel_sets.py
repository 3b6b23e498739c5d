"""Kernel sets (`compile --kernels fast|small`) and the measured kernel code table behind the flash estimate."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from conftest import FIXTURES, check_bit_exact

import edgeloop
from edgeloop.models.compiler import compile_bytes
from edgeloop.models.compiler.emit import KERNEL_CODE_BYTES, kernel_code_bytes
from edgeloop.models.compiler.kernel_sizes import DUAL_KERNELS, KERNEL_SETS, load_table, measure

needs_arm = pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="needs arm-none-eabi-gcc")
IMU = edgeloop.PACKAGE_ROOT / "models" / "zoo" / "imu_activity" / "imu_activity.tflite"
# conv + depthwise + pad + float edges; residual add (tables) + mean; concat + pools; mul/logistic gating
MODELS = ["random_04", "random_05", "random_20", "random_16"]


@needs_arm
def test_committed_kernel_table_is_what_the_kernels_measure() -> None:
    """kernel_code_bytes.json is current: rebuilding every kernel alone gives the same symbols and sizes
    (after changing a kernel: python -m edgeloop.models.compiler.kernel_sizes)."""
    assert measure()["sets"] == load_table()["sets"], (
        "models/compiler/kernel_code_bytes.json is stale: run python -m edgeloop.models.compiler.kernel_sizes")


def test_small_set_is_the_reference_kernels_and_never_bigger() -> None:
    table = load_table()["sets"]
    assert set(table) == set(KERNEL_SETS)
    for kernel in DUAL_KERNELS:
        assert table["small"][kernel]["entry"] == "nn_ref_" + kernel[3:]
        assert table["fast"][kernel]["entry"] == "nn_opt_" + kernel[3:]
        assert KERNEL_CODE_BYTES["small"][kernel] < KERNEL_CODE_BYTES["fast"][kernel]
    for kernel, row in table["small"].items():
        assert not any(s.startswith("nn_opt_") for s in row["symbols"]), kernel
        assert row["bytes"] == sum(row["symbols"].values()) > 0
    # a helper shared by two kernels counts once in a model that uses both
    both = kernel_code_bytes({"nn_fc_s8", "nn_softmax_s8"}, "small")
    assert both < KERNEL_CODE_BYTES["small"]["nn_fc_s8"] + KERNEL_CODE_BYTES["small"]["nn_softmax_s8"]


@pytest.mark.parametrize("stem", MODELS)
def test_small_set_is_bit_exact_with_tflm_in_either_build(stem: str, tmp_path) -> None:
    """The small set calls nn_ref_* by name, so even an NN_OPTIMIZED build runs the reference kernels;
    both builds match TFLite Micro, and the model plans no kernel scratch and emits no ADD tables."""
    tflite = (FIXTURES / f"{stem}.tflite").read_bytes()
    small = check_bit_exact(tflite, tmp_path, kernels="small", optimized=(False, True))["result"]
    fast = compile_bytes(tflite, name="m")
    src = small.c_source
    assert "Kernel set: small" in src and "Kernel set: fast" in fast.c_source
    assert "NN_SCRATCH_FITS(nn_" not in src and "in1_table[" not in src
    called = set(re.findall(r"\b(nn_[a-z0-9_]+)\(&op", src))
    assert called and not called & set(DUAL_KERNELS), called
    assert all(s.scratch_bytes == 0 for s in small.graph.steps if not s.in_place or "depthwise" not in s.kernel)
    assert small.code_bytes < fast.code_bytes and small.flash_bytes < fast.flash_bytes
    assert small.arena_bytes <= fast.arena_bytes


@needs_arm
@pytest.mark.parametrize("stem", ["random_04", "random_16"])
def test_flash_estimate_of_each_set_tracks_the_linked_image(stem: str) -> None:
    """`analyze --kernels`: the estimate (measured table + invoke code + descriptor) is within 10 % of the
    code its Cortex-M7 link really pulls in, for both sets, and the small set links far less."""
    from edgeloop.models.compiler.analyze import analyze, format_report

    data = (FIXTURES / f"{stem}.tflite").read_bytes()
    real = {}
    for kernel_set in KERNEL_SETS:
        report = analyze(data, name="m", with_tflm=False, kernels=kernel_set)
        t = report["totals"]
        assert t["kernel_set"] == kernel_set and f"({kernel_set} kernels)" in format_report(report)
        real[kernel_set] = t["arm"]["flash"] - t["weight_bytes"] - t["label_bytes"]
        assert abs(t["code_bytes_estimate"] - real[kernel_set]) <= 0.10 * real[kernel_set], (kernel_set, t, real)
    assert real["small"] < real["fast"] / 2, real


def test_compile_command_kernels_option(tmp_path) -> None:
    """`edgeloop compile --kernels small` writes C naming its set, a smaller flash figure, and a container
    that is still planned for the board's own kernels (same bytes as with the fast set)."""
    def run(kernels: str, out) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "edgeloop", "compile", str(IMU), "--out", str(out),
                               "--name", "imu", "--kernels", kernels, "--container", str(out / "imu.elmc")],
                              capture_output=True, text=True, timeout=300)

    procs = {k: run(k, tmp_path / k) for k in KERNEL_SETS}
    for k, proc in procs.items():
        assert proc.returncode == 0, proc.stderr
        assert f"({k} kernels)" in proc.stdout
        assert f"Kernel set: {k}" in (tmp_path / k / "imu.c").read_text()
    flash = {k: int(re.search(r"flash ~(\d+) B", p.stdout).group(1)) for k, p in procs.items()}
    assert flash["small"] < flash["fast"]
    assert (tmp_path / "small" / "imu.elmc").read_bytes() == (tmp_path / "fast" / "imu.elmc").read_bytes()
    from edgeloop.models.compiler.container import container_from_compiled

    with pytest.raises(ValueError, match="compile m with kernels='fast'"):   # never a container without scratch
        container_from_compiled(compile_bytes(IMU.read_bytes(), name="m", kernels="small"))
    only = subprocess.run([sys.executable, "-m", "edgeloop", "compile", str(IMU), "--name", "imu", "--kernels", "small",
                           "--container", str(tmp_path / "only.elmc")], capture_output=True, text=True, timeout=300)
    assert only.returncode == 0, only.stderr
    assert "note: --kernels small applies to generated C" in only.stdout and "(fast kernels)" in only.stdout
    assert (tmp_path / "only.elmc").read_bytes() == (tmp_path / "fast" / "imu.elmc").read_bytes()
    bad = subprocess.run([sys.executable, "-m", "edgeloop", "compile", str(IMU), "--out", str(tmp_path),
                          "--kernels", "tiny"], capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0 and "invalid choice: 'tiny'" in bad.stderr


@pytest.mark.qemu
@pytest.mark.slow
@pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
                    reason="needs qemu-system-arm and arm-none-eabi-gcc")
def test_small_set_runs_bit_exact_on_cortex_m7(tmp_path) -> None:
    """On the real Cortex-M7 instructions (QEMU, DSP build) the small set matches TFLite Micro and, on the
    IMU model, costs more emulated instructions than the fast set."""
    from edgeloop.app.commands._design_target import qemu_instructions

    tflite = IMU.read_bytes()
    ins = {k: qemu_instructions(tflite, tmp_path / k, kernels=k) for k in KERNEL_SETS}  # raises on a mismatch
    assert 0 < ins["fast"] < ins["small"], ins


def test_fast_convolutions_call_their_path_entry_and_debug_builds_check_it(tmp_path, random_inputs) -> None:
    """A fast-set convolution, max pool or FC calls its path's entry (only the paths a model uses are linked); NN_CHECK_SCRATCH
    builds check that the kernel takes that path (a wrong path number makes invoke() fail)."""
    from edgeloop.models.compiler.host import HostBuildError, HostModel

    data = (edgeloop.PACKAGE_ROOT / "models" / "zoo" / "bottles_tiny" / "bottles_tiny.tflite").read_bytes()
    result = compile_bytes(data, name="m")
    entries = [e for e in re.findall(r"\b(nn_conv2d_s8(?:_\w+)?)\(&op", result.c_source) if e != "nn_conv2d_s8_path"]
    layers = ["nn_conv2d_s8_gray3", "nn_conv2d_s8_wide", "nn_conv2d_s8_wide", "nn_conv2d_s8_wide"]
    assert entries == layers * 2, entries   # invoke() and invoke_steps()
    assert result.c_source.count("NN_PATH_IS(nn_conv2d_s8_path(") == 8
    assert result.c_source.count("nn_max_pool_s8_2x2(&op") == 3 * 2 and "nn_max_pool_s8(&op" not in result.c_source
    assert "nn_fc_s8_rows(&op" in result.c_source and "nn_fc_s8(&op" not in result.c_source   # FC path DIRECT
    assert kernel_code_bytes({"nn_conv2d_s8_gray3", "nn_conv2d_s8_wide"}) < KERNEL_CODE_BYTES["fast"]["nn_conv2d_s8"]
    x = random_inputs(data, 1, np.random.default_rng(0))[0]
    out_t = result.graph.model.tensors[result.graph.output]
    for name, source in (("good", result.c_source), ("bad", result.c_source.replace("== 6);", "== 0);", 1))):
        (tmp_path / name).mkdir()
        (tmp_path / name / "m.c").write_text(source)
        (tmp_path / name / "m.h").write_text(result.h_source)
        host = HostModel(tmp_path / name, "m", optimized=True, build_dir=tmp_path / name / "b")
        if name == "good":
            host(x, out_t.np_dtype, out_t.size)
        else:
            with pytest.raises(HostBuildError, match="returned 2"):
                host(x, out_t.np_dtype, out_t.size)


def test_small_set_runs_in_place_depthwise_layers_with_their_scratch(tmp_path) -> None:
    """A depthwise layer planned in place needs its scratch with the reference kernel too (it copies one input
    channel there): the small set keeps that scratch, passes it, and matches TFLite Micro."""
    import test_kernel_paths

    tflite = test_kernel_paths.dw_in_place_model()
    small = check_bit_exact(tflite, tmp_path, kernels="small", optimized=(False, True), count=3)["result"]
    in_place = [pos for pos, s in enumerate(small.graph.steps) if s.kernel == "nn_depthwise_conv2d_s8"
                and small.plan.location(s.output) == small.plan.location(s.inputs[0])]
    assert in_place, "the model has no depthwise layer planned in place"
    for pos in in_place:
        assert small.graph.steps[pos].scratch_bytes > 0 and small.plan.scratch(pos) is not None
