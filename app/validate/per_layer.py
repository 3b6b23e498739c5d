"""Per-layer figures from the board (no Qt): time of every step (PROFILE) and where outputs start to differ
from TFLite Micro (DUMP_TENSOR), SPEC.md §9.6-9.7.

The board's steps are the compiled model's kernel calls, in the order
`edgeloop analyze` lists them; the host compiles the same .tflite to learn
each step's operator, MACs and output tensor. Times are labelled by the
board's timing source, like every latency edgeloop shows: cycles per MAC
when measured, emulated instructions per MAC under QEMU, host ns per MAC on
the host board.

Host API (also for the GUI's per-layer bars)::

    with Session(url) as s:
        s.connect()
        prof = profile_layers(s, 0, tflite, input_bytes)   # rows: op, macc, ticks, us, per_mac
        where = first_divergence(s, 0, tflite, input_bytes) # None, or the first differing step
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgeloop import EdgeloopError, InputError, require
from edgeloop.app.validate.validator import latency_stats
from edgeloop.protocol import TimingSource
from edgeloop.protocol.messages import Capability, DumpTensor, ErrorCode, Infer, Profile

PROFILE_TIMEOUT = 120.0  # seconds: a profiled inference of a big model under QEMU is slow


class FirmwareTooOld(EdgeloopError, RuntimeError):
    """The board predates protocol 1.1's per-step requests."""


def _steps(tflite: bytes):
    from edgeloop.models.compiler import compile_bytes

    return compile_bytes(bytes(tflite), name="per_layer").graph


def _call(session: Any, message, what: str):
    from edgeloop.app.link.session import DeviceError

    info = session.info
    needed = Capability.PROFILE if isinstance(message, Profile) else Capability.TENSOR_DUMP
    if getattr(info, "capabilities", None) is not None and not info.has(needed):
        raise FirmwareTooOld(f"the firmware on {info.board} ({info.firmware}) does not serve {what} (INFO "
                             f"capability {needed.name} is not set): rebuild and flash the current firmware")
    try:
        return session.request(message, timeout=PROFILE_TIMEOUT, retries=0).result().message
    except DeviceError as exc:
        if exc.error.code == ErrorCode.UNKNOWN_TYPE:
            info = session.info
            raise FirmwareTooOld(f"the firmware on {info.board} ({info.firmware}) is too old for {what} (protocol "
                                 "1.1, SPEC §9.6-9.7): rebuild and flash the current firmware "
                                 "(edgeloop firmware build)") from None
        raise InputError(f"the board refused {what}: {exc.error}") from exc


def profile_layers(session: Any, model_id: int, tflite: bytes, input_bytes: bytes) -> dict[str, Any]:
    """Run PROFILE once and INFER once on `input_bytes`; one row per step with MACs, ticks, µs and work/MAC.

    `sum_ticks` vs `infer_ticks` shows how well the steps add up to the
    whole inference (they differ by the tick resolution per step).
    """
    info = session.info
    graph = _steps(tflite)
    reply = _call(session, Profile(model_id, bytes(input_bytes)), "per-layer profiling")
    whole = session.request(Infer(model_id, bytes(input_bytes)), timeout=PROFILE_TIMEOUT).result().message
    timing = TimingSource(info.timing_source)
    tick_hz = reply.tick_hz or info.tick_hz
    rows = []
    for k, step in enumerate(graph.steps):
        ticks = reply.ticks[k] if k < len(reply.ticks) else None
        row: dict[str, Any] = {"index": k, "op": step.op, "tflite_operator": step.index, "macc": step.macc,
                               "ticks": ticks}
        if ticks is not None and tick_hz:
            stats = latency_stats(np.array([ticks]), tick_hz, timing, macc=step.macc, cpu_hz=info.cpu_hz)
            row["us"] = stats["us"]["mean"]
            if "per_macc" in stats:
                row["per_mac"] = stats["per_macc"]["value"]
                row["per_mac_unit"] = stats["per_macc"]["unit"].replace("MACC", "MAC")
        rows.append(row)
    return {"timing": timing.label, "timing_source": timing.name.lower().replace("_", "-"),
            "tick_unit": timing.tick_unit, "tick_hz": int(tick_hz), "steps": rows,
            "steps_reported": len(reply.ticks), "sum_ticks": int(sum(reply.ticks)),
            "infer_ticks": int(whole.t_infer), "macc": int(sum(s.macc for s in graph.steps))}


def dump_step(session: Any, model_id: int, step: int, input_bytes: bytes) -> bytes:
    """The whole output tensor of step `step` for `input_bytes`, read chunk by chunk."""
    data = bytearray()
    total = None
    while total is None or len(data) < total:
        chunk = _call(session, DumpTensor(model_id, step, len(data), bytes(input_bytes)), "tensor dumps")
        total = chunk.total
        if chunk.offset != len(data) or not chunk.data and len(data) < total:
            raise RuntimeError(f"the board returned step {step}'s tensor at offset {chunk.offset} "
                               f"({len(chunk.data)} bytes) when {len(data)} was asked")
        data += chunk.data
    return bytes(data)


def reference_step_outputs(tflite: bytes, input_bytes: bytes) -> dict[int, np.ndarray]:
    """Every tensor of one TFLite Micro inference (the oracle), by tensor index."""
    from edgeloop.models.compiler.tflite_reader import read_tflite

    runtime = require("tflite_micro.python.tflite_micro.runtime", needed_for="the per-layer reference")

    model = read_tflite(bytes(tflite))
    activations = sum(t.nbytes for t in model.tensors if t.data is None)
    interp = runtime.Interpreter.from_bytes(bytes(tflite), arena_size=4 * activations + 10 * len(tflite) + 65536,
                                            intrepreter_config=runtime.InterpreterConfig.kPreserveAllTensors)
    det = interp.get_input_details(0)
    interp.set_input(np.frombuffer(bytes(input_bytes), det["dtype"]).reshape(det["shape"]), 0)
    interp.invoke()
    out = {}
    for i, t in enumerate(model.tensors):
        if t.data is None and t.np_dtype is not None:
            out[i] = np.asarray(interp.GetTensor(i, 0)["tensor_data"]).copy()
    return out


def first_divergence(session: Any, model_id: int, tflite: bytes, input_bytes: bytes) -> dict[str, Any] | None:
    """The first step whose output on the board differs from TFLite Micro's (count, max |diff|), or None."""
    graph = _steps(tflite)
    reference = reference_step_outputs(tflite, input_bytes)
    tensors = graph.model.tensors
    for k, step in enumerate(graph.steps):
        t = tensors[step.output]
        ref = reference[step.output].reshape(-1)
        board = np.frombuffer(dump_step(session, model_id, k, input_bytes), t.np_dtype)
        if board.shape != ref.shape:
            raise InputError(f"step {k} ({step.op}): the board's tensor has {board.size} elements, TFLite "
                               f"Micro's {ref.size}: the board runs a different model")
        diff = np.abs(board.astype(np.float64) - ref.astype(np.float64))
        if diff.any():
            return {"step": k, "op": step.op, "tflite_operator": step.index, "tensor": t.name,
                    "differing": int(np.count_nonzero(diff)), "elements": int(ref.size),
                    "max_abs_diff": float(diff.max())}
    return None


def format_profile(profile: dict[str, Any]) -> str:
    """Text table: per step MACs, ticks, µs and work per MAC, labelled by the timing source."""
    unit = next((r["per_mac_unit"] for r in profile["steps"] if "per_mac_unit" in r), "")
    lines = [f"per layer on the board ({profile['timing']}, {profile['timing_source']}; {profile['tick_unit']} "
             f"ticks at {profile['tick_hz']:,} Hz):",
             f"  {'#':>3}  {'op':18} {'MACs':>10} {'ticks':>9} {'µs':>10} {unit:>26}"]
    for r in profile["steps"]:
        per = f"{r['per_mac']:.3f}" if r.get("per_mac") is not None and r["macc"] else "-"
        us = f"{r['us']:.1f}" if "us" in r else "-"
        ticks = "-" if r["ticks"] is None else str(r["ticks"])
        lines.append(f"  {r['index']:>3}  {r['op'][:18]:18} {r['macc']:>10,} {ticks:>9} {us:>10} {per:>26}")
    lines.append(f"  steps sum to {profile['sum_ticks']:,} ticks; the whole inference (INFER) took "
                 f"{profile['infer_ticks']:,} ticks")
    return "\n".join(lines)


def format_divergence(div: dict[str, Any] | None, sample: str) -> str:
    """One line naming the first differing layer."""
    if div is None:
        return f"per-layer diff on {sample}: every step equals TFLite Micro's"
    return (f"per-layer diff on {sample}: first differing layer is step {div['step']} ({div['op']}, TFLite operator "
            f"{div['tflite_operator']}): {div['differing']} of {div['elements']} elements differ, max |diff| "
            f"{div['max_abs_diff']:g} steps")
