"""Board budgets are measured from a firmware build: linker-script totals minus what the firmware uses."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import edgeloop
from edgeloop.app.commands._design_target import board_presets, measure_board
from edgeloop.models.compiler import compile_file


def test_nucleo_budget_is_measured_from_its_image() -> None:
    spec = measure_board("nucleo-h743zi2")
    assert spec.flash_total == 2048 * 1024  # FLASH region of nucleo_h743zi2.ld
    assert spec.ram_total == (128 + 512) * 1024  # DTCM (RAM) + AXI SRAM (BULK)
    assert spec.clock_hz == 400_000_000  # CPU_HZ of the port
    # Independent check with Berkeley totals: flash = text + data, RAM = data + bss (sine model included).
    out = subprocess.run(["arm-none-eabi-size", "-B", spec.firmware_image], capture_output=True, text=True,
                         check=True).stdout.splitlines()[1].split()
    text, data, bss = int(out[0]), int(out[1]), int(out[2])
    with tempfile.TemporaryDirectory() as tmp:
        sine = compile_file(edgeloop.PACKAGE_ROOT / "models" / "zoo" / "sine" / "sine.tflite", Path(tmp), name="sine")
    assert spec.firmware_flash == text + data - sine.flash_bytes
    assert spec.firmware_ram == data + bss - sine.arena_bytes
    assert 0 < spec.firmware_flash < spec.flash_free and 0 < spec.firmware_ram < spec.ram_total
    assert set(board_presets()) == {"nucleo-h743zi2", "qemu-mps2-an500"}
