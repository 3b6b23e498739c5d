"""What a device tick counts, and the one conversion from QEMU ticks to emulated instructions.

A QEMU board's timings are SysTick ticks under ``-icount``: one tick is
``instr_per_tick`` emulated instructions (SPEC §9.2, INFO ``instr_per_tick``;
boards that predate SPEC 1.1 do not send it, and their count is the one our
QEMU port was calibrated at). Every place that shows an emulated instruction
count (GUI, ``run``, ``validate``, benches) converts through
:func:`emulated_instructions`, so no other module knows the factor.

Example::

    per_tick = instructions_per_tick(info)          # 0 unless the board is QEMU
    text = f"{emulated_instructions(1234, per_tick):.0f} emulated instructions"
"""

from __future__ import annotations

from typing import Any

from edgeloop.app.link.qemu import INSTRUCTIONS_PER_TICK as _SPEC_1_0_QEMU_INSTR_PER_TICK
from edgeloop.protocol import TimingSource


def tick_unit(source: TimingSource | int) -> str:
    """What one raw tick is, for axis labels and CSV headers (a QEMU tick is a SysTick tick, not an instruction)."""
    return TimingSource(source).tick_unit


def instructions_per_tick(info: Any) -> int:
    """Emulated instructions one tick counts on this board; 0 when its ticks are not instruction counts.

    `info` is the board's INFO (or anything with ``timing_source`` and,
    from SPEC 1.1, ``instr_per_tick``); None gives 0.
    """
    if info is None:
        return 0
    return instructions_per_tick_for(info.timing_source, int(getattr(info, "instr_per_tick", 0) or 0))


def instructions_per_tick_for(source: TimingSource | int, sent: int = 0) -> int:
    """As :func:`instructions_per_tick`, from a timing source and the INFO value `sent` (0: not sent)."""
    if TimingSource(source) != TimingSource.QEMU_ICOUNT:
        return 0
    return sent if sent > 0 else _SPEC_1_0_QEMU_INSTR_PER_TICK


def emulated_instructions(ticks: float, per_tick: int) -> float:
    """Emulated instructions for `ticks` QEMU ticks (`per_tick` from :func:`instructions_per_tick`)."""
    if per_tick <= 0:
        raise ValueError("these ticks are not emulated instruction counts (instr_per_tick is 0)")
    return ticks * per_tick


def format_count(value: float) -> str:
    """1.23 M, 45.6 k, 789: an instruction or cycle count for labels."""
    for suffix, factor in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= factor:
            return f"{value / factor:.3g} {suffix}"
    return f"{value:.0f}"


def describe_ticks(info: Any) -> str:
    """What a tick of this board is, in words: "CPU cycles", "SysTick ticks of 40 emulated instructions" ..."""
    unit = tick_unit(info.timing_source)
    per_tick = instructions_per_tick(info)
    return f"{unit} of {per_tick} emulated instructions each" if per_tick else unit
