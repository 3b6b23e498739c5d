"""Shared helpers of the compiler tests: build generated C on the host and compare with TFLM."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from edgeloop.models.compiler import compile_bytes  # noqa: E402
from edgeloop.models.compiler.host import HostModel  # noqa: E402
from edgeloop.models.reference import run_reference_batch  # noqa: E402

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def random_inputs(tflite: bytes, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` random inputs of the model's input dtype and shape."""
    from edgeloop.models.compiler.tflite_reader import read_tflite

    m = read_tflite(tflite)
    t = m.tensors[m.inputs[0]]
    if t.type_code == 0:
        return rng.normal(0, 2.0, (count, *t.shape)).astype(np.float32)
    return rng.integers(-128, 128, (count, *t.shape), dtype=np.int8)



@pytest.fixture(name="random_inputs")
def random_inputs_fixture():  # noqa: ANN201
    """:func:`random_inputs` for test modules that are also loaded by path from other folders (the
    container fuzz test reads test_ops.py's generators), where `from conftest import` would find that
    folder's conftest instead of this one."""
    return random_inputs


def with_wide_blocks(c_source: str, blocks: int) -> str:
    """Generated C whose one-block wide layers (wide_weights = 1) run in `blocks` blocks instead."""
    changed = re.sub(r"\.wide_weights = 1\b", f".wide_weights = {blocks}", c_source)
    assert blocks == 1 or changed != c_source, "no layer with wide weights to split into blocks"
    return changed


def check_bit_exact(tflite: bytes, tmp_path: Path, *, count: int = 4, seed: int = 0,
                    optimized: tuple[bool, ...] = (False, True), name: str = "m", wide_weights: str = "free",
                    wide_blocks: int = 1, kernels: str = "fast") -> dict:
    """Compile (with the given wide-weights policy), build (reference and optimized kernels) and
    compare `count` inferences with TFLM. `wide_blocks` > 1 rewrites the widened layers to run their
    wide records in that many blocks (less scratch than planned: the scratch check still holds).
    `kernels`: the kernel set the generated C calls (compile --kernels)."""
    rng = np.random.default_rng(seed)
    result = compile_bytes(tflite, name=name, wide_weights=wide_weights, kernels=kernels)
    out_dir = tmp_path / name
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{name}.c").write_text(with_wide_blocks(result.c_source, wide_blocks))
    (out_dir / f"{name}.h").write_text(result.h_source)
    xs = random_inputs(tflite, count, rng)
    ref = run_reference_batch(tflite, xs)
    out_t = result.graph.model.tensors[result.graph.output]
    report = {"result": result}
    for opt in optimized:
        host = HostModel(out_dir, name, optimized=opt, build_dir=out_dir / ("opt" if opt else "ref"))
        got = np.stack([host(x, out_t.np_dtype, out_t.size) for x in xs]).reshape(ref.shape)
        if ref.dtype.kind == "f":
            diff = int(np.sum(got.view(np.uint32) != ref.view(np.uint32)))
        else:
            diff = int(np.sum(got != ref))
        report["opt" if opt else "ref"] = diff
        assert diff == 0, (f"{'optimized' if opt else 'reference'} kernels differ from TFLM in {diff} of "
                           f"{ref.size} elements\nref={ref.reshape(count, -1)[:2]}\ngot={got.reshape(count, -1)[:2]}")
    return report


@pytest.fixture
def bit_exact(tmp_path):
    """check_bit_exact bound to the test's temporary directory."""
    def run(tflite: bytes, **kw):
        return check_bit_exact(tflite, tmp_path, **kw)
    return run
