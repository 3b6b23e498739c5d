"""The model container: a compiled model as data (docs/container.md), and its reader.

`write_container` turns the compiler's lowered, planned steps into one packed,
pointer-free, little-endian byte string that the firmware executor
(firmware/core/el_container.h) validates and runs with the kernels the
compiled C calls. `read_container` parses it back into Python objects; tests
use it to check the writer, and it makes the same structural checks as the
firmware so a bad file is reported on the host before it is sent.

Layout (every offset is from the container's first byte, every section 4-byte aligned):

    header (HEADER_BYTES) | descriptor | steps | constants | strings
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from edgeloop.models.compiler.emit import DTYPE_CODES
from edgeloop.models.compiler.errors import CompileError
from edgeloop.models.compiler.kernel_facts import abi_version
from edgeloop.models.compiler.lower import LoweredGraph, Step
from edgeloop.models.compiler.planner import ARENA, INPUT, OUTPUT, Plan

if TYPE_CHECKING:
    from edgeloop.models.compiler.driver import CompiledModel

MAGIC = b"ELMC"
FORMAT_VERSION = 2   # 2: ADD rescale tables as constants, shared-storage RESHAPE steps (op 17)
HEADER_BYTES = 56
DESCRIPTOR_BYTES = 124
TENSOR_BYTES = 24

# Operand references: kind in bits 28..31, byte offset in bits 0..27.
REF_ARENA, REF_INPUT, REF_OUTPUT, REF_CONST = 0, 1, 2, 3
REF_NULL = 0xFFFFFFFF
REF_OFFSET_MASK = (1 << 28) - 1
_PLAN_KINDS = {ARENA: REF_ARENA, INPUT: REF_INPUT, OUTPUT: REF_OUTPUT}

# Op codes, the C kernel each calls, and the int32 parameter words in struct field order
# (pointer fields are operand references into the constants).
_CONV = ("batches", "in_h", "in_w", "in_c", "out_h", "out_w", "out_c", "k_h", "k_w", "stride_h",
         "stride_w", "dil_h", "dil_w", "pad_top", "pad_left", "depth_mult", "in_offset", "out_offset",
         "act_min", "act_max", "*weights", "*bias", "*mult", "*shift", "per_channel", "wide_weights")
_BINARY = ("out_dims[4]", "in1_strides[4]", "in2_strides[4]", "in1_offset", "in2_offset", "out_offset",
           "left_shift", "in1_mult", "in1_shift", "in2_mult", "in2_shift", "out_mult", "out_shift",
           "act_min", "act_max", "*in1_table", "*in2_table")
_POOL = ("batches", "in_h", "in_w", "channels", "out_h", "out_w", "k_h", "k_w", "stride_h", "stride_w",
         "pad_top", "pad_left", "act_min", "act_max")
_AFFINE = ("size", "%scale", "zero_point")
ALIAS = "alias"
OPS: dict[str, tuple[int, tuple[str, ...]]] = {
    "nn_conv2d_s8": (1, _CONV),
    "nn_depthwise_conv2d_s8": (2, _CONV),
    "nn_fc_s8": (3, ("batches", "in_features", "out_features", "in_offset", "out_offset", "act_min",
                     "act_max", "*weights", "*bias", "*mult", "*shift", "per_channel")),
    "nn_max_pool_s8": (4, _POOL),
    "nn_avg_pool_s8": (5, _POOL),
    "nn_mean_s8": (6, ("outer", "reduce", "inner", "zp_times_count", "mult", "shift", "out_offset")),
    "nn_add_s8": (7, _BINARY),
    "nn_mul_s8": (8, _BINARY),
    "nn_softmax_s8": (9, ("outer", "depth", "input_mult", "input_left_shift", "diff_min")),
    "nn_logistic_s8": (10, ("size", "in_zp", "radius", "mult", "left_shift")),
    "nn_pad": (11, ("in_dims[4]", "out_dims[4]", "before[4]", "pad_value", "elem_bytes")),
    "nn_concat": (12, ("outer", "count", "part_bytes[16]")),
    "nn_quantize_f32_s8": (13, _AFFINE),
    "nn_dequantize_s8_f32": (14, _AFFINE),
    "nn_requantize_s8": (15, ("size", "in_zp", "out_zp", "mult", "shift", "act_min", "act_max")),
    "nn_copy": (16, ("bytes",)),
    # A RESHAPE whose input and output share storage: no kernel runs; the record keeps step numbers
    # equal to the compiled C's, whose step observers see it too (PROFILE, DUMP_TENSOR).
    ALIAS: (17, ("bytes",)),
}
KERNEL_OF_OP = {code: kernel for kernel, (code, _) in OPS.items()}
_SCRATCH_KERNELS = ("nn_conv2d_s8", "nn_depthwise_conv2d_s8", "nn_fc_s8")


class ContainerError(CompileError):
    """The bytes are not a container this code can read; the message names the failed check."""


def _words(fields: tuple[str, ...]) -> list[tuple[str, int]]:
    """Expand "name[n]" into (name, n) and plain fields into (name, 0)."""
    out = []
    for f in fields:
        if f.endswith("]"):
            name, n = f[:-1].split("[")
            out.append((name, int(n)))
        else:
            out.append((f, 0))
    return out


def param_count(kernel: str) -> int:
    """Number of int32 parameter words of a kernel's step record."""
    return sum(n or 1 for _, n in _words(OPS[kernel][1]))


@dataclass
class ContainerStep:
    """One step record as read back: op code, operand references, raw parameter words."""

    op: int
    operands: list[int]
    params: list[int]

    @property
    def kernel(self) -> str:
        return KERNEL_OF_OP[self.op]

    def named_params(self) -> dict[str, object]:
        """Parameters by struct field name (arrays as lists, floats decoded, pointers as refs)."""
        out: dict[str, object] = {}
        at = 0
        for name, n in _words(OPS[self.kernel][1]):
            if n:
                out[name] = self.params[at:at + n]
                at += n
            else:
                v = self.params[at]
                if name.startswith("%"):
                    out[name[1:]] = struct.unpack("<f", struct.pack("<i", v))[0]
                else:
                    out[name.lstrip("*")] = v
                at += 1
        return out


@dataclass
class TensorInfo:
    dtype: int
    dims: tuple[int, ...]
    scale: float
    zero_point: int
    bytes: int


@dataclass
class Container:
    """A parsed container."""

    kernel_abi: int
    arena_bytes: int
    name: str
    sha256: bytes
    macc: int
    flash_bytes: int
    ram_bytes: int
    input_kind: int
    sample_rate_hz: int
    window: int
    hop: int
    input: TensorInfo
    output: TensorInfo
    labels: tuple[str, ...]
    input_norm: tuple[tuple[float, float], ...]
    feature_set: int
    norm_mode: int
    sample_rate_mhz: int
    steps: list[ContainerStep] = field(default_factory=list)
    consts: bytes = b""
    consts_offset: int = 0
    size: int = 0


# ---- writing ----------------------------------------------------------------


def _align4(n: int) -> int:
    return (n + 3) & ~3


class _Consts:
    """The constants section: arrays appended 4-byte aligned, referenced by offset."""

    def __init__(self) -> None:
        self.data = bytearray()

    def add(self, arr: np.ndarray) -> int:
        at = len(self.data)
        self.data += np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<")).tobytes()
        self.data += b"\0" * (_align4(len(self.data)) - len(self.data))
        return at


class _Strings:
    """The strings section: each string is u8 length, the UTF-8 bytes, then a NUL."""

    def __init__(self) -> None:
        self.data = bytearray()

    def add(self, text: str) -> int:
        raw = text.encode("utf-8")
        if len(raw) > 255 or b"\0" in raw:
            raise ContainerError(f"string {text!r} must be at most 255 bytes of UTF-8 without NUL")
        at = len(self.data)
        self.data += bytes([len(raw)]) + raw + b"\0"
        return at


def _step_record(step: Step, pos: int, plan: Plan, consts: _Consts, *, alias: bool = False
                 ) -> tuple[list[int], list[int]]:
    """Encode one step as words (head first) and the indices of words that are constant
    references, still relative to the constants section (write_container relocates them).
    `alias`: a RESHAPE sharing its input's storage, recorded as op 17 (no kernel, no constants)."""
    code, fields = OPS[step.kernel]
    const_refs = {} if alias else {key: consts.add(arr) for key, arr in step.consts.items()}
    words: list[int] = [0]
    relative: list[int] = []

    def act_ref(ti: int) -> int:
        kind, off = plan.location(ti)
        return (_PLAN_KINDS[kind] << 28) | off

    def const_ref(key: str) -> int:
        relative.append(len(words))
        return const_refs[key]

    act_inputs = iter(step.inputs)
    if alias:
        code, fields = OPS[ALIAS]
        words.append(act_ref(step.inputs[0]))
    elif step.kernel in ("nn_add_s8", "nn_mul_s8", "nn_concat"):
        count = 2 if step.kernel != "nn_concat" else int(step.params["count"])  # type: ignore[arg-type]
        for i in range(count):
            words.append(const_ref(step.const_inputs[i]) if i in step.const_inputs
                         else act_ref(next(act_inputs)))
    else:
        words.append(act_ref(step.inputs[0]))
    words.append(act_ref(step.output))
    if step.kernel in _SCRATCH_KERNELS and not alias:
        sc = plan.scratch(pos)
        words.append(REF_NULL if sc is None else (REF_ARENA << 28) | sc)
    n_operands = len(words) - 1

    for name, n in _words(fields):
        key = name.lstrip("*%")
        value = step.params.get(key) if name.startswith("*") else step.params[key]   # MUL has no tables
        if n:
            words.extend(int(v) & 0xFFFFFFFF for v in value)  # type: ignore[union-attr]
        elif name.startswith("*"):
            words.append(REF_NULL if value is None else const_ref(str(value)))
        elif name.startswith("%"):
            words.append(struct.unpack("<I", struct.pack("<f", float(value)))[0])  # type: ignore[arg-type]
        else:
            words.append(int(value) & 0xFFFFFFFF)  # type: ignore[call-overload]
    words[0] = code | (n_operands << 8) | ((len(words) - 1 - n_operands) << 16)
    return words, relative


def _tensor_bytes(graph: LoweredGraph, ti: int) -> bytes:
    t = graph.model.tensors[ti]
    is_float = t.type_code == 0
    scale = float(t.quant.scale[0]) if (t.quant is not None and not is_float) else 0.0
    zp = int(t.quant.zero_point[0]) if (t.quant is not None and not is_float) else 0
    dims = list(t.shape) + [0] * (4 - len(t.shape))
    return struct.pack("<BBxx4HfiI", DTYPE_CODES[t.type_code], len(t.shape), *dims, scale, zp, t.nbytes)


def write_container(graph: LoweredGraph, plan: Plan, *, name: str, sha256: bytes, labels: tuple[str, ...],
                    input_kind: int, sample_rate_hz: int, window: int, hop: int, macc: int,
                    input_norm: tuple[tuple[float, float], ...] = (),
                    feature_set: int = 0, norm_mode: int = 0, sample_rate_mhz: int = 0) -> bytes:
    """Encode a lowered, planned model as a container (the arguments mirror emit.emit_c).

    The descriptor's flash_bytes is the container's own size: what the model occupies in a slot.
    """
    if len(sha256) != 32:
        raise ContainerError("sha256 must be 32 bytes")
    if len(labels) > 255 or len(input_norm) > 65535:
        raise ContainerError(f"{len(labels)} labels and {len(input_norm)} norms: at most 255 and 65535")
    consts = _Consts()
    strings = _Strings()
    records: list[tuple[list[int], list[int]]] = []
    for pos, step in enumerate(graph.steps):
        # A copy between shared storage: the compiled C calls nothing either, but observes the step.
        alias = step.kernel == "nn_copy" and plan.location(step.inputs[0]) == plan.location(step.output)
        records.append(_step_record(step, pos, plan, consts, alias=alias))
    if len(records) > 65535:
        raise ContainerError(f"{len(records)} steps; a container holds at most 65535")
    norm_at = consts.add(np.array([v for pair in input_norm for v in pair], np.float32)) if input_norm else 0

    steps_off = HEADER_BYTES + DESCRIPTOR_BYTES
    steps_bytes = 4 * sum(len(words) for words, _ in records)
    consts_off = steps_off + steps_bytes
    strings_off = consts_off + len(consts.data)
    name_at = strings_off + strings.add(name)
    labels_at = strings_off + len(strings.data)
    for label in labels:
        strings.add(label)
    total = _align4(strings_off + len(strings.data))

    body = bytearray()
    for words, relative in records:
        for i in relative:
            words[i] = (REF_CONST << 28) | (consts_off + words[i])
        body += struct.pack(f"<{len(words)}I", *words)

    # The parameter layouts follow the kernels' ABI (NN_KERNEL_ABI_VERSION); the firmware refuses another.
    header = struct.pack("<4sHHIIIHHIIIIIIII", MAGIC, FORMAT_VERSION, HEADER_BYTES, abi_version(), total,
                         plan.arena_bytes, len(records), 0, HEADER_BYTES, DESCRIPTOR_BYTES, steps_off,
                         steps_bytes, consts_off, len(consts.data), strings_off, len(strings.data))
    desc = (struct.pack("<I", name_at) + sha256
            + struct.pack("<IIIBBHHHHH", macc, total, plan.arena_bytes, input_kind, len(labels),
                          len(input_norm), sample_rate_hz, window, hop, 0)
            + _tensor_bytes(graph, graph.input) + _tensor_bytes(graph, graph.output)
            + struct.pack("<IIBBHI", labels_at, consts_off + norm_at if input_norm else 0, feature_set,
                          norm_mode, 0, sample_rate_mhz))
    assert len(header) == HEADER_BYTES and len(desc) == DESCRIPTOR_BYTES, (len(header), len(desc))
    out = header + desc + bytes(body) + bytes(consts.data) + bytes(strings.data)
    return out + b"\0" * (total - len(out))


def container_from_compiled(compiled: CompiledModel) -> bytes:
    """The container of a model `compile_bytes`/`compile_file` compiled (with the fast kernel set: the
    board's executor runs its own kernels and needs their scratch planned)."""
    if compiled.kernel_set != "fast":
        raise ValueError(f"a container is planned for the board's own kernels: compile {compiled.name} with "
                         f"kernels='fast', not {compiled.kernel_set!r}")
    return write_container(compiled.graph, compiled.plan, name=compiled.name, sha256=compiled.sha256,
                           labels=compiled.labels, input_kind=compiled.meta.input_kind_code,
                           sample_rate_hz=compiled.meta.sample_rate_hz, window=compiled.meta.window,
                           hop=compiled.meta.hop, macc=compiled.macc, input_norm=compiled.meta.input_norm)


def save_container(data: bytes, path: Path) -> None:
    """Write a container atomically: a reader never sees a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise CompileError(f"cannot write {path}: {exc.strerror or exc}") from None


# ---- reading ----------------------------------------------------------------


def _check(ok: bool, what: str) -> None:
    if not ok:
        raise ContainerError(f"invalid container: {what}")


def _string(data: bytes, at: int, lo: int, hi: int, what: str) -> tuple[str, int]:
    _check(lo <= at < hi, f"{what} at offset {at} lies outside the strings section")
    n = data[at]
    _check(at + n + 2 <= hi and data[at + 1 + n] == 0 and b"\0" not in data[at + 1:at + 1 + n],
           f"{what} at offset {at} is not a NUL-terminated string of its length")
    return data[at + 1:at + 1 + n].decode("utf-8", "replace"), at + n + 2


def _tensor(raw: bytes) -> TensorInfo:
    dtype, rank, d0, d1, d2, d3, scale, zp, nbytes = struct.unpack("<BBxx4HfiI", raw)
    return TensorInfo(dtype, (d0, d1, d2, d3)[:rank], scale, zp, nbytes)


def read_container(data: bytes) -> Container:
    """Parse a container; raises ContainerError naming the first structural check that fails.

    Structural only (sections, records, strings, references within their sections): the
    parameter-range and arena checks are the firmware's (el_container.c), tested through it.
    """
    _check(len(data) >= HEADER_BYTES + DESCRIPTOR_BYTES, f"{len(data)} bytes is shorter than a header")
    (magic, version, header_bytes, abi, total, arena, n_steps, _, desc_off, desc_bytes, steps_off,
     steps_bytes, consts_off, consts_bytes, strings_off, strings_bytes) = struct.unpack_from(
        "<4sHHIIIHHIIIIIIII", data)
    _check(magic == MAGIC, f"magic {magic!r} is not {MAGIC!r}: not an edgeloop model container")
    _check(version == FORMAT_VERSION, f"format version {version}; this edgeloop reads version {FORMAT_VERSION}: "
           "recompile the model (edgeloop compile --container)")
    _check(header_bytes == HEADER_BYTES and desc_bytes >= DESCRIPTOR_BYTES, "header or descriptor size")
    _check(total == len(data), f"header says {total} bytes, the container has {len(data)}")
    sections = [(desc_off, desc_bytes), (steps_off, steps_bytes), (consts_off, consts_bytes),
                (strings_off, strings_bytes)]
    prev_end = HEADER_BYTES
    for off, size in sections:
        _check(off % 4 == 0 and off >= prev_end and off + size <= total, "sections out of order or bounds")
        prev_end = off + size
    d = data[desc_off:desc_off + DESCRIPTOR_BYTES]
    name_at = struct.unpack_from("<I", d)[0]
    sha = d[4:36]
    macc, flash, ram, kind, n_labels, n_norm, rate, window, hop, _ = struct.unpack_from("<IIIBBHHHHH", d, 36)
    inp, outp = _tensor(d[60:84]), _tensor(d[84:108])
    labels_at, norm_at, feature_set, norm_mode, _, rate_mhz = struct.unpack_from("<IIBBHI", d, 108)
    s_lo, s_hi = strings_off, strings_off + strings_bytes
    name, _ = _string(data, name_at, s_lo, s_hi, "the model name")
    labels = []
    at = labels_at
    for i in range(n_labels):
        label, at = _string(data, at, s_lo, s_hi, f"label {i}")
        labels.append(label)
    norms: tuple[tuple[float, float], ...] = ()
    if n_norm:
        _check(norm_at % 4 == 0 and consts_off <= norm_at and norm_at + 8 * n_norm <= consts_off + consts_bytes,
               "input_norm lies outside the constants section")
        vals = struct.unpack_from(f"<{2 * n_norm}f", data, norm_at)
        norms = tuple((vals[2 * i], vals[2 * i + 1]) for i in range(n_norm))
    steps = []
    at, end = steps_off, steps_off + steps_bytes
    for i in range(n_steps):
        _check(at + 4 <= end, f"step {i} starts past the steps section")
        head = struct.unpack_from("<I", data, at)[0]
        op, n_ops, n_params = head & 0xFF, (head >> 8) & 0xFF, head >> 16
        _check(op in KERNEL_OF_OP, f"step {i} has unknown op code {op}")
        _check(n_params == param_count(KERNEL_OF_OP[op]), f"step {i} ({KERNEL_OF_OP[op]}) has {n_params} "
               f"parameter words, expected {param_count(KERNEL_OF_OP[op])}")
        _check(at + 4 * (1 + n_ops + n_params) <= end, f"step {i} runs past the steps section")
        words = struct.unpack_from(f"<{n_ops}I{n_params}i", data, at + 4)
        steps.append(ContainerStep(op, list(words[:n_ops]), list(words[n_ops:])))
        at += 4 * (1 + n_ops + n_params)
    _check(at == end, f"{end - at} bytes after the last step")
    return Container(abi, arena, name, sha, macc, flash, ram, kind, rate, window, hop, inp, outp,
                     tuple(labels), norms, feature_set, norm_mode, rate_mhz, steps,
                     data[consts_off:consts_off + consts_bytes], consts_off, total)


def const_array(c: Container, ref: int, dtype: str, count: int) -> np.ndarray:
    """The `count` elements of a constant reference (tests compare them with the lowered arrays)."""
    _check(ref >> 28 == REF_CONST, f"reference {ref:#x} is not a constant")
    off = (ref & REF_OFFSET_MASK) - c.consts_offset
    dt = np.dtype(dtype).newbyteorder("<")
    _check(0 <= off and off + count * dt.itemsize <= len(c.consts), f"constant {ref:#x} out of bounds")
    return np.frombuffer(c.consts, dt, count, off)
