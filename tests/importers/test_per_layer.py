"""Per layer on the board (SPEC §9.6-9.7): step times that add up to the inference, the first layer that
differs from TFLite Micro on a board built with a deliberately broken kernel, and old-firmware errors."""

from __future__ import annotations

import shutil
import subprocess
import sys
from concurrent.futures import Future

import numpy as np
import pytest

import edgeloop
from edgeloop.models.compiler import compile_bytes
from edgeloop.models.importers import import_model
from edgeloop.protocol.messages import (Capability, DumpTensor, Error, ErrorCode, Profile, ProfileResult, TensorChunk,
                                        decode_message)


@pytest.fixture(scope="module")
def pool_model(sources, tmp_path_factory):
    """The NCHW ONNX model (conv, max pool, flatten, dense, softmax) imported and compiled: (dir, tflite, inputs)."""
    im = import_model(sources["onnx-nchw"], calib=sources["calib_nchw"])
    folder = tmp_path_factory.mktemp("per-layer")
    compiled = compile_bytes(im.int8_tflite, name="pooled")
    (folder / "pooled.c").write_text(compiled.c_source)
    (folder / "pooled.h").write_text(compiled.h_source)
    (folder / "pooled.tflite").write_bytes(im.int8_tflite)
    rng = np.random.default_rng(4)
    inputs = rng.integers(-128, 128, (6, 300)).astype(np.int8)
    np.savez(folder / "inputs.npz", x=inputs.reshape(6, 10, 10, 3))
    return folder, im.int8_tflite, inputs


def test_messages_round_trip():
    for msg in (Profile(2, b"\x01\x02"), ProfileResult(1, 25_000_000, (5, 0, 7)), DumpTensor(0, 3, 4096, b"abc"),
                TensorChunk(0, 3, 5000, 4096, b"xyz")):
        assert decode_message(msg.TYPE, msg.encode_payload()) == msg


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgeloop", *args], capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_broken_kernel_is_named_as_the_first_differing_layer(pool_model, tmp_path):
    """A host board whose max pool kernel is broken (-DNN_TEST_BROKEN_MAX_POOL, test only): validate
    --per-layer names step 1 (MAX_POOL_2D); a correct board's steps all equal TFLite Micro's."""
    from edgeloop.app.link.boards import start_board
    from edgeloop.app.link.session import Session
    from edgeloop.app.validate.per_layer import first_divergence, profile_layers

    folder, tflite, inputs = pool_model
    with start_board("host", models=[folder / "pooled.c"]) as board, Session(board.url) as session:
        info = session.connect()
        assert info.has(Capability.PROFILE) and info.has(Capability.TENSOR_DUMP)
        assert first_divergence(session, 0, tflite, inputs[0].tobytes()) is None
        prof = profile_layers(session, 0, tflite, inputs[0].tobytes())
        assert [r["op"] for r in prof["steps"]] == ["CONV_2D", "MAX_POOL_2D", "RESHAPE", "FULLY_CONNECTED", "SOFTMAX"]
        assert prof["timing"] == "host clock" and prof["steps"][0]["per_mac_unit"] == "host ns/MAC"
        assert all(r["ticks"] is not None for r in prof["steps"]) and prof["sum_ticks"] > 0
    with start_board("host", models=[folder / "pooled.c"], extra_cflags=["-DNN_TEST_BROKEN_MAX_POOL"]) as board:
        run = _cli("validate", "--port", board.url, "--tflite", str(folder / "pooled.tflite"), "--data",
                   str(folder / "inputs.npz"), "--out", str(tmp_path / "report"), "--per-layer", "--no-progress")
    assert "first differing layer is step 1 (MAX_POOL_2D, TFLite operator 1): 1 of 125 elements differ, max " \
           "|diff| 1 steps" in run.stdout, run.stdout + run.stderr
    assert "per layer on the board (host clock" in run.stdout
    html = (tmp_path / "report" / "report.html").read_text()
    assert "Per layer on the board" in html and "step 1 (MAX_POOL_2D" in html
    assert run.returncode == 0  # the run completed: differing outputs are a finding, not a failure


@pytest.mark.slow
def test_analyze_port_prints_per_layer_times(pool_model):
    from edgeloop.app.link.boards import start_board

    folder, _, _ = pool_model
    with start_board("host", models=[folder / "pooled.c"]) as board:
        run = _cli("analyze", str(folder / "pooled.tflite"), "--no-arm", "--no-tflm", "--port", board.url)
    assert run.returncode == 0, run.stderr
    assert "per layer on the board (host clock" in run.stdout and "MAX_POOL_2D" in run.stdout


@pytest.mark.slow
@pytest.mark.qemu
@pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
                    reason="needs qemu-system-arm and arm-none-eabi-gcc")
def test_qemu_steps_sum_to_the_inference_within_one_percent():
    """bottles_tiny (411 k MACs) on the Cortex-M7 image: per-step emulated ticks add up to INFER's t_infer."""
    from edgeloop.app.link.boards import start_board
    from edgeloop.app.link.session import Session
    from edgeloop.app.validate.per_layer import first_divergence, profile_layers

    tflite = (edgeloop.PACKAGE_ROOT / "models" / "zoo" / "bottles_tiny" / "bottles_tiny.tflite").read_bytes()
    x = np.random.default_rng(1).integers(-128, 128, 64 * 64).astype(np.int8).tobytes()
    with start_board("qemu", models=["bottles_tiny"], timeout=120) as board, Session(board.url) as session:
        session.connect()
        prof = profile_layers(session, 0, tflite, x)
        assert prof["macc"] >= 100_000 and prof["timing"] == "emulated"
        assert abs(prof["sum_ticks"] - prof["infer_ticks"]) <= 0.01 * prof["infer_ticks"], prof
        conv = next(r for r in prof["steps"] if r["op"] == "CONV_2D")
        assert conv["per_mac_unit"] == "emulated instructions/MAC" and 0 < conv["per_mac"] < 50
        assert first_divergence(session, 0, tflite, x) is None  # dumps chunked through the real UART link


class _OldBoard:
    """A session whose board answers every 1.1 request with UNKNOWN_TYPE, as 1.0 firmware does."""

    class info:  # noqa: N801 - mimics Session.info
        board, firmware, timing_source, tick_hz, cpu_hz = "nucleo-h743zi2", "edgeloop 0.9 (protocol 1.0)", 2, 1, 1

    def request(self, message, **kwargs) -> Future:
        from edgeloop.app.link.session import DeviceError

        future: Future = Future()
        future.set_exception(DeviceError(Error(ErrorCode.UNKNOWN_TYPE, "message type 9 is not a request"), message))
        return future


def test_old_firmware_is_reported_as_too_old():
    from edgeloop.app.validate.per_layer import FirmwareTooOld, dump_step, profile_layers

    tflite = (edgeloop.PACKAGE_ROOT / "models" / "zoo" / "sine" / "sine.tflite").read_bytes()
    with pytest.raises(FirmwareTooOld, match=r"nucleo-h743zi2 \(edgeloop 0.9 \(protocol 1.0\)\) is too old for "
                                             r"per-layer profiling"):
        profile_layers(_OldBoard(), 0, tflite, b"\x00")
    with pytest.raises(FirmwareTooOld, match="too old for tensor dumps"):
        dump_step(_OldBoard(), 0, 0, b"\x00")


def test_firmware_without_the_capability_is_reported_before_sending():
    from edgeloop.app.validate.per_layer import FirmwareTooOld, profile_layers
    from edgeloop.protocol import Info, TimingSource

    class NoProfile(_OldBoard):
        info = Info(1, 1, 1, TimingSource.HOST_CLOCK, 1, 1, 256, 0, "edgeloop 1.1-describe-only", "host",
                    capabilities=1)

    tflite = (edgeloop.PACKAGE_ROOT / "models" / "zoo" / "sine" / "sine.tflite").read_bytes()
    with pytest.raises(FirmwareTooOld, match="does not serve per-layer profiling .INFO capability PROFILE"):
        profile_layers(NoProfile(), 0, tflite, b"\x00")
