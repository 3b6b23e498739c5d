"""Per-layer and total cost of a model: MACs, parameters, memory, and the same figures for TFLite Micro."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path


import edgeloop
from edgeloop.models.compiler.driver import CompiledModel, compile_bytes
from edgeloop.models.compiler.emit import STRUCT_BYTES
from edgeloop.models.compiler.errors import CompileError
from edgeloop.models.compiler.host import kernel_sources
from edgeloop.models.compiler.memory_map import arena_map, format_memory_map
from edgeloop.models.compiler.meta import ModelMeta

ARM_FLAGS = ("-mcpu=cortex-m7", "-mthumb", "-mfpu=fpv5-d16", "-mfloat-abi=hard", "-Os", "-std=c11",
             "-ffunction-sections", "-fdata-sections")


def _fmt_shape(shape: tuple[int, ...]) -> str:
    return "x".join(str(d) for d in shape) if shape else "scalar"


def layer_table(compiled: CompiledModel) -> list[dict]:
    """One row per kernel call: op, shapes, MACs, params, weight and activation bytes."""
    tensors = compiled.graph.model.tensors
    rows = []
    for pos, step in enumerate(compiled.graph.steps):
        params = sum(int(a.size) for k, a in step.consts.items() if k in ("weights", "bias"))
        weight_bytes = sum(int(a.nbytes) for a in step.consts.values()) + STRUCT_BYTES.get(step.struct or "", 0)
        act_bytes = sum(tensors[t].nbytes for t in step.inputs) + tensors[step.output].nbytes
        rows.append({
            "index": pos, "op": step.op, "tflite_operator": step.index, "kernel": step.kernel,
            "inputs": [_fmt_shape(s) for s in step.in_shapes], "output": _fmt_shape(step.out_shape),
            "macc": step.macc, "params": params, "weight_bytes": weight_bytes,
            "activation_bytes": act_bytes, "scratch_bytes": step.scratch_bytes,
            "wide_weights": bool(step.params.get("wide_weights")),
        })
    return rows


def arm_sizes(compiled: CompiledModel, optimized: bool = True) -> dict[str, int] | None:
    """Section sizes of the model linked with its kernels for Cortex-M7 (-Os), or None without a toolchain.

    The model, the kernels and the C library functions they call are linked
    with --gc-sections from an entry that references only the model
    descriptor, so `text` counts exactly the code and constants the model pulls in.
    """
    cc = shutil.which("arm-none-eabi-gcc")
    size = shutil.which("arm-none-eabi-size")
    if cc is None or size is None:
        return None
    nn = edgeloop.FIRMWARE_DIR / "nn"
    with tempfile.TemporaryDirectory(prefix="edgeloop-size-") as tmp:
        d = Path(tmp)
        (d / f"{compiled.name}.c").write_text(compiled.c_source, encoding="utf-8")
        (d / f"{compiled.name}.h").write_text(compiled.h_source, encoding="utf-8")
        (d / "entry.c").write_text(
            f'#include "{compiled.name}.h"\n'
            f"const void *el_size_entry(void) {{ return &nn_model_{compiled.name}; }}\n", encoding="utf-8")
        cmd = [cc, *ARM_FLAGS, f"-DNN_OPTIMIZED={int(optimized)}", "-I", str(nn), "-I", str(d),
               str(d / "entry.c"), str(d / f"{compiled.name}.c"), *map(str, kernel_sources()),
               "-nostartfiles", "--specs=nano.specs", "-Wl,--gc-sections", "-Wl,-e,el_size_entry",
               "-o", str(d / "model.elf"), "-lm"]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            raise CompileError(f"arm-none-eabi-gcc could not build the model:\n{proc.stderr[-3000:]}")
        out = subprocess.run([size, "-A", str(d / "model.elf")], capture_output=True, text=True,
                             timeout=60).stdout
    sections = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].startswith(".") and parts[1].isdigit():
            sections[parts[0]] = int(parts[1])
    text = sum(v for k, v in sections.items() if k.startswith((".text", ".rodata")))
    data = sum(v for k, v in sections.items() if k.startswith(".data"))
    bss = sum(v for k, v in sections.items() if k.startswith(".bss"))
    return {"text": text, "data": data, "bss": bss, "flash": text + data}


# NUCLEO-H743ZI2 memories (firmware/ports/nucleo-h743zi2: nucleo_h743zi2.ld, nucleo_h743zi2_tcm.ld)
NUCLEO_ITCM_BYTES = 64 * 1024
NUCLEO_DTCM_ARENA_ROOM = 128 * 1024 - 16 * 1024 - 10 * 1024   # DTCM less the stack and the core's state (~10 KB)


def nucleo_placement(arena_bytes: int, code_bytes: int) -> dict:
    """Where the model's parts land on the NUCLEO-H743ZI2, by default and with `make ... TCM=1`."""
    arena_fits = arena_bytes <= NUCLEO_DTCM_ARENA_ROOM
    return {
        "weights": "flash",
        "io_buffers": "AXI SRAM",
        "arena": "AXI SRAM",
        "kernels": "flash",
        "tcm1_arena": "DTCM" if arena_fits else "does not fit DTCM (link fails with TCM=1)",
        "tcm1_kernels": "ITCM" if code_bytes <= NUCLEO_ITCM_BYTES else "does not fit ITCM",
    }


def analyze(tflite: bytes, *, name: str = "model", with_tflm: bool = True, with_arm: bool = True,
            meta: ModelMeta | None = None, kernels: str = "fast") -> dict:
    """The full report as a JSON-able dict (see `format_report` for the table).

    With `meta` (the model's sidecar), labels and the input normalisation table count in the flash
    figure exactly as `edgeloop compile` puts them into the descriptor. `kernels`: the kernel set
    (`compile --kernels`) the estimate and the Cortex-M7 link use.
    """
    compiled = compile_bytes(tflite, name=name, meta=meta, kernels=kernels)
    rows = layer_table(compiled)
    report: dict = {
        "name": name,
        "layers": rows,
        "totals": {
            "operators": len(rows),
            "macc": compiled.macc,
            "params": sum(r["params"] for r in rows),
            "weight_bytes": compiled.const_bytes,
            "label_bytes": compiled.label_bytes,
            "code_bytes_estimate": compiled.code_bytes,
            "flash_bytes_estimate": compiled.flash_bytes,
            "arena_bytes": compiled.arena_bytes,
            "peak_live_bytes": compiled.plan.peak_bytes,
            "single_op_lower_bound_bytes": compiled.plan.lower_bound,
            "flatbuffer_bytes": len(tflite),
            "kernel_set": compiled.kernel_set,
        },
        "nucleo": nucleo_placement(compiled.arena_bytes, compiled.code_bytes),
    }
    report["memory_map"] = arena_map(compiled)
    if with_tflm:
        from edgeloop.models.reference import tflm_arena_bytes

        report["totals"]["tflm_arena_bytes"] = tflm_arena_bytes(tflite)
    if with_arm:
        report["totals"]["arm"] = arm_sizes(compiled)
    return report


def format_report(report: dict) -> str:
    """A readable table of the report."""
    cols = [("#", "index", 3), ("op", "op", 18), ("inputs", "inputs", 22), ("output", "output", 14),
            ("MACs", "macc", 10), ("params", "params", 8), ("weight B", "weight_bytes", 9),
            ("act B", "activation_bytes", 8), ("scratch B", "scratch_bytes", 9)]
    lines = ["  ".join(h.rjust(w) if i >= 4 else h.ljust(w) for i, (h, _, w) in enumerate(cols))]
    for r in report["layers"]:
        cells = []
        for i, (_, key, w) in enumerate(cols):
            v = r[key]
            v = ",".join(v) if isinstance(v, list) else str(v)
            if key == "scratch_bytes" and r.get("wide_weights"):
                v += "w"
            cells.append(v.rjust(w) if i >= 4 else v.ljust(w))
        lines.append("  ".join(cells))
    t = report["totals"]
    if any(r.get("wide_weights") for r in report["layers"]):
        lines.append("(scratch B ...w: the layer's weights widened to int16 in scratch for speed, where the arena "
                     "had room)")
    lines.append("")
    lines.append(f"total: {t['operators']} operators, {t['macc']:,} MACs, {t['params']:,} parameters")
    lines.append(f"RAM:   arena {t['arena_bytes']:,} B (peak live {t['peak_live_bytes']:,} B, single-op bound "
                 f"{t['single_op_lower_bound_bytes']:,} B)"
                 + (f" | TFLite Micro arena {t['tflm_arena_bytes']:,} B" if "tflm_arena_bytes" in t else ""))
    lines.append(f"flash: weights+params {t['weight_bytes']:,} B + labels/norms {t['label_bytes']:,} B + code "
                 f"~{t['code_bytes_estimate']:,} B ({t.get('kernel_set', 'fast')} kernels) = "
                 f"~{t['flash_bytes_estimate']:,} B | flatbuffer "
                 f"{t['flatbuffer_bytes']:,} B")
    placement = report.get("nucleo")
    if placement:
        lines.append(f"NUCLEO-H743ZI2: weights and kernels in flash, arena in {placement['arena']}, link buffers in "
                     f"{placement['io_buffers']}; with TCM=1 the kernels in {placement['tcm1_kernels']} and the arena "
                     f"in {placement['tcm1_arena']}")
    arm = t.get("arm")
    if arm:
        lines.append(f"Cortex-M7 -Os (arm-none-eabi-size): text {arm['text']:,} B, data {arm['data']:,} B, "
                     f"bss {arm['bss']:,} B")
    elif "arm" in t:
        lines.append("Cortex-M7 sizes: arm-none-eabi-gcc not found (install gcc-arm-none-eabi)")
    if "memory_map" in report:
        lines.append("")
        lines.append(format_memory_map(report["memory_map"], t.get("tflm_arena_bytes")))
    return "\n".join(lines)

