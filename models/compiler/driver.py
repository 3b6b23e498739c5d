"""The compile pipeline: read -> lower -> plan -> emit, written atomically."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from edgeloop import os_errors_explained
from edgeloop.models.compiler.emit import code_bytes, const_bytes, emit_c
from edgeloop.models.compiler.errors import CompileError
from edgeloop.models.compiler.kernel_sizes import DEFAULT_KERNEL_SET, KERNEL_SETS
from edgeloop.models.compiler.lower import LoweredGraph, lower
from edgeloop.models.compiler.meta import ModelMeta, load_meta
from edgeloop.models.compiler.planner import Plan, plan_with_wide_weights
from edgeloop.models.compiler.tflite_reader import read_tflite

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


@dataclass
class CompiledModel:
    """Everything the compiler derived from one .tflite file."""

    name: str
    sha256: bytes
    graph: LoweredGraph
    plan: Plan
    meta: ModelMeta
    labels: tuple[str, ...]
    macc: int
    const_bytes: int        # weights, biases, multipliers/shifts and parameter structs
    label_bytes: int        # label strings and their pointer table
    code_bytes: int         # estimated kernel + invoke() code
    c_source: str
    h_source: str
    tflite_bytes: int
    kernel_set: str = DEFAULT_KERNEL_SET   # the kernels the generated C calls (kernel_sizes.KERNEL_SETS)

    @property
    def flash_bytes(self) -> int:
        return self.const_bytes + self.label_bytes + self.code_bytes

    @property
    def arena_bytes(self) -> int:
        return self.plan.arena_bytes


def default_name(path: Path) -> str:
    """A C identifier derived from a file name ("bottle-v2.tflite" -> "bottle_v2")."""
    stem = re.sub(r"[^A-Za-z0-9_]", "_", Path(path).stem) or "model"
    if stem[0].isdigit():
        stem = "m_" + stem
    return stem[:63]


def _default_labels(graph: LoweredGraph) -> tuple[str, ...]:
    out = graph.model.tensors[graph.output]
    producers = {s.output: s for s in graph.steps}
    step = producers.get(graph.output)
    while step is not None and step.op in ("DEQUANTIZE", "RESHAPE", "SQUEEZE", "EXPAND_DIMS", "QUANTIZE"):
        step = producers.get(step.inputs[0]) if step.inputs else None
    classifier = step is not None and step.op in ("SOFTMAX", "LOGISTIC")
    if out.size > 255 or (out.size == 1 and not classifier):
        return ()
    return tuple(f"class{i}" for i in range(out.size))


def use_reference_kernels(graph: LoweredGraph) -> None:
    """Prepare a lowered graph for the small kernel set: the reference kernels need no scratch and
    ignore ADD's rescaling tables, so neither is planned nor emitted (the arena and constants shrink).
    A depthwise layer that may run in place keeps its scratch: the reference kernel copies one input
    channel there when the planner gives it its input's storage (nn_depthwise_conv2d_s8_in_place)."""
    for step in graph.steps:
        if not (step.kernel == "nn_depthwise_conv2d_s8" and step.in_place):
            step.scratch_bytes = 0
        if "wide_weights" in step.params:
            step.params["wide_weights"] = 0
        for key in ("in1_table", "in2_table"):
            if key in step.consts:
                del step.consts[key]
                step.params[key] = None


def compile_bytes(data: bytes, *, name: str, meta: ModelMeta | None = None,
                  source_name: str = "model.tflite", wide_weights: str = "free",
                  kernels: str = DEFAULT_KERNEL_SET) -> CompiledModel:
    """Compile .tflite bytes in memory; raises CompileError (a ValueError) on any problem.

    `wide_weights` ("free", "tflm", "all", "none"): which convolutions widen their weights into
    scratch for speed (see planner.plan_with_wide_weights); "free" never grows the arena, "tflm"
    lets it grow up to TFLite Micro's arena for the same model (probed with its interpreter).
    `kernels` ("fast", "small"): the kernel set the generated C calls. "fast" calls the build's
    entry points (the optimized kernels on a DSP core); "small" calls the reference kernels by name,
    so the model links no optimized code: less flash, no kernel scratch, slower. Same results.
    """
    if not _NAME_RE.match(name):
        raise CompileError(f"model name {name!r} is not a C identifier (letters, digits, _; "
                           "not starting with a digit; at most 63 characters); pass --name")
    if kernels not in KERNEL_SETS:
        raise CompileError(f"kernel set {kernels!r} is unknown; choose one of {', '.join(KERNEL_SETS)}")
    meta = meta or ModelMeta()
    model = read_tflite(data)
    graph = lower(model)
    if kernels == "small":
        use_reference_kernels(graph)
        wide_weights = "none"
    limit = None
    if wide_weights == "tflm":
        from edgeloop.models.reference import tflm_arena_bytes

        limit = tflm_arena_bytes(data)
    arena = plan_with_wide_weights(graph, wide_weights, arena_limit=limit)
    out = model.tensors[graph.output]
    if meta.labels is not None:
        if len(meta.labels) != out.size:
            raise CompileError(f"{len(meta.labels)} labels given, but the model output has {out.size} "
                               f"elements (shape {list(out.shape)}); give one label per output element")
        labels = meta.labels
    else:
        labels = _default_labels(graph)
    inp = model.tensors[graph.input]
    per_channel = meta.norm_mode == 1  # SPEC.md §9.3: one (mean, std) per channel (the input's last axis)
    expected = int(inp.shape[-1]) if per_channel else inp.size
    if meta.input_norm and len(meta.input_norm) != expected:
        raise CompileError(f"input_norm has {len(meta.input_norm)} (mean, std) pairs, but the model input has "
                           f"{expected} {'channels' if per_channel else 'elements'} (shape {list(inp.shape)}); "
                           f"give one pair per input {'channel' if per_channel else 'element'}")
    macc = sum(s.macc for s in graph.steps)
    cb, kb = const_bytes(graph.steps), code_bytes(graph.steps, kernels)
    lb = sum(len(x.encode("utf-8")) + 1 + 4 for x in labels) + 8 * len(meta.input_norm)
    sha = hashlib.sha256(data).digest()
    c_src, h_src = emit_c(graph, arena, name=name, source_name=source_name, sha256=sha, labels=labels,
                          input_kind=meta.input_kind_code, sample_rate_hz=meta.sample_rate_hz,
                          window=meta.window, hop=meta.hop, macc=macc, flash_bytes=cb + lb + kb,
                          input_norm=meta.input_norm, feature_set=meta.feature_set,
                          sample_rate_mhz=meta.sample_rate_mhz, norm_mode=meta.norm_mode, kernel_set=kernels)
    return CompiledModel(name, sha, graph, arena, meta, labels, macc, cb, lb, kb, c_src, h_src, len(data), kernels)


def sidecar_path(tflite: Path) -> Path | None:
    """MODEL.meta.json beside MODEL.tflite when it exists (labels, input kind, normalisation table)."""
    tflite = Path(tflite)
    candidate = tflite.with_name(tflite.name[: -len(tflite.suffix)] + ".meta.json") if tflite.suffix else None
    return candidate if candidate is not None and candidate.is_file() else None


def compile_source(tflite: Path, *, name: str | None = None, meta_path: Path | None = None,
                   wide_weights: str = "free", kernels: str = DEFAULT_KERNEL_SET) -> CompiledModel:
    """Read and compile MODEL.tflite in memory, with its sidecar (default: MODEL.meta.json
    beside the model when present); writes nothing."""
    tflite = Path(tflite)
    try:
        data = tflite.read_bytes()
    except OSError as exc:
        raise CompileError(f"cannot read {tflite}: {exc.strerror or exc}") from None
    meta_path = meta_path if meta_path is not None else sidecar_path(tflite)
    meta = load_meta(meta_path) if meta_path is not None else None
    return compile_bytes(data, name=name or default_name(tflite), meta=meta, source_name=tflite.name,
                         wide_weights=wide_weights, kernels=kernels)


def compile_file(tflite: Path, out_dir: Path, *, name: str | None = None,
                 meta_path: Path | None = None, wide_weights: str = "free",
                 kernels: str = DEFAULT_KERNEL_SET) -> CompiledModel:
    """Compile MODEL.tflite into OUT_DIR/NAME.c and NAME.h.

    The sidecar defaults to MODEL.meta.json beside the model when present.
    Nothing is written unless compilation succeeds; files are moved into
    place only after both have been written completely.
    """
    result = compile_source(tflite, name=name, meta_path=meta_path, wide_weights=wide_weights, kernels=kernels)
    out_dir = Path(out_dir)
    with os_errors_explained(f"write the C files to {out_dir}"):
        out_dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".edgeloop-compile-", dir=out_dir))
        try:
            (tmp / f"{result.name}.c").write_text(result.c_source, encoding="utf-8")
            (tmp / f"{result.name}.h").write_text(result.h_source, encoding="utf-8")
            for suffix in (".h", ".c"):
                os.replace(tmp / f"{result.name}{suffix}", out_dir / f"{result.name}{suffix}")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return result
