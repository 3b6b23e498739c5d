"""QEMU ticks are SysTick ticks; emulated instructions are ticks × instr_per_tick, everywhere (issue 15, item 4)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from edgeloop.app.live import timing
from edgeloop.app.live.pipeline import ResultRecord
from edgeloop.app.live.runner import format_line
from edgeloop.app.validate.validator import latency_stats
from edgeloop.protocol import TimingSource


def record(source: TimingSource = TimingSource.QEMU_ICOUNT, t_infer: int = 1000, *, timestamp: float = 10.0,
           latency_s: float = 0.02, per_tick: int | None = None) -> ResultRecord:
    """A successful result as the pipeline builds it for a board with `source` timing."""
    if per_tick is None:
        per_tick = timing.instructions_per_tick(SimpleNamespace(timing_source=source))
    return ResultRecord(seq=1, capture_index=0, timestamp=timestamp, model_index=0, model_name="m", class_index=0,
                        label="a", confidence=0.9, probabilities=(0.9, 0.1), labels=("a", "b"),
                        tick_hz=25_000_000, ticks={"t_rx": 0, "t_pre": 0, "t_infer": t_infer, "t_encode": 0},
                        timings_us={"t_infer": t_infer / 25.0}, timing_source=source, rtt_s=0.01,
                        latency_s=latency_s, host_overhead_s=0.001, attempts=1, instr_per_tick=per_tick)


def test_instructions_per_tick_reads_info_and_only_for_qemu() -> None:
    assert timing.instructions_per_tick(SimpleNamespace(timing_source=TimingSource.QEMU_ICOUNT, instr_per_tick=64)) == 64
    # A SPEC 1.0 board sends no instr_per_tick: its QEMU port counts 40 instructions per tick.
    assert timing.instructions_per_tick(SimpleNamespace(timing_source=TimingSource.QEMU_ICOUNT)) == 40
    for source in (TimingSource.HOST_CLOCK, TimingSource.DWT_CYCLES, TimingSource.SYSTICK):
        assert timing.instructions_per_tick(SimpleNamespace(timing_source=source, instr_per_tick=40)) == 0
    with pytest.raises(ValueError, match="not emulated instruction counts"):
        timing.emulated_instructions(10, 0)


def test_a_qemu_tick_is_not_called_an_instruction() -> None:
    assert timing.tick_unit(TimingSource.QEMU_ICOUNT) == "SysTick ticks"
    rec = record()
    assert rec.tick_unit == "SysTick ticks" and rec.emulated_instructions == 40_000
    assert math.isnan(record(TimingSource.HOST_CLOCK).emulated_instructions)
    line = format_line(rec)
    assert "1000 SysTick ticks = 40000 emulated instructions (emulated)" in line
    info = SimpleNamespace(timing_source=TimingSource.QEMU_ICOUNT, instr_per_tick=40)
    assert timing.describe_ticks(info) == "SysTick ticks of 40 emulated instructions each"


def test_validate_counts_emulated_instructions_through_the_same_conversion() -> None:
    stats = latency_stats(np.array([1000, 3000]), 25_000_000, TimingSource.QEMU_ICOUNT, macc=100, instr_per_tick=50)
    assert stats["tick_unit"] == "SysTick ticks"
    assert stats["instructions"] == {"mean": 100_000, "per_tick": 50}
    assert stats["per_macc"]["value"] == pytest.approx(1000.0)


def test_timing_plots_show_emulated_instructions_not_ticks(qtbot) -> None:
    from edgeloop.app.gui.widgets import QtTimingPlots

    plots = QtTimingPlots()
    qtbot.addWidget(plots)
    plots.add_record(record(t_infer=1000))
    assert plots.data["device_count"].v[-1] == 40_000
    assert "emulated instructions" in plots.p_count.titleLabel.text
    plots.add_record(record(TimingSource.HOST_CLOCK, timestamp=11.0))
    assert not plots.count_plot_shown, "host-clock ticks are the µs plot again: no second plot of them"


def test_outages_are_gaps_and_held_captures_plot_no_latency(qtbot) -> None:
    """A pause (or validation, reconnect) breaks the lines; the capture it held is no 11 s latency spike."""
    from edgeloop.app.gui.widgets import QtTimingPlots

    plots = QtTimingPlots()
    qtbot.addWidget(plots)
    for i in range(10):
        plots.add_record(record(TimingSource.HOST_CLOCK, timestamp=100 + i / 30, latency_s=0.02))
    plots.mark_gap(at=101.0)  # paused at 100.3, resumed at 111.0: the window marks both ends
    plots.mark_gap(at=111.0)
    held = record(TimingSource.HOST_CLOCK, timestamp=100.4, latency_s=10.7)  # taken before the pause
    plots.add_record(held)
    plots.add_record(record(TimingSource.HOST_CLOCK, timestamp=111.05, latency_s=0.02))
    latency = plots.data["latency_ms"].v
    assert np.nanmax(latency) < 100, "the capture the pause held must not plot as a latency spike"

    def longest_line(ring) -> float:
        """The longest time two neighbouring points are joined by a drawn line."""
        t, v = ring.t, ring.v
        joined = ~np.isnan(v[1:]) & ~np.isnan(v[:-1])
        return float(np.diff(t)[joined].max())

    assert np.isnan(latency).sum() == 1 and longest_line(plots.data["infer_us"]) < 1
    # A silence far longer than the usual interval is a gap too, without any mark.
    plots.add_record(record(TimingSource.HOST_CLOCK, timestamp=130.0))
    assert longest_line(plots.data["infer_us"]) < 1 and longest_line(plots.data["latency_ms"]) < 1
    assert plots.redraw()
    x, y = plots.curves["infer_us"].getData()
    assert np.isnan(y).sum() >= 2 and x[-1] == 0.0
