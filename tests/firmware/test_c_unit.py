"""Build and run the firmware's C unit tests (gcc -Wall -Wextra -Werror, ASan+UBSan) and the codec fuzzer."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import edgeloop

FW = edgeloop.FIRMWARE_DIR


def _make(tmp_root: Path, *targets: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    cmd = ["make", "-C", str(FW), f"TEST_BUILD={tmp_root}", f"PYTHON={sys.executable}", *targets]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def test_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fw-tests")


def test_codec_and_core_unit_tests_pass(test_build: Path) -> None:
    done = _make(test_build, "test")
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    assert "codec: " in out and "core: " in out and " 0 failures" in out
    assert "upload: " in out and "upload: 0 checks" not in out   # the upload golden vectors (SPEC §9.8)
    assert out.count(" 0 failures") == 3
    # The golden vectors came from the committed vectors.json and upload.json, through the generator.
    header = (test_build / "el_golden_vectors.h").read_text()
    assert "el_golden_vector_count" in header and "el_golden_upload_step_count" in header


def test_unit_tests_catch_a_broken_codec(test_build: Path, tmp_path: Path) -> None:
    """The torture tests fail when the CRC check is disabled (they can fail, so they test something)."""
    broken = tmp_path / "el_frame.c"
    broken.write_text((FW / "core" / "el_frame.c").read_text().replace(
        "rx->crc != EL_CRC32_RESIDUE", "rx->crc == 0x12345678u"))
    sources = [FW / "tests" / "test_codec.c", FW / "tests" / "el_test.c", FW / "core" / "el_crc32.c",
               FW / "core" / "el_cobs.c", broken]
    exe = tmp_path / "test_codec_broken"
    build = subprocess.run(["gcc", "-std=c11", "-O1", "-w", f"-I{FW / 'core'}", f"-I{test_build}",
                            "-o", str(exe), *map(str, sources)], capture_output=True, text=True, timeout=120)
    assert build.returncode == 0, build.stderr
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=120)
    assert run.returncode != 0 and "check failed" in run.stderr


@pytest.mark.slow
def test_frame_decoder_survives_fuzzing(test_build: Path, tmp_path: Path) -> None:
    if shutil.which("clang") is None:
        pytest.fail("clang is not installed: the libFuzzer target needs `sudo apt-get install clang "
                    "libclang-rt-14-dev` (make test installs them)")
    done = _make(test_build, "fuzz")
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1", UBSAN_OPTIONS="halt_on_error=1")
    run = subprocess.run([str(test_build / "fuzz_rx"), "-max_total_time=20", "-max_len=2048", "-seed=1",
                          str(corpus)], capture_output=True, text=True, timeout=120, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Done" in run.stderr and "runs in" in run.stderr
