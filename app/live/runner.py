"""Headless field-trial runner: one live line per result on the console, every result in a CSV log.

Example::

    with Session(url) as session:
        session.connect()
        pipe = Pipeline(open_source("camera:0"), session)
        summary = run_headless(pipe, log_path=Path("results.csv"), frames=300)
"""

from __future__ import annotations

import csv
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import numpy as np

from edgeloop.app.live.pipeline import Pipeline, ResultRecord
from edgeloop.app.live.stop_signals import deferred_interrupts
from edgeloop.protocol import STAGES

CSV_COLUMNS = ("capture_index", "t_capture_s", "seq", "model", "class_index", "label", "confidence",
               "tick_hz", *(f"{s}_ticks" for s in STAGES), *(f"{s}_us" for s in STAGES), "timing_source",
               "infer_emulated_instructions", "rtt_ms", "latency_ms", "host_overhead_ms", "attempts", "truth", "error")
"""Fixed leading columns of the results CSV; one `p_<label>` column per class follows."""


class ResultCsvWriter:
    """Writes ResultRecords as CSV rows (columns fixed by the first record's labels)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._writer = csv.writer(stream)
        self._labels: tuple[str, ...] | None = None
        self._t0: float | None = None
        self.rows = 0

    def write(self, record: ResultRecord) -> None:
        """Append one row (the header first)."""
        if self._labels is None:
            self._labels = record.labels
            self._writer.writerow([*CSV_COLUMNS, *(f"p_{label}" for label in self._labels)])
        if self._t0 is None:
            self._t0 = record.timestamp

        def num(value: float, digits: int = 3) -> str:
            return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"

        probs = list(record.probabilities) if record.labels == self._labels else []
        probs += [math.nan] * (len(self._labels) - len(probs))
        self._writer.writerow([
            record.capture_index, num(record.timestamp - self._t0, 6), record.seq, record.model_name,
            record.class_index, record.label, num(record.confidence, 4), record.tick_hz,
            *(record.ticks.get(s, "") for s in STAGES), *(num(record.timings_us.get(s, math.nan)) for s in STAGES),
            record.timing_label, num(record.emulated_instructions, 0), num(record.rtt_s * 1e3), num(record.latency_s * 1e3),
            num(record.host_overhead_s * 1e3), record.attempts, record.meta.get("label", ""), record.error,
            *(num(p, 4) for p in probs[: len(self._labels)])])
        self.rows += 1


def format_line(record: ResultRecord) -> str:
    """The console line of one result."""
    if not record.ok:
        return f"#{record.capture_index:>6}  FAILED  {record.error}"
    conf = "" if math.isnan(record.confidence) else f"{record.confidence * 100:5.1f}%"
    truth = record.meta.get("label")
    truth_text = f"  (truth {truth})" if truth else ""
    infer = record.timings_us.get("t_infer", math.nan)
    instructions = record.emulated_instructions
    work = "" if math.isnan(instructions) else f" = {instructions:.0f} emulated instructions"
    return (f"#{record.capture_index:>6}  seq {record.seq:>5}  {record.label:<14} {conf:>6}  "
            f"infer {infer:9.1f} µs = {record.ticks.get('t_infer', 0):>10} {record.tick_unit}{work} "
            f"({record.timing_label})  rtt {record.rtt_s * 1e3:6.2f} ms  latency {record.latency_s * 1e3:6.2f} ms"
            f"{truth_text}")


@dataclass
class RunSummary:
    """What a headless run did."""

    results: int = 0
    failures: int = 0
    seconds: float = 0.0
    interrupted: bool = False  # ended by Ctrl-C
    correct: int = 0  # results whose label equals the source's ground truth
    with_truth: int = 0
    infer_us: list[float] = field(default_factory=list)
    rtt_ms: list[float] = field(default_factory=list)

    def lines(self) -> list[str]:
        """Human summary lines."""
        out = [f"{self.results} results, {self.failures} failed, in {self.seconds:.1f} s "
               f"({self.results / self.seconds if self.seconds else 0:.1f} results/s)"]
        if self.infer_us:
            arr = np.asarray(self.infer_us)
            out.append(f"on-device inference: p50 {np.median(arr):.1f} µs, max {arr.max():.1f} µs")
        if self.rtt_ms:
            out.append(f"round trip: p50 {np.median(self.rtt_ms):.2f} ms, p99 {np.percentile(self.rtt_ms, 99):.2f} ms")
        if self.with_truth:
            out.append(f"agreement with the source's ground truth: {self.correct}/{self.with_truth} "
                       f"({100 * self.correct / self.with_truth:.1f}%)")
        return out


def run_headless(pipeline: Pipeline, *, log_path: Path | None = None, frames: int | None = None,
                 seconds: float | None = None, out: TextIO | None = None, quiet: bool = False) -> RunSummary:
    """Run `pipeline` until the source ends, `frames` results, `seconds`, or Ctrl-C; return a summary."""
    out = out or sys.stdout
    summary = RunSummary()
    start = time.monotonic()
    log = open(log_path, "w", newline="", encoding="utf-8") if log_path else None  # noqa: SIM115
    writer = ResultCsvWriter(log) if log else None
    try:
        with pipeline:
            for record in pipeline.records(limit=frames, timeout=seconds):
                with deferred_interrupts():
                    _take(record, summary, writer, None if quiet else out)
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        summary.seconds = time.monotonic() - start
        if log:
            log.close()
    return summary


def _take(record: ResultRecord, summary: RunSummary, writer: ResultCsvWriter | None, out: TextIO | None) -> None:
    """Log, print and count one result."""
    if writer:
        writer.write(record)
    if out is not None:
        print(format_line(record), file=out, flush=True)
    if not record.ok:
        summary.failures += 1
        return
    summary.results += 1
    summary.infer_us.append(record.t_infer_us)
    summary.rtt_ms.append(record.rtt_s * 1e3)
    truth = record.meta.get("label")
    if truth and record.labels and truth in record.labels:
        summary.with_truth += 1
        summary.correct += truth == record.label
