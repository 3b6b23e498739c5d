"""source → preprocess → session, yielding one `ResultRecord` per model input.

The GUI, the headless runner, the recorder and the validator all consume this
one stream. Two threads do the work so that capture never waits on the link:

- the *capture* thread reads the source. For a live source (camera, IMU
  stream) it keeps only the newest capture when the link is slower, and
  counts the ones it replaced in `stats.dropped_captures`; a file or
  synthetic source is simply slowed down instead (nothing is dropped);
- the *sender* thread streams prepared inputs through `Session.map`, within
  the board's credit window, so frame N+1 crosses the wire while frame N is
  inferred, and turns the outcomes into records in capture order.

Records land in an output queue; they carry the capture timestamp, the
sequence number and attempts (for a failed request too), device timings in
ticks and µs with their timing-source label, RTT and host overhead.

Example::

    with Pipeline(open_source("synthetic:bottles"), session) as pipe:
        for record in pipe.records(limit=100):
            print(record.label, record.confidence, record.timing_label, record.t_infer_us)
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgeloop import InputError
from edgeloop.app.live.preprocess import ImagePreprocessor, Prepared, Preprocessor, Roi, dequantize, make_preprocessor, softmax_if_logits
from edgeloop.app.link.session import LinkState, Outcome, Session
from edgeloop.app.live.sources.base import Capture, Source
from edgeloop.app.link.transport import LinkLost
from edgeloop.app.live import timing
from edgeloop.protocol import Infer, Info, ModelDescriptor, Result, TimingSource


@dataclass(frozen=True, eq=False)
class ResultRecord:
    """One inference, as every consumer sees it. Times are monotonic seconds unless named `_us`/`_ms`."""

    seq: int
    capture_index: int
    timestamp: float  # capture time of the frame (or of the IMU window's last sample)
    model_index: int  # the stable id (SPEC §9.4) of the model that answered: RESULT's `model`, not a list position
    model_name: str
    class_index: int  # -1 when the request failed
    label: str
    confidence: float  # probability of `label`; NaN for a regression output
    probabilities: tuple[float, ...]
    labels: tuple[str, ...]
    tick_hz: int
    ticks: Mapping[str, int]  # t_rx, t_pre, t_infer, t_encode in device ticks
    timings_us: Mapping[str, float]  # the same in µs
    timing_source: TimingSource
    rtt_s: float  # request written → reply decoded
    latency_s: float  # capture → record ready
    host_overhead_s: float  # preprocess + encode + reply → record (no device, wire or queueing time)
    attempts: int
    frame: np.ndarray | None = None  # the capture (image or IMU samples) for display and recording
    view: np.ndarray | None = None  # what the model saw (resized image or the IMU window)
    meta: Mapping[str, Any] = field(default_factory=dict)  # ground truth from the source, if any
    output: bytes = b""
    error: str = ""  # why the request failed; empty for a result
    instr_per_tick: int = 0  # QEMU: emulated instructions per tick (edgeloop.app.live.timing); else 0

    @property
    def ok(self) -> bool:
        """True for a classification, False for a failed request."""
        return not self.error

    @property
    def timing_label(self) -> str:
        """'measured', 'emulated' or 'host clock': how the device timings must be presented."""
        return TimingSource(self.timing_source).label

    @property
    def tick_unit(self) -> str:
        """What a raw tick is (CPU cycles, host ns, SysTick ticks; a QEMU tick is a SysTick tick)."""
        return timing.tick_unit(self.timing_source)

    @property
    def emulated_instructions(self) -> float:
        """QEMU boards: emulated instructions of the inference (ticks × instr_per_tick); NaN otherwise."""
        if not self.instr_per_tick or "t_infer" not in self.ticks:
            return math.nan
        return timing.emulated_instructions(self.ticks["t_infer"], self.instr_per_tick)

    @property
    def t_infer_us(self) -> float:
        """Inference time on the device in µs (NaN when unknown)."""
        return self.timings_us.get("t_infer", math.nan)


@dataclass
class PipelineStats:
    """Counters of a running pipeline."""

    captures: int = 0
    dropped_captures: int = 0  # live captures replaced by a newer one before they could be sent
    inputs_sent: int = 0
    results: int = 0
    failures: int = 0
    last_error: str = ""


_END = object()


def resolve_model_id(info: Info, model: int | str | None) -> int:
    """The stable id (SPEC §9.4) of a board model given by name or id (None: the active model).

    A number is a model id, never a list position: with an emptied upload slot the list skips ids.
    Raises InputError, naming the board's models, when the board has none or not this one.
    """
    if not info.models:
        raise InputError(f"board {info.board!r} reports no models: build its firmware with at least one")
    if model is None:
        return info.active_model if info.model_by_id(info.active_model) is not None else info.id_at(0)
    if isinstance(model, int) or str(model).isdigit():
        model_id = int(model)
        if info.model_by_id(model_id) is None:
            raise InputError(f"board {info.board!r} has no model {model_id}; it has: {_listing(info)}")
        return model_id
    for position, m in enumerate(info.models):
        if m.name == model:
            return info.id_at(position)
    raise InputError(f"board {info.board!r} has no model {model!r}; it has: {_listing(info)}")


def model_descriptor(info: Info, model_id: int) -> ModelDescriptor:
    """The descriptor of board model `model_id` (its stable id); InputError when the board no longer lists it."""
    model = info.model_by_id(model_id)
    if model is None:
        raise InputError(f"board {info.board!r} no longer lists model {model_id} (its upload slot was emptied?); "
                         f"it has: {_listing(info)}")
    return model


def _listing(info: Info) -> str:
    return ", ".join(f"{model_id} {m.name}" for model_id, m in zip(info.model_ids, info.models))


@dataclass(frozen=True)
class _Input:
    """One prepared input on its way to the board, with what its record needs."""

    capture: Capture
    prepared: Prepared
    prep_s: float
    model_index: int  # the model's stable id (SPEC §9.4), as sent in INFER
    model: ModelDescriptor


class Pipeline:
    """Runs a source through preprocessing into a session; iterate `records()` for the results.

    The pipeline owns the source (closing it on stop) but not the session.
    `model` picks the board model by stable id (SPEC §9.4) or name (default: the active one);
    `model_index` holds that id: never a position in `info.models`, which may skip ids.
    `stop_on_link_failure` ends the stream when the session gives up
    reconnecting (the headless runner wants that; the GUI keeps waiting for the
    user to reconnect).
    """

    def __init__(self, source: Source, session: Session, *, model: int | str | None = None,
                 roi: Roi | None = None, stop_on_link_failure: bool = True,
                 on_record: Callable[[ResultRecord], None] | None = None,
                 model_dirs: Sequence[Path] = ()) -> None:
        if session.info is None:
            raise RuntimeError("connect the session before building a pipeline (Session.connect())")
        self.source = source
        self.session = session
        self.stop_on_link_failure = stop_on_link_failure
        self.on_record = on_record
        self.model_dirs = tuple(model_dirs)  # where a model's preprocess.json is looked up, besides the zoo
        self.stats = PipelineStats()
        self._roi = roi or Roi()
        self._stop = threading.Event()
        self._paused = threading.Event()
        self._captures: queue.Queue = queue.Queue(maxsize=1 if source.live else 2)
        self._out: queue.Queue = queue.Queue()
        self._lock = threading.Lock()
        self._pending_model: int | None = None
        self._source_ended = False
        self._threads: list[threading.Thread] = []
        self.model_index = self._resolve_model(model)
        self._model = model_descriptor(session.info, self.model_index)
        if self.model_index != session.info.active_model:
            session.select_model(self.model_index)
        self._preprocessor = self._build_preprocessor(self.model_index)

    # -- model and ROI ------------------------------------------------------------------------
    @property
    def model(self) -> ModelDescriptor:
        """Descriptor of the model the pipeline feeds (kept when the board has since emptied its slot)."""
        return self._model

    def _resolve_model(self, model: int | str | None) -> int:
        assert self.session.info is not None
        return resolve_model_id(self.session.info, model)

    def _build_preprocessor(self, model_id: int) -> Preprocessor:
        assert self.session.info is not None
        model = model_descriptor(self.session.info, model_id)
        pre = make_preprocessor(model, roi=self._roi, model_dirs=self.model_dirs)
        if pre.kind not in ("any", self.source.kind):
            raise InputError(f"model {model.name!r} takes {pre.kind} input but source {self.source.name!r} gives "
                             f"{self.source.kind}: pick a matching model (--model) or source (--source)")
        return pre

    def select_model(self, model: int | str) -> None:
        """Switch models; takes effect between two inputs (callable from any thread)."""
        index = self._resolve_model(model)
        self._build_preprocessor(index)  # fail now, in the caller's thread, if it cannot work
        with self._lock:
            self._pending_model = index

    @property
    def view_channels(self) -> tuple[str, ...] | None:
        """Names of the columns of an IMU window's `view` (None for images or before the first window)."""
        return getattr(self._preprocessor, "view_channels", None)

    @property
    def roi(self) -> Roi:
        """The region of interest applied to image inputs."""
        return self._roi

    @roi.setter
    def roi(self, roi: Roi) -> None:
        self._roi = roi
        pre = self._preprocessor
        if isinstance(pre, ImagePreprocessor):
            pre.roi = roi

    # -- control ----------------------------------------------------------------------------------
    def start(self) -> Pipeline:
        """Start the capture and sender threads (idempotent)."""
        if not self._threads:
            self._threads = [threading.Thread(target=self._capture_main, name="edgeloop-capture", daemon=True),
                             threading.Thread(target=self._sender_main, name="edgeloop-sender", daemon=True)]
            for thread in self._threads:
                thread.start()
        return self

    def pause(self) -> None:
        """Stop sending inputs (live captures keep being replaced by newer ones)."""
        self._paused.set()

    def resume(self) -> None:
        """Send inputs again after pause()."""
        self._paused.clear()

    @property
    def paused(self) -> bool:
        """True while paused."""
        return self._paused.is_set()

    def stop(self) -> None:
        """Stop both threads and close the source; safe to call twice and from any thread."""
        self._stop.set()
        self.source.close()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=5.0)

    def __enter__(self) -> Pipeline:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- consuming ------------------------------------------------------------------------------------
    def records(self, *, limit: int | None = None, timeout: float | None = None) -> Iterator[ResultRecord]:
        """Yield records until the source ends, `limit` records, `timeout` seconds, or stop().

        A source or link failure that ends the stream is raised here.
        """
        self.start()
        end = None if timeout is None else time.monotonic() + timeout
        count = 0
        while limit is None or count < limit:
            left = None if end is None else end - time.monotonic()
            if left is not None and left <= 0:
                return
            try:
                item = self._out.get(timeout=0.1 if left is None else min(left, 0.1))
            except queue.Empty:
                if self._stop.is_set() and not any(t.is_alive() for t in self._threads):
                    return
                continue
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            count += 1
            yield item

    def get(self, timeout: float = 0.0) -> ResultRecord | None:
        """The next record if one is ready within `timeout` seconds (for polling consumers such as a GUI)."""
        try:
            item = self._out.get(timeout=timeout) if timeout > 0 else self._out.get_nowait()
        except queue.Empty:
            return None
        if item is _END or isinstance(item, BaseException):
            self._out.put(item)  # keep the end marker visible to records() as well
            return None
        return item

    @property
    def finished(self) -> bool:
        """True once both threads have ended (source exhausted, stopped, or failed)."""
        return bool(self._threads) and not any(t.is_alive() for t in self._threads)

    # -- threads --------------------------------------------------------------------------------------
    def _capture_main(self) -> None:
        try:
            while not self._stop.is_set():
                capture = self.source.read(timeout=0.2)
                if capture is None:
                    if self.source.finished:
                        break
                    continue
                self.stats.captures += 1
                self._offer(capture)
        except Exception as exc:  # a source failure ends the stream; the consumer re-raises this very object
            self._out.put(exc)
            self._stop.set()
        finally:
            self._put_capture(_END)

    def _offer(self, capture: Capture) -> None:
        if self.source.live:
            try:
                self._captures.put_nowait(capture)
            except queue.Full:
                try:
                    self._captures.get_nowait()
                    self.stats.dropped_captures += 1
                except queue.Empty:
                    pass
                self._captures.put_nowait(capture)
        else:
            self._put_capture(capture)

    def _put_capture(self, item: object) -> None:
        while not self._stop.is_set() or item is _END:
            try:
                self._captures.put(item, timeout=0.1)
                return
            except queue.Full:
                if item is _END and self._stop.is_set():
                    return

    def _sender_main(self) -> None:
        """Stream inputs through `Session.map`: credit-windowed, records in capture order."""
        try:
            while not self._stop.is_set():
                outcomes = self.session.map(self._inputs(), self._request_of)
                try:
                    for outcome in outcomes:
                        self._emit(outcome)
                finally:
                    outcomes.close()
                if self._source_ended or not self._apply_model_switch():
                    break
        except Exception as exc:  # forwarded as is: its type and traceback tell a user error from a defect
            self._out.put(exc)
        finally:
            self._stop.set()
            self.source.close()
            self._out.put(_END)

    def _inputs(self) -> Iterator[_Input]:
        """Prepared inputs, pulled by the session's map only when one can be sent.

        Ends when the source ends, on stop(), or when a model switch is pending (the map then drains,
        so the old model's results all arrive before the switch).
        """
        while not self._stop.is_set():
            with self._lock:
                if self._pending_model is not None and self._pending_model != self.model_index:
                    return
            if self.session.state is LinkState.FAILED and self.stop_on_link_failure:
                raise LinkLost(f"link to {self.session.url} failed: {self.session.state_detail}")
            if self.source.live and not self.session.wait_credit(timeout=0.1):
                continue  # take a live capture only once it can be sent: it is then the newest one there is
            try:
                item = self._captures.get(timeout=0.1)
            except queue.Empty:
                continue
            if item is _END:
                self._source_ended = True
                return
            while self._paused.is_set() and not self._stop.is_set():
                time.sleep(0.02)
            t0 = time.monotonic()
            model = self.model
            for prepared in self._preprocessor.process(item):
                self.stats.inputs_sent += 1
                yield _Input(item, prepared, time.monotonic() - t0, self.model_index, model)
                t0 = time.monotonic()

    @staticmethod
    def _request_of(item: _Input) -> Infer:
        return Infer(item.model_index, item.prepared.payload)

    def _apply_model_switch(self) -> bool:
        """Switch to the pending model (the map has drained); False when there is none (the stream ended)."""
        with self._lock:
            index, self._pending_model = self._pending_model, None
        if index is None:
            return False
        if index != self.model_index:
            self.session.select_model(index)
            self.model_index = index
            self._model = model_descriptor(self.session.info, index)
            self._preprocessor = self._build_preprocessor(index)
        return True

    def _emit(self, outcome: Outcome[_Input]) -> None:
        """Build, count and hand out the record of one outcome (the sender thread, in capture order)."""
        if isinstance(outcome.error, LinkLost) and self.session.state is LinkState.FAILED \
                and self.stop_on_link_failure:
            raise outcome.error
        record = self._record(outcome)
        if record.ok:
            self.stats.results += 1
        else:
            self.stats.failures += 1
            self.stats.last_error = record.error
        self._out.put(record)
        if self.on_record:
            self.on_record(record)

    def _record(self, outcome: Outcome[_Input]) -> ResultRecord:
        capture, prepared, prep_s, model = (outcome.item.capture, outcome.item.prepared, outcome.item.prep_s,
                                            outcome.item.model)
        info = self.session.info
        source = info.timing_source if info else TimingSource.HOST_CLOCK
        labels = tuple(model.labels)
        exc = outcome.error
        if exc is None and outcome.reply.message.model != outcome.item.model_index:
            # Never label one model's output with another's name and labels (SPEC §9.4: ids are stable).
            exc = f"the board answered with model {outcome.reply.message.model}, not model {outcome.item.model_index}"
        if exc is not None:
            return ResultRecord(seq=outcome.seq, capture_index=capture.index, timestamp=prepared.timestamp,
                                model_index=outcome.item.model_index, model_name=model.name, class_index=-1,
                                label="",
                                confidence=math.nan, probabilities=(), labels=labels, tick_hz=0, ticks={},
                                timings_us={}, timing_source=source, rtt_s=math.nan,
                                latency_s=time.monotonic() - prepared.timestamp, host_overhead_s=prep_s,
                                attempts=outcome.attempts, frame=capture.data, view=prepared.view,
                                meta=prepared.meta, error=str(exc))
        reply = outcome.reply
        assert reply is not None
        result = reply.message
        assert isinstance(result, Result)
        values = dequantize(result.output, model.output)
        if values.size > 1:
            probs = softmax_if_logits(values)
            index = int(np.argmax(probs))
            label = labels[index] if index < len(labels) else f"class {index}"
            confidence = float(probs[index])
        else:  # a single output is a regression value (a level, a sine): report the value itself
            probs, index = values, 0
            name = f"{labels[0]} = " if labels else ""
            label, confidence = f"{name}{float(values[0]):.4g}", math.nan
        ticks = {"t_rx": result.t_rx, "t_pre": result.t_pre, "t_infer": result.t_infer,
                 "t_encode": result.t_encode}
        now = time.monotonic()
        overhead = prep_s + (reply.sent_at - reply.granted_at) + (now - reply.received_at)
        return ResultRecord(seq=reply.seq, capture_index=capture.index, timestamp=prepared.timestamp,
                            model_index=result.model, model_name=model.name, class_index=index, label=label,
                            confidence=confidence, probabilities=tuple(float(p) for p in probs), labels=labels,
                            tick_hz=result.tick_hz, ticks=ticks, timings_us=result.timings_us(),
                            timing_source=source, rtt_s=reply.rtt, latency_s=now - prepared.timestamp,
                            host_overhead_s=overhead, attempts=reply.attempts, frame=capture.data,
                            view=prepared.view, meta=prepared.meta, output=result.output,
                            instr_per_tick=timing.instructions_per_tick(info))
