"""Model containers: the writer, the reader, and the firmware executor (el_container.c) on the host.

The executor must run every supported operator bit-exact with TFLite Micro and
with the compiled C of the same model, and must reject hostile containers with
a reason that names the failed check.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES, random_inputs
from test_ops import GENERATORS

import edgeloop
from edgeloop.models.compiler import compile_bytes
from edgeloop.models.compiler.container import (
    HEADER_BYTES,
    OPS,
    REF_CONST,
    REF_INPUT,
    ContainerError,
    const_array,
    container_from_compiled,
    read_container,
)
from edgeloop.models.compiler.container_host import HostExecutor
from edgeloop.models.compiler.host import HostModel
from edgeloop.models.compiler.kernel_facts import abi_version
from edgeloop.models.reference import run_reference_batch

ZOO = edgeloop.PACKAGE_ROOT / "models" / "zoo"
ZOO_MODELS = sorted(p for p in ZOO.glob("*/*.tflite") if not p.name.endswith("_float.tflite"))


@pytest.fixture(scope="module", params=[False, True], ids=["ref", "opt"])
def executor(request: pytest.FixtureRequest) -> HostExecutor:
    return HostExecutor(optimized=request.param)


def _run_all(ex: HostExecutor, container: bytes, xs: np.ndarray, out_dtype: np.dtype, out_size: int) -> np.ndarray:
    assert ex.load(container) is None
    return np.stack([ex(x, out_dtype, out_size) for x in xs])


def _differ(a: np.ndarray, b: np.ndarray) -> int:
    if a.dtype.kind == "f":
        return int(np.sum(a.view(np.uint32).reshape(-1) != b.view(np.uint32).reshape(-1)))
    return int(np.sum(a.reshape(-1) != b.reshape(-1)))


def _check_against_tflm(tflite: bytes, ex: HostExecutor, seed: int, count: int = 4) -> None:
    result = compile_bytes(tflite, name="m")
    xs = random_inputs(tflite, count, np.random.default_rng(seed))
    ref = run_reference_batch(tflite, xs)
    out_t = result.graph.model.tensors[result.graph.output]
    got = _run_all(ex, container_from_compiled(result), xs, out_t.np_dtype, out_t.size)
    assert _differ(got, ref) == 0, f"executor differs from TFLM\nref={ref.reshape(count, -1)[:2]}\ngot={got[:2]}"


@pytest.mark.parametrize("op", sorted(GENERATORS))
def test_every_operator_runs_bit_exact_with_tflm(op: str, executor: HostExecutor) -> None:
    for seed in range(2):
        rng = np.random.default_rng([zlib.crc32(op.encode()), seed])
        _check_against_tflm(GENERATORS[op](rng), executor, seed)


@pytest.mark.parametrize("fixture", sorted(p.name for p in FIXTURES.glob("*.tflite")))
def test_random_networks_run_bit_exact_with_tflm(fixture: str, executor: HostExecutor) -> None:
    _check_against_tflm((FIXTURES / fixture).read_bytes(), executor, seed=1, count=2)


@pytest.mark.parametrize("model", ZOO_MODELS, ids=lambda p: p.stem)
def test_zoo_models_match_their_compiled_c(model: Path, executor: HostExecutor, tmp_path: Path) -> None:
    """The container runs the compiled C's kernels with the compiled C's parameters: equal outputs."""
    data = model.read_bytes()
    result = compile_bytes(data, name=model.stem)
    (tmp_path / f"{model.stem}.c").write_text(result.c_source)
    (tmp_path / f"{model.stem}.h").write_text(result.h_source)
    compiled = HostModel(tmp_path, model.stem, optimized=executor.optimized, build_dir=tmp_path / "build")
    xs = random_inputs(data, 3, np.random.default_rng(7))
    out_t = result.graph.model.tensors[result.graph.output]
    want = np.stack([compiled(x, out_t.np_dtype, out_t.size) for x in xs])
    got = _run_all(executor, container_from_compiled(result), xs, out_t.np_dtype, out_t.size)
    assert _differ(got, want) == 0


def test_reader_gives_back_what_the_compiler_lowered() -> None:
    data = (ZOO / "imu_activity" / "imu_activity.tflite").read_bytes()
    result = compile_bytes(data, name="imu_activity", meta=None)
    blob = container_from_compiled(result)
    c = read_container(blob)
    assert (c.name, c.sha256, c.macc, c.arena_bytes, c.kernel_abi) == (
        "imu_activity", result.sha256, result.macc, result.plan.arena_bytes, abi_version())
    assert c.flash_bytes == len(blob) == c.size and len(blob) % 4 == 0
    assert c.labels == result.labels
    assert len(c.steps) == len(result.graph.steps)
    for step, lowered in zip(c.steps, result.graph.steps):
        assert step.kernel == lowered.kernel
        named = step.named_params()
        for key, value in lowered.params.items():
            if isinstance(value, str):      # a constant: same bytes
                arr = lowered.consts[value]
                assert np.array_equal(const_array(c, named[key], arr.dtype.str, arr.size), arr)
            elif value is not None:
                assert named[key] == value, (lowered.kernel, key)
    inp = result.graph.model.tensors[result.graph.input]
    assert c.input.dims == tuple(inp.shape) and c.input.bytes == inp.nbytes


def test_reader_names_structural_faults() -> None:
    blob = container_from_compiled(compile_bytes((ZOO / "sine" / "sine.tflite").read_bytes(), name="sine"))
    with pytest.raises(ContainerError, match="magic"):
        read_container(b"XXXX" + blob[4:])
    with pytest.raises(ContainerError, match="header says"):
        read_container(blob[:-4])
    bad_op = bytearray(blob)
    steps_off = struct.unpack_from("<I", blob, 32)[0]
    bad_op[steps_off] = 99
    with pytest.raises(ContainerError, match="unknown op code 99"):
        read_container(bytes(bad_op))


# ---- hostile containers: each names its check, and nothing outside the slot is touched ----


def _sine() -> tuple[bytes, object]:
    result = compile_bytes((ZOO / "sine" / "sine.tflite").read_bytes(), name="sine")
    return container_from_compiled(result), result


def _steps_at(blob: bytes) -> list[int]:
    """Byte offsets of each step record."""
    off, n = struct.unpack_from("<I", blob, 32)[0], struct.unpack_from("<H", blob, 20)[0]
    out = []
    for _ in range(n):
        out.append(off)
        head = struct.unpack_from("<I", blob, off)[0]
        off += 4 * (1 + ((head >> 8) & 0xFF) + (head >> 16))
    return out


def _patch(blob: bytes, at: int, fmt: str, value: int) -> bytes:
    b = bytearray(blob)
    struct.pack_into(fmt, b, at, value)
    return bytes(b)


def _fc_param(blob: bytes, step: int, index: int) -> int:
    at = _steps_at(blob)[step]
    n_ops = (struct.unpack_from("<I", blob, at)[0] >> 8) & 0xFF
    return at + 4 * (1 + n_ops + index)


def test_hostile_containers_are_rejected_by_name(executor: HostExecutor) -> None:
    blob, result = _sine()
    assert executor.load(blob) is None
    first = _steps_at(blob)[0]
    consts_end = sum(struct.unpack_from("<II", blob, 40))
    cases = {
        "magic": (b"ELMX" + blob[4:], None),
        "format version 1; this firmware reads version 2": (_patch(blob, 4, "<H", 1), None),
        f"kernel ABI {abi_version() + 1} does not match": (_patch(blob, 8, "<I", abi_version() + 1), None),
        "do not fit the slot": (blob, len(blob) - 4),
        "total size does not match": (blob[:-4], None),
        "needs an arena of": (_patch(blob, 16, "<I", 1 << 20), None),
        "step 0 (?): unknown op code 77": (_patch(blob, first, "<B", 77), None),
        "parameter or operand count": (_patch(blob, first + 2, "<H", 11), None),
        "shift outside -31..31": (None, None),
        "weights": (_patch(blob, _fc_param(blob, 0, 7), "<I", (REF_CONST << 28) | (consts_end - 4)), None),
        "writes the model input": (_patch(blob, first + 8, "<I", REF_INPUT << 28), None),
        "activation bounds": (_patch(blob, _fc_param(blob, 0, 6), "<i", -129), None),
        "model name": (_patch(blob, HEADER_BYTES, "<I", len(blob) + 8), None),
        "section 1 out of order": (_patch(blob, 32, "<I", 8), None),
        "step count 0": (_patch(blob, 20, "<H", 0), None),
    }
    # A shift of 40 in the first layer's table.
    shift_ref = struct.unpack_from("<I", blob, _fc_param(blob, 0, 10))[0] & 0x0FFFFFFF
    cases["shift outside -31..31"] = (_patch(blob, shift_ref, "<i", 40), None)
    for reason, (bad, capacity) in cases.items():
        why = executor.load(bad, capacity=capacity)
        assert why is not None and reason in why, (reason, why)
        assert why.startswith("invalid container: ") and len(why) <= 120
    assert executor.load(blob) is None   # and a good one still loads afterwards


def test_random_corruption_never_escapes_the_arena(executor: HostExecutor) -> None:
    """Byte flips anywhere: the executor rejects the container, or runs it inside its arena
    (the host build's canary after the arena catches a write past it)."""
    blob, result = _sine()
    rng = np.random.default_rng(3)
    x = np.zeros(1, np.int8)
    accepted = 0
    for _ in range(3000):
        bad = bytearray(blob)
        for _ in range(int(rng.integers(1, 4))):
            bad[int(rng.integers(0, len(bad)))] = int(rng.integers(0, 256))
        if executor.load(bytes(bad), arena_bytes=4096) is None:
            accepted += 1
            executor(x, np.int8, 1)
    assert 0 < accepted < 3000   # some flips hit weights (still valid), most hit checked fields


def test_program_ram_limits_are_named() -> None:
    """The executor's RAM per program is fixed at build time (EL_EXEC_* in el_container.h); a model
    beyond those limits is refused with the limit's name, so the user knows what to rebuild."""
    data = (ZOO / "fall" / "fall.tflite").read_bytes()
    blob = container_from_compiled(compile_bytes(data, name="fall"))
    small = HostExecutor(extra_flags=("-DEL_EXEC_MAX_STEPS=2",))
    assert "step count 4 is 0 or above EL_EXEC_MAX_STEPS" in (small.load(blob) or "")
    tight = HostExecutor(extra_flags=("-DEL_EXEC_PARAM_BYTES=64",))
    assert "exceed EL_EXEC_PARAM_BYTES" in (tight.load(blob) or "")


def test_op_table_matches_the_c_parameter_counts() -> None:
    source = (edgeloop.FIRMWARE_DIR / "core" / "el_container.c").read_text()
    table = source.split("op_param_words[OP_LAST + 1] = {")[1].split("}")[0]
    counts = [int(v) for v in table.split(",")]
    from edgeloop.models.compiler.container import param_count
    for kernel, (code, _) in OPS.items():
        assert counts[code] == param_count(kernel), kernel


def test_compile_command_writes_a_container(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from edgeloop.app.cli import main

    model = ZOO / "fall" / "fall.tflite"
    out = tmp_path / "fall.elmc"
    assert main(["compile", str(model), "--container", str(out)]) == 0
    c = read_container(out.read_bytes())
    assert c.name == "fall" and c.labels == ("adl", "fall") and len(c.input_norm) == 54  # sidecar applied
    assert "container" in capsys.readouterr().out
    assert not (tmp_path / "fall.c").exists()
    assert main(["compile", str(model)]) == 2
    assert "--container FILE" in capsys.readouterr().err


@pytest.mark.parametrize("source", ["random_03.tflite", "random_11.tflite", "random_19.tflite", "sine",
                                    "bottles_tiny"])
def test_the_step_hook_sees_every_step_output_in_order_and_can_stop(source: str, executor: HostExecutor) -> None:
    """el_program_run_steps (what per-layer PROFILE / DUMP_TENSOR use for slot models) calls the hook
    after each step with that step's output tensor, does not change the result, and stops on request."""
    path = FIXTURES / source if source.endswith(".tflite") else next(p for p in ZOO_MODELS if p.stem == source)
    result = compile_bytes(path.read_bytes(), name="m")
    blob = container_from_compiled(result)
    assert executor.load(blob) is None
    tensors = result.graph.model.tensors
    kept = result.graph.steps   # shared-storage copies too (op 17): step numbers as the compiled C's
    out_t = tensors[result.graph.output]
    x = random_inputs(path.read_bytes(), 1, np.random.default_rng(3))[0]
    plain = executor(x, out_t.np_dtype, out_t.size)
    out, seen = executor.run_steps(x, out_t.np_dtype, out_t.size)
    assert [step for step, _ in seen] == list(range(len(read_container(blob).steps))) == list(range(len(kept)))
    assert [len(data) for _, data in seen] == [tensors[s.output].size * tensors[s.output].np_dtype.itemsize
                                               for s in kept]
    assert np.array_equal(out, plain) and seen[-1][1] == plain.tobytes()
    if len(kept) > 1:
        _, first = executor.run_steps(x, out_t.np_dtype, out_t.size, stop_after=0)
        assert first == seen[:1]


def _add_model(kind: str = "ADD") -> tuple[bytes, object]:
    """A one-operator ADD (or MUL) model, same shapes on both inputs, so the optimized ADD takes its tables."""
    for seed in range(50):
        tflite = GENERATORS[kind.lower()](np.random.default_rng([zlib.crc32(kind.encode()), seed]))
        result = compile_bytes(tflite, name="m")
        p = result.graph.steps[0].params
        if p["in1_strides"] == p["in2_strides"]:
            return container_from_compiled(result), result
    raise AssertionError(f"no same-shape {kind} among the generator's models")


def _binary_table_words(blob: bytes) -> tuple[int, int]:
    """Byte offsets of the first step's in1_table and in2_table reference words (params 24, 25)."""
    at = _steps_at(blob)[0]
    n_ops = (struct.unpack_from("<I", blob, at)[0] >> 8) & 0xFF
    return at + 4 * (1 + n_ops + 24), at + 4 * (1 + n_ops + 25)


def test_add_carries_its_rescale_tables_and_the_executor_checks_them(executor: HostExecutor) -> None:
    """Format 2: an ADD's two rescale tables travel as constants (so the optimized ADD runs for uploaded
    models as for compiled C); each must equal what its own parameters define, and both or neither."""
    blob, result = _add_model()
    c = read_container(blob)
    named = c.steps[0].named_params()
    for key in ("in1_table", "in2_table"):
        assert np.array_equal(const_array(c, named[key], "<i4", 256), result.graph.steps[0].consts[key])
    assert executor.load(blob) is None
    t1, t2 = _binary_table_words(blob)
    table = struct.unpack_from("<I", blob, t1)[0] & 0x0FFFFFFF
    entry = struct.unpack_from("<i", blob, table + 4 * 200)[0]
    cases = {
        "step 0 (add): input 1 table differs from the rescaling": _patch(blob, table + 4 * 200, "<i", entry + 2),
        "come in pairs": _patch(blob, t2, "<I", 0xFFFFFFFF),
        "input 1 table must be a constant": _patch(blob, t1, "<I", REF_INPUT << 28),
        "input 2 table": _patch(blob, t2, "<I", (REF_CONST << 28) | (len(blob) - 8)),
    }
    for reason, bad in cases.items():
        why = executor.load(bad)
        assert why is not None and reason in why, (reason, why)
    both_null = _patch(_patch(blob, t1, "<I", 0xFFFFFFFF), t2, "<I", 0xFFFFFFFF)
    assert executor.load(both_null) is None     # no tables: the reference loop, still valid
    mul, _ = _add_model("MUL")
    assert executor.load(mul) is None
    with_table = _patch(mul, _binary_table_words(mul)[0], "<I", (REF_CONST << 28) | table)
    assert "come in pairs" in (executor.load(with_table) or "")


def test_an_old_format_container_is_refused_with_what_to_do(executor: HostExecutor) -> None:
    blob, _ = _sine()
    old = _patch(blob, 4, "<H", 1)
    why = executor.load(old) or ""
    assert "format version 1; this firmware reads version 2: recompile the model with this edgeloop" in why
    with pytest.raises(ContainerError, match="format version 1; this edgeloop reads version 2: recompile"):
        read_container(old)
