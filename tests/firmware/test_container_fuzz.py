"""A bounded libFuzzer run of the model container parser and executor (firmware/fuzz/fuzz_container.c).

The corpus starts from real containers, one per supported operator, so the
fuzzer mutates valid programs and reaches every kernel through the executor.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest

import edgeloop

FW = edgeloop.FIRMWARE_DIR
COMPILER_TESTS = Path(__file__).resolve().parents[1] / "compiler"


def _seed_corpus(corpus: Path) -> None:
    import importlib.util

    # The compiler tests' one-operator model generators, loaded by path (their folder's conftest
    # must not shadow this folder's on sys.path).
    spec = importlib.util.spec_from_file_location("compiler_test_ops", COMPILER_TESTS / "test_ops.py")
    assert spec is not None and spec.loader is not None
    test_ops = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(test_ops)
    GENERATORS = test_ops.GENERATORS  # noqa: N806

    from edgeloop.models.compiler import compile_bytes
    from edgeloop.models.compiler.container import container_from_compiled

    for op, gen in GENERATORS.items():
        rng = np.random.default_rng([zlib.crc32(op.encode()), 0])
        (corpus / op).write_bytes(container_from_compiled(compile_bytes(gen(rng), name="m")))


@pytest.mark.slow
def test_container_parser_survives_fuzzing(tmp_path: Path) -> None:
    if shutil.which("clang") is None:
        pytest.fail("clang is not installed: the libFuzzer target needs `sudo apt-get install clang "
                    "libclang-rt-14-dev` (make test installs them)")
    build = subprocess.run(["make", "-C", str(FW), f"TEST_BUILD={tmp_path}", f"{tmp_path}/fuzz_container"],
                           capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, (build.stdout + build.stderr)[-3000:]
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    _seed_corpus(corpus)
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1", UBSAN_OPTIONS="halt_on_error=1")
    run = subprocess.run([str(tmp_path / "fuzz_container"), "-max_total_time=25", "-max_len=16384", "-seed=1",
                          str(corpus)], capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Done" in run.stderr and "runs in" in run.stderr
