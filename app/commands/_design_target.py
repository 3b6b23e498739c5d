"""What `edgeloop design` needs from the target side: board budgets measured from a firmware build,
emulated instruction counts under QEMU (latency calibration) and bit-exact validation on the host board.

Kept out of edgeloop.models.design because it builds firmware and starts boards (edgeloop.app.link).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import edgeloop
from edgeloop import ResourceError
from edgeloop.models.design.budgets import BoardPreset, BoardSpec

# Boards with a port: the firmware board, and the clock its port sets (read from the port source below).
_PORT_CLOCKS = {"nucleo-h743zi2": ("nucleo-h743zi2/port_nucleo.c", r"#define\s+CPU_HZ\s+(\d+)u?"),
                "qemu-mps2-an500": ("qemu-mps2-an500/qemu_mps2.h", r"#define\s+MPS2_SYSCLK_HZ\s+\(?(\d+)u?")}
_BASELINE_MODEL = "sine"  # the smallest model the firmware links; its own share is subtracted


def _port_clock_hz(board: str) -> int:
    rel, pattern = _PORT_CLOCKS[board]
    text = (edgeloop.FIRMWARE_DIR / "ports" / rel).read_text(encoding="utf-8")
    m = re.search(pattern, text)
    if not m:
        raise RuntimeError(f"cannot find the CPU clock of {board} in firmware/ports/{rel}")
    return int(m.group(1))


def _memory_regions(board: str) -> dict[str, tuple[int, int]]:
    """name -> (origin, length) of the MEMORY block of the board's linker script, plus the alias roles."""
    # the script that places code in ROM (a port may add others, e.g. a TCM overlay)
    ld = next(p for p in sorted((edgeloop.FIRMWARE_DIR / "ports" / board).glob("*.ld"))
              if 'REGION_ALIAS("ROM"' in p.read_text(encoding="utf-8"))
    text = ld.read_text(encoding="utf-8")
    regions = {}
    for name, origin, length, unit in re.findall(
            r"(\w+)\s*\([rwx]+\)\s*:\s*ORIGIN\s*=\s*(0x[0-9A-Fa-f]+|\d+)\s*,\s*LENGTH\s*=\s*(\d+)([KM]?)", text):
        regions[name] = (int(origin, 0), int(length) * {"": 1, "K": 1024, "M": 1024 * 1024}[unit])
    for role, region in re.findall(r'REGION_ALIAS\("(\w+)",\s*(\w+)\)', text):
        regions[f"@{role}"] = regions[region]
    return regions


def _section_sizes(elf: Path) -> list[tuple[str, str, str, int]]:
    """(name, type, flags, size) of the allocated sections of an ELF (arm-none-eabi-readelf -S)."""
    readelf = shutil.which("arm-none-eabi-readelf")
    if readelf is None:
        raise ResourceError("arm-none-eabi-readelf was not found: install it with `sudo apt-get install "
                           "binutils-arm-none-eabi` to measure a board's budgets")
    out = subprocess.run([readelf, "-S", "--wide", str(elf)], capture_output=True, text=True, check=True,
                         timeout=60).stdout
    rows = []
    for m in re.finditer(r"^\s*\[\s*\d+\]\s+(\S+)\s+(\S+)\s+[0-9a-f]+\s+[0-9a-f]+\s+([0-9a-f]+)\s+[0-9a-f]+\s+([A-Z]*)\s",
                         out, re.MULTILINE):
        name, kind, size, flags = m.group(1), m.group(2), int(m.group(3), 16), m.group(4)
        if "A" in flags:
            rows.append((name, kind, flags, size))
    return rows


def measure_board(board: str) -> BoardSpec:
    """Flash and RAM left for a model on `board`, measured from its firmware image.

    The firmware is built with the smallest model (`sine`); flash used is every
    allocated section with contents (code, constants, .data's initial values),
    RAM used is every writable allocated section (stack, .data, .bss, the
    core's frame slots, I/O pool and RX ring). The sine
    model's own constants and arena are subtracted, so what is left is what a
    model may spend. Totals are the linker script's region lengths.
    """
    from edgeloop.app.link.firmware_build import build_firmware
    from edgeloop.models.compiler import compile_file

    image = build_firmware(board, [_BASELINE_MODEL])
    regions = _memory_regions(board)
    rom = regions["@ROM"]
    ram_regions = {regions[r] for r in ("@RAM", "@BULK") if r in regions}
    flash_used = ram_used = 0
    for _name, kind, flags, size in _section_sizes(image.elf):
        if kind != "NOBITS":
            flash_used += size  # code, constants, and .data's initial values are stored in flash
        if "W" in flags:
            ram_used += size  # stack, .data, .bss, the core's frame slots, I/O pool and RX ring
    ram_total = sum(length for _, length in ram_regions)
    with tempfile.TemporaryDirectory(prefix="edgeloop-design-board-") as tmp:
        zoo = edgeloop.PACKAGE_ROOT / "models" / "zoo" / _BASELINE_MODEL / f"{_BASELINE_MODEL}.tflite"
        sine = compile_file(zoo, Path(tmp), name=_BASELINE_MODEL)
    return BoardSpec(board=board, clock_hz=_port_clock_hz(board), flash_total=rom[1], ram_total=ram_total,
                     firmware_flash=flash_used - sine.flash_bytes, firmware_ram=ram_used - sine.arena_bytes,
                     firmware_image=str(image.elf))


def board_presets() -> dict[str, BoardPreset]:
    """The boards `--board` accepts (every port with a linker script: a real memory map)."""
    return {b: BoardPreset(b, "STM32H743ZI Cortex-M7 (NUCLEO-H743ZI2)" if b.startswith("nucleo")
                           else "QEMU mps2-an500 Cortex-M7 (emulated)") for b in _PORT_CLOCKS}


@dataclass(frozen=True)
class QemuTiming:
    """Emulated instructions of one inference under QEMU, whole and per compiled step (a step's figure includes
    the step hook's few instructions; the whole one is invoke() without hooks), and the lowered graph that was
    measured (`graph.steps` pairs with `step_instructions`)."""

    instructions: int
    step_instructions: tuple[int, ...]
    graph: Any


def qemu_timing(tflite: bytes, work: Path, kernels: str = "fast") -> QemuTiming:
    """Emulated instructions of one inference of an int8 model compiled with kernel set `kernels`
    ("fast": the optimized kernels of a DSP core; "small": the reference kernels), whole and per step.

    The model is compiled, linked into a bare-metal self-check image and run
    under qemu-system-arm (-icount shift=0: deterministic); outputs are checked
    against TFLite Micro. Instructions = SysTick ticks x instructions per tick;
    the steps are timed through the model's step-observing twin (invoke_steps).
    """
    from edgeloop.app.link.qemu import INSTRUCTIONS_PER_TICK, build_bare_metal, run_bare_metal
    from edgeloop.models.compiler import compile_bytes
    from edgeloop.models.compiler.harness import harness_source, parse_result, parse_step_ticks
    from edgeloop.models.compiler.host import kernel_sources
    from edgeloop.models.reference import run_reference_batch

    cname = "cal_model"
    result = compile_bytes(tflite, name=cname, kernels=kernels)
    work.mkdir(parents=True, exist_ok=True)
    (work / f"{cname}.c").write_text(result.c_source)
    (work / f"{cname}.h").write_text(result.h_source)
    t = result.graph.model.tensors[result.graph.input]
    xs = np.random.default_rng(0).integers(-128, 128, (1, *t.shape), dtype=np.int8)
    expected = run_reference_batch(tflite, xs)
    (work / "main.c").write_text(harness_source(cname, xs, expected, repeats=2,
                                                step_ticks=len(result.graph.steps)))
    elf = build_bare_metal([work / "main.c", work / f"{cname}.c", *kernel_sources()], work / "opt",
                           includes=[work], name=cname)
    output = run_bare_metal(elf, timeout=300).check().output
    res = parse_result(output)
    if res["mismatches"]:
        raise RuntimeError(f"the {kernels} kernel set differs from TFLite Micro under QEMU; fix that before "
                           "calibrating")
    steps = tuple(t * INSTRUCTIONS_PER_TICK for t in parse_step_ticks(output))
    return QemuTiming(int(res["ticks_min"]) * INSTRUCTIONS_PER_TICK, steps, result.graph)


def qemu_instructions(tflite: bytes, work: Path, kernels: str = "fast") -> int:
    """Emulated instructions of one whole inference (`qemu_timing`)."""
    return qemu_timing(tflite, work, kernels).instructions


def validate_on_host_board(c_dir: Path, tflite: Path, x: np.ndarray) -> dict[str, Any]:
    """Run int8 inputs through the compiled model on the host board and TFLite Micro; compare outputs.

    Returns {"samples", "exact_match_rate", "max_abs_diff_q", "bit_exact"}.
    """
    from edgeloop.app.link.boards import start_board
    from edgeloop.app.link.session import Session
    from edgeloop.app.validate.validator import load_validation_data, resolve_model_id, validate_on_board

    data_file = Path(c_dir) / "validation_inputs.npz"
    np.savez(data_file, x=x)
    with start_board("host", models=[str(c_dir)]) as board, Session(board.url) as session:
        info = session.connect()
        model_id = resolve_model_id(info, None)
        data = load_validation_data(data_file, info.model_by_id(model_id))
        result = validate_on_board(session, model_id, tflite.read_bytes(), data, tflite_path=str(tflite))
    data_file.unlink()
    ag = result.metrics["agreement"]
    return {"samples": int(ag.get("samples", 0)), "exact_match_rate": float(ag.get("exact_match_rate", 0.0)),
            "max_abs_diff_q": float(ag.get("max_abs_diff_q", 0.0)),
            "bit_exact": bool(ag.get("samples")) and float(ag.get("exact_match_rate", 0.0)) == 1.0}
