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
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TextIO

import numpy as np

from edgeloop.app.link.session import LinkState, Session
from edgeloop.app.live.pipeline import Pipeline, ResultRecord
from edgeloop.app.live.stop_signals import deferred_interrupts
from edgeloop.models.decision import Decider, DecisionRule, class_name
from edgeloop.protocol import STAGES

CSV_COLUMNS = ("capture_index", "t_capture_s", "utc", "seq", "model", "class_index", "label", "confidence",
               "tick_hz", *(f"{s}_ticks" for s in STAGES), *(f"{s}_us" for s in STAGES), "timing_source",
               "rtt_ms", "latency_ms", "host_overhead_ms", "attempts", "truth", "error", "event")
"""Fixed leading columns of the results CSV; one `p_<label>` column per class follows.

Rows are results in capture order (failed requests included, with their seq and attempts), and link
events (`event` set, e.g. "link lost: ...", "link restored: ..."; no capture). `utc` is the absolute
time of the capture, or of the event, in ISO 8601 with milliseconds.
"""

_MONO_TO_EPOCH = time.time() - time.monotonic()  # monotonic capture stamps -> wall clock, fixed once


def utc_text(monotonic_s: float) -> str:
    """ISO 8601 UTC time (ms) of a `time.monotonic()` instant."""
    return datetime.fromtimestamp(_MONO_TO_EPOCH + monotonic_s, tz=timezone.utc).isoformat(
        timespec="milliseconds").replace("+00:00", "Z")


DECISION_COLUMNS = ("decided_index", "decided_label")
"""After CSV_COLUMNS: the class shown after the model's decision rule (edgeloop.models.decision; -1 uncertain)."""


class ResultCsvWriter:
    """Writes ResultRecords and link events as CSV rows (columns fixed by the first record's labels).

    Thread-safe: results come from the runner's thread, link events from the session's.
    Each result row holds the raw class (`class_index`, `label`) and the decided one under `rule` (the model's
    decision rule, the identity by default), applied by the one `Decider` every result display uses.
    """

    def __init__(self, stream: TextIO, rule: DecisionRule | None = None) -> None:
        self.stream = stream
        self._writer = csv.writer(stream)
        self.rule = rule or DecisionRule()
        self._decider: Decider | None = None
        self._labels: tuple[str, ...] | None = None
        self._t0: float | None = None
        self._lock = threading.Lock()
        self._early_events: list[list[str]] = []  # events before the first record fixed the header
        self.rows = 0

    def write_event(self, text: str, at: float | None = None) -> None:
        """Append a link event row (kept until the header exists when no result was written yet)."""
        at = time.monotonic() if at is None else at
        with self._lock:
            t = "" if self._t0 is None else f"{at - self._t0:.6f}"
            row = ["", t, utc_text(at), *[""] * (len(CSV_COLUMNS) - 4), text]
            if self._labels is None:
                self._early_events.append(row)
            else:
                self._writer.writerow(row)
                self.stream.flush()
            self.rows += 1

    def write(self, record: ResultRecord) -> None:
        """Append one row (the header first)."""
        with self._lock:
            self._write(record)

    def _write(self, record: ResultRecord) -> None:
        if self._labels is None:
            self._labels = record.labels
            self._writer.writerow([*CSV_COLUMNS, *DECISION_COLUMNS, *(f"p_{label}" for label in self._labels)])
            for row in self._early_events:
                self._writer.writerow(row)
        if self._t0 is None:
            self._t0 = record.timestamp

        def num(value: float, digits: int = 3) -> str:
            return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"

        probs = list(record.probabilities) if record.labels == self._labels else []
        decided: tuple[object, str] = ("", "")
        if record.ok and probs and self._labels:
            if self._decider is None:
                self._decider = Decider(self.rule, len(self._labels))
            cls = self._decider.update(probs).cls
            decided = (cls, class_name(self._labels, cls))
        probs += [math.nan] * (len(self._labels) - len(probs))
        self._writer.writerow([
            record.capture_index, num(record.timestamp - self._t0, 6), utc_text(record.timestamp), record.seq,
            record.model_name,
            record.class_index, record.label, num(record.confidence, 4), record.tick_hz,
            *(record.ticks.get(s, "") for s in STAGES), *(num(record.timings_us.get(s, math.nan)) for s in STAGES),
            record.timing_label, num(record.rtt_s * 1e3), num(record.latency_s * 1e3),
            num(record.host_overhead_s * 1e3), record.attempts, record.meta.get("label", ""), record.error, "",
            *decided, *(num(p, 4) for p in probs[: len(self._labels)])])
        self.rows += 1


def format_line(record: ResultRecord) -> str:
    """The console line of one result."""
    if not record.ok:
        sent = f"seq {record.seq:>5}, {record.attempts} attempts" if record.attempts else "never sent"
        return f"#{record.capture_index:>6}  FAILED ({sent})  {record.error}"
    conf = "" if math.isnan(record.confidence) else f"{record.confidence * 100:5.1f}%"
    truth = record.meta.get("label")
    truth_text = f"  (truth {truth})" if truth else ""
    infer = record.timings_us.get("t_infer", math.nan)
    return (f"#{record.capture_index:>6}  seq {record.seq:>5}  {record.label:<14} {conf:>6}  "
            f"infer {infer:9.1f} µs = {record.ticks.get('t_infer', 0):>10} {record.tick_unit} "
            f"({record.timing_label})  rtt {record.rtt_s * 1e3:6.2f} ms  latency {record.latency_s * 1e3:6.2f} ms"
            f"{truth_text}")


@dataclass
class RunSummary:
    """What a headless run did."""

    results: int = 0
    failures: int = 0
    link_events: int = 0  # link lost / restored / failed during the run
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
        if self.link_events:
            out.append(f"{self.link_events} link events (loss and reconnect): see the lines marked '--'")
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
                 seconds: float | None = None, out: TextIO | None = None, quiet: bool = False,
                 rule: DecisionRule | None = None) -> RunSummary:
    """Run `pipeline` until the source ends, `frames` results, `seconds`, or Ctrl-C; return a summary.
    The CSV log's decided columns follow `rule` (the model's decision rule)."""
    out = out or sys.stdout
    summary = RunSummary()
    start = time.monotonic()
    log = open(log_path, "w", newline="", encoding="utf-8") if log_path else None  # noqa: SIM115
    writer = ResultCsvWriter(log, rule) if log else None
    link_events = LinkEvents(pipeline.session, writer, out, summary)
    try:
        with pipeline, link_events:
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


class LinkEvents:
    """Reports the session's link losses and reconnects during a run: a console line and a CSV event row.

    Chains to the session's own `on_state` callback and restores it on exit. Only changes between
    connected, reconnecting and failed are events; repeated reconnect attempts are one outage.
    """

    def __init__(self, session: Session, writer: ResultCsvWriter | None, out: TextIO | None,
                 summary: RunSummary) -> None:
        self.session, self.writer, self.out, self.summary = session, writer, out, summary
        self._previous = session.on_state
        self._last = session.state

    def __enter__(self) -> LinkEvents:
        self.session.on_state = self._on_state
        return self

    def __exit__(self, *exc: object) -> None:
        self.session.on_state = self._previous

    def _on_state(self, state: LinkState, detail: str) -> None:
        if self._previous is not None:
            self._previous(state, detail)
        last, self._last = self._last, state
        if state is last:
            return
        if state is LinkState.RECONNECTING and last is LinkState.CONNECTED:
            text = f"link lost: {detail}"
        elif state is LinkState.CONNECTED and last in (LinkState.RECONNECTING, LinkState.FAILED):
            text = f"link restored: {detail}"
        elif state is LinkState.FAILED:
            text = f"link failed: {detail}"
        else:
            return
        at = time.monotonic()
        self.summary.link_events += 1
        if self.writer is not None:
            self.writer.write_event(text, at)
        if self.out is not None:
            print(f"-- {utc_text(at)}  {text}", file=self.out, flush=True)
