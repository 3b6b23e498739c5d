"""Bridges the threaded link (Session + Pipeline) to the GUI thread through Qt signals.

Connecting, capture and the link all run off the GUI thread: `start()` opens
the session in a worker thread; session callbacks are re-emitted as signals,
which Qt queues into the GUI thread. The controller never touches widgets.

Results do not travel one queued signal each: the reader thread appends every
record to an inbox and emits `records_ready` only when the inbox was empty, so
however long the GUI thread is busy, one wake-up waits for it and
`take_records()` then hands over everything that arrived, in order (nothing is
lost; the display decides what to draw).

Live video goes the same way, apart from the results: every image capture
replaces the one waiting in a one-slot preview (`take_preview()`), so the
window can show the camera at its own rate while a slow link (a UART)
returns fewer results. `preview_ready` wakes the GUI thread only while the
results lag (the capture before this one has no result yet) and no wake-up
is pending: when results keep up they show their own frames, and the GUI
thread is not woken twice per frame.

Consumers that must not run in the GUI thread (the recorder) register with
`add_record_listener` (called in the link's reader thread for every result)
and `add_capture_listener` (called in the capture thread for every capture,
including those a slow link skips). `set_source()` swaps the source, e.g. to
replay a recorded session, while the link stays up; given a model it switches
both at once (an IMU model gets its IMU source in the same step, never an image
in between).

`connect_to()` drops the current board and connects to another port;
`start_virtual()` first starts a virtual board (host process or the ARM image
under QEMU) that the controller then owns and stops; `disconnect()` ends the
link and stops an owned board. None of them needs a restart of the window.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable

from PySide6 import QtCore

from edgeloop.app.live.pipeline import Pipeline, ResultRecord
from edgeloop.app.sessions.recording import TappedSource
from edgeloop.app.live.preprocess import Roi
from edgeloop.app.live.source_choice import model_for_source
from edgeloop.app.link.boards import VirtualBoard
from edgeloop import EdgeloopError
from edgeloop.app.link.session import DeviceError, LinkState, Opener, RequestTimeout, Session, SessionStats
from edgeloop.app.live.sources.base import Capture, ImageFrame, Source
from edgeloop.protocol import Info, Log

SourceFactory = Callable[[], Source]
LINK_NEWS = (EdgeloopError, DeviceError, RequestTimeout)
"""What the window reports as a message: the user's mistakes and OS refusals (EdgeloopError), and the
board's own answers (an ERROR reply, a request it never answered). Anything else is a bug and keeps its
traceback (the thread's excepthook prints it)."""


class QtLinkController(QtCore.QObject):
    """Owns one Session and one Pipeline; every link event arrives as a signal in the GUI thread."""

    state_changed = QtCore.Signal(object, str)  # LinkState, detail
    info_changed = QtCore.Signal(object)  # Info
    records_ready = QtCore.Signal()  # the inbox went from empty to non-empty: call take_records()
    preview_ready = QtCore.Signal()  # an image capture waits in the preview slot: call take_preview()
    log_received = QtCore.Signal(str)
    failed = QtCore.Signal(str)  # a message for the user: cannot connect, source broke, ...
    finished = QtCore.Signal(str)  # the source ended normally (a file or a bounded synthetic run)
    source_changed = QtCore.Signal(str)  # the name of the source now feeding the board

    board_started = QtCore.Signal(str, str)  # target, url: a virtual board the controller owns is up

    def __init__(self, url: str, source_factory: SourceFactory, *, model: int | str | None = None,
                 baudrate: int | None = None, opener: Opener | None = None, source_spec: str = "",
                 parent: QtCore.QObject | None = None) -> None:
        """`source_spec`: the `open_source` spec `source_factory` opens, when there is one (recorded with
        sessions so they can be traced and replayed)."""
        super().__init__(parent)
        self.source_spec = source_spec
        self.url = url
        self.source_factory = source_factory
        self.model = model
        self.baudrate = baudrate
        self.opener = opener  # how to open the port (None: any pyserial URL)
        self.session = self._new_session()
        self.pipeline: Pipeline | None = None
        self._roi = Roi()
        self._starter: threading.Thread | None = None
        self._stopping = threading.Event()
        self._watch: threading.Thread | None = None
        self._pipeline_lock = threading.Lock()  # one pipeline at a time: connect and source switches race
        self._record_listeners: list[Callable[[ResultRecord], object]] = []
        self._capture_listeners: list[Callable[[Capture], object]] = []
        self._inbox: collections.deque[ResultRecord] = collections.deque()
        self._inbox_lock = threading.Lock()
        # Guarded by the inbox lock: the newest image capture not taken yet, whether a wake-up for it is
        # queued, and the capture times of the newest result and of the previous capture.
        self._preview: Capture | None = None
        self._preview_pending = False
        self._answered_t = float("-inf")
        self._captured_t = float("-inf")
        self.preferred_model: str | None = None  # used when `model` is None and the board has a model so named
        self._board: VirtualBoard | None = None  # a virtual board this controller started and stops
        self._board_lock = threading.Lock()

    # -- called from the GUI thread ----------------------------------------------------------
    def start(self) -> None:
        """Connect and start streaming in the background; progress arrives as signals."""
        if self._starter is None:
            self._starter = threading.Thread(target=self._start_main, name="edgeloop-connect", daemon=True)
            self._starter.start()

    def stop(self) -> None:
        """Stop the pipeline, close the session and stop an owned board (blocks briefly while threads end)."""
        self._stopping.set()
        if self._starter is not None:
            self._starter.join(timeout=10.0)
        self._drop_link()
        self._stop_board()

    def connect_to(self, url: str, baudrate: int | None = None) -> None:
        """Leave the current board (stopping an owned virtual one) and connect to `url` (in the background)."""
        self._run_connect(lambda: (url, baudrate))

    def start_virtual(self, target: str, models: list[str] | None = None) -> None:
        """Start a virtual board ("host" or "qemu") with `models` (default: the zoo) and connect to it."""
        def start() -> tuple[str, None]:
            from edgeloop.app.link.boards import start_board

            self._on_state(LinkState.CONNECTING, f"starting the {target} virtual board (built on first use)")
            board = start_board(target, models=models, timeout=120.0 if target == "qemu" else 30.0)
            with self._board_lock:
                self._board = board
            self.board_started.emit(target, board.url)
            return board.url, None

        self._run_connect(start)

    def disconnect(self) -> None:
        """End the link and stop an owned virtual board; the window stays open."""
        def drop() -> None:
            self._join_starter()
            self._drop_link()
            self._stop_board()
            self._on_state(LinkState.DISCONNECTED, "")

        threading.Thread(target=drop, name="edgeloop-disconnect", daemon=True).start()

    @property
    def board(self) -> VirtualBoard | None:
        """The virtual board this controller started, if any."""
        return self._board

    def _run_connect(self, target: Callable[[], tuple[str, int | None]]) -> None:
        def main() -> None:
            previous = self._starter if self._starter is not threading.current_thread() else None
            if previous is not None:
                previous.join(timeout=30.0)
            self._generation += 1  # from now on the old session's events are not shown
            self._drop_link()
            self._stop_board()
            try:
                self.url, self.baudrate = target()
            except LINK_NEWS as exc:
                self._on_state(LinkState.FAILED, str(exc))
                self.failed.emit(str(exc))
                return
            self.session = self._new_session()
            self._start_main()

        self._starter = threading.Thread(target=main, name="edgeloop-connect", daemon=True)
        self._starter.start()

    def _join_starter(self) -> None:
        starter = self._starter
        if starter is not None and starter is not threading.current_thread():
            starter.join(timeout=30.0)

    def _drop_link(self) -> None:
        with self._pipeline_lock:
            pipeline, self.pipeline = self.pipeline, None
        if pipeline is not None:
            pipeline.stop()
        if self._watch is not None and self._watch is not threading.current_thread():
            self._watch.join(timeout=5.0)
        self.session.close()

    def _stop_board(self) -> None:
        with self._board_lock:
            board, self._board = self._board, None
        if board is not None:
            board.stop()

    def take_records(self) -> list[ResultRecord]:
        """Every record that arrived since the last call, oldest first (call from the GUI thread on records_ready)."""
        with self._inbox_lock:
            records = list(self._inbox)
            self._inbox.clear()
        return records

    def take_preview(self) -> Capture | None:
        """The newest image capture since the last call, or None (call from the GUI thread on preview_ready)."""
        with self._inbox_lock:
            capture, self._preview = self._preview, None
            self._preview_pending = False
        return capture

    def add_record_listener(self, listener: Callable[[ResultRecord], object]) -> None:
        """Call `listener(record)` for every result, in the link's reader thread (keep it short)."""
        self._record_listeners.append(listener)

    def add_capture_listener(self, listener: Callable[[Capture], object]) -> None:
        """Call `listener(capture)` for every capture the source gives, in the capture thread."""
        self._capture_listeners.append(listener)

    @property
    def source_kind(self) -> str | None:
        """"image" or "imu": what the running source gives (None before the first pipeline)."""
        pipeline = self.pipeline
        return pipeline.source.kind if pipeline is not None else None

    def set_source(self, factory: SourceFactory, model: int | None = None) -> None:
        """Feed the board from another source from now on (and run `model`, if given); the link stays up.

        The switch runs in a worker. If the new source cannot be opened or does not suit the model,
        `failed` says why and the previous source (and model) come back.
        """
        previous, self.source_factory = self.source_factory, factory
        threading.Thread(target=self._switch_main, args=(previous, model), name="edgeloop-switch",
                         daemon=True).start()

    def select_model(self, index: int) -> None:
        """Switch the board's model (applied between two inputs)."""
        if self.pipeline is None:
            return
        try:
            self.pipeline.select_model(index)
        except LINK_NEWS as exc:
            self.failed.emit(str(exc))

    def set_roi(self, roi: Roi) -> None:
        """Apply a new region of interest to image inputs."""
        self._roi = roi
        if self.pipeline is not None:
            self.pipeline.roi = roi

    def set_paused(self, paused: bool) -> None:
        """Pause or resume sending inputs."""
        if self.pipeline is not None:
            (self.pipeline.pause if paused else self.pipeline.resume)()

    def reconnect(self) -> None:
        """Drop the link and reconnect now (also after the session gave up)."""
        if self.session.info is None and self._starter is not None and not self._starter.is_alive():
            self.connect_to(self.url, self.baudrate)  # the first connect failed: try it again from scratch
        else:
            self.session.reconnect()

    def announce_info(self, info: Info) -> None:
        """The board's INFO changed without a reconnect (a model was deployed): tell the window."""
        self.info_changed.emit(info)

    def link_stats(self) -> SessionStats:
        """Link figures now (thread-safe)."""
        return self.session.stats()

    def _new_session(self) -> Session:
        """A session whose events count only while it is the current one (a dropped board's close is no news)."""
        self._generation = generation = getattr(self, "_generation", 0) + 1

        def current() -> bool:
            return generation == self._generation

        return Session(self.url, baudrate=self.baudrate, opener=self.opener,
                       on_state=lambda state, detail: current() and self._on_state(state, detail),
                       on_info=lambda info: current() and self._on_info(info),
                       on_log=lambda log: current() and self._on_log(log))

    # -- worker threads ------------------------------------------------------------------------
    def _start_main(self) -> None:
        try:
            info = self.session.connect()
            model = self.model
            if model is None and self.preferred_model in {m.name for m in info.models}:
                model = self.preferred_model  # the model used last time, when this board has it
            with self._pipeline_lock:
                if not self._stopping.is_set():
                    self._start_pipeline(model, paused=False)
        except LINK_NEWS as exc:
            self.failed.emit(str(exc))

    def _start_pipeline(self, model: int | str | None, paused: bool) -> None:
        """Build and start a pipeline on the current source factory (caller holds the pipeline lock)."""
        source = self.source_factory()
        info = self.session.info
        if model is None and info is not None:  # the active model, unless the source cannot feed it
            model = model_for_source(info.models, info.active_model, source.kind)
        try:
            pipeline = Pipeline(TappedSource(source, self._on_capture), self.session, model=model, roi=self._roi,
                                stop_on_link_failure=False, on_record=self._on_record)
        except BaseException:
            source.close()
            raise
        if paused:
            pipeline.pause()
        self.pipeline = pipeline
        pipeline.start()
        self.source_changed.emit(source.name)
        self._watch = threading.Thread(target=self._watch_main, args=(pipeline,), name="edgeloop-watch",
                                       daemon=True)
        self._watch.start()

    def _switch_main(self, previous: SourceFactory, model: int | None) -> None:
        with self._pipeline_lock:
            old = self.pipeline
            if old is None or self._stopping.is_set():
                if model is not None:
                    self.model = model  # not streaming yet: the connect thread uses the new factory and model
                return
            old_model, paused = old.model_index, old.paused
            self.pipeline = None
            old.stop()
            try:
                self._start_pipeline(old_model if model is None else model, paused)
                return
            except LINK_NEWS as exc:
                self.failed.emit(f"cannot use that source: {exc}")
            self.source_factory = previous
            try:
                self._start_pipeline(old_model, paused)
            except LINK_NEWS as exc:
                self.failed.emit(str(exc))

    def _on_record(self, record: ResultRecord) -> None:
        with self._inbox_lock:
            wake = not self._inbox  # a wake-up is already queued while the inbox holds records
            self._inbox.append(record)
            self._answered_t = max(self._answered_t, record.timestamp)
        if wake:
            self.records_ready.emit()
        for listener in self._record_listeners:
            listener(record)

    def _on_capture(self, capture: Capture) -> None:
        if isinstance(capture, ImageFrame):
            with self._inbox_lock:
                lagging = self._answered_t < self._captured_t  # the previous capture has no result yet
                self._captured_t = capture.timestamp
                self._preview = capture
                wake = lagging and not self._preview_pending
                self._preview_pending = self._preview_pending or wake
            if wake:
                self.preview_ready.emit()
        for listener in self._capture_listeners:
            listener(capture)

    def _watch_main(self, pipeline: Pipeline) -> None:
        """Report why the pipeline ended (source exhausted or failed) unless it was stopped or replaced."""
        try:
            for _ in pipeline.records():
                pass  # records reach the GUI through on_record; this only drains the queue
        except LINK_NEWS as exc:
            if not self._stopping.is_set() and pipeline is self.pipeline:
                self.failed.emit(str(exc))
            return
        if not self._stopping.is_set() and pipeline is self.pipeline:
            self.finished.emit(f"{pipeline.source.name} ended after {pipeline.stats.captures} captures")

    def _on_state(self, state: LinkState, detail: str) -> None:
        self.state_changed.emit(state, detail)

    def _on_info(self, info: Info) -> None:
        self.info_changed.emit(info)

    def _on_log(self, log: Log) -> None:
        self.log_received.emit(log.text)

