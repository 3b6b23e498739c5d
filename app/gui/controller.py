"""Bridges the threaded link (Session + Pipeline) to the GUI thread through Qt signals.

Connecting, capture and the link all run off the GUI thread: `start()` opens
the session in a worker thread; session callbacks and pipeline records (from
the reader thread) are re-emitted as signals, which Qt queues into the GUI
thread. The controller never touches widgets.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from PySide6 import QtCore

from edgeloop.app.pipeline import Pipeline
from edgeloop.app.preprocess import Roi
from edgeloop.app.session import LinkState, Opener, Session, SessionStats
from edgeloop.app.sources.base import Source
from edgeloop.protocol import Info, Log

SourceFactory = Callable[[], Source]


class QtLinkController(QtCore.QObject):
    """Owns one Session and one Pipeline; every link event arrives as a signal in the GUI thread."""

    state_changed = QtCore.Signal(object, str)  # LinkState, detail
    info_changed = QtCore.Signal(object)  # Info
    record_ready = QtCore.Signal(object)  # ResultRecord
    log_received = QtCore.Signal(str)
    failed = QtCore.Signal(str)  # a message for the user: cannot connect, source broke, ...
    finished = QtCore.Signal(str)  # the source ended normally (a file or a bounded synthetic run)

    def __init__(self, url: str, source_factory: SourceFactory, *, model: int | str | None = None,
                 baudrate: int | None = None, opener: Opener | None = None,
                 parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
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

    # -- called from the GUI thread ----------------------------------------------------------
    def start(self) -> None:
        """Connect and start streaming in the background; progress arrives as signals."""
        if self._starter is None:
            self._starter = threading.Thread(target=self._start_main, name="edgeloop-connect", daemon=True)
            self._starter.start()

    def stop(self) -> None:
        """Stop the pipeline and close the session (blocks briefly while the threads end)."""
        self._stopping.set()
        if self._starter is not None:
            self._starter.join(timeout=10.0)
        if self.pipeline is not None:
            self.pipeline.stop()
        if self._watch is not None:
            self._watch.join(timeout=5.0)
        self.session.close()

    def select_model(self, index: int) -> None:
        """Switch the board's model (applied between two inputs)."""
        if self.pipeline is None:
            return
        try:
            self.pipeline.select_model(index)
        except (ValueError, RuntimeError) as exc:
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
            self._starter = None  # the first connect failed: try it again from scratch
            self.session = self._new_session()
            self.start()
        else:
            self.session.reconnect()

    def link_stats(self) -> SessionStats:
        """Link figures now (thread-safe)."""
        return self.session.stats()

    def _new_session(self) -> Session:
        return Session(self.url, baudrate=self.baudrate, opener=self.opener, on_state=self._on_state, on_info=self._on_info,
                       on_log=self._on_log)

    # -- worker threads ------------------------------------------------------------------------
    def _start_main(self) -> None:
        try:
            self.session.connect()
            if self._stopping.is_set():
                return
            self.pipeline = Pipeline(self.source_factory(), self.session, model=self.model, roi=self._roi,
                                     stop_on_link_failure=False, on_record=self.record_ready.emit)
            self.pipeline.start()
            self._watch = threading.Thread(target=self._watch_main, name="edgeloop-watch", daemon=True)
            self._watch.start()
        except (OSError, ValueError, RuntimeError) as exc:
            self.failed.emit(str(exc))

    def _watch_main(self) -> None:
        """Report why the pipeline ended (source exhausted or failed) unless we stopped it."""
        pipeline = self.pipeline
        assert pipeline is not None
        try:
            for _ in pipeline.records():
                pass  # records reach the GUI through on_record; this only drains the queue
        except (OSError, ValueError, RuntimeError) as exc:
            if not self._stopping.is_set():
                self.failed.emit(str(exc))
            return
        if not self._stopping.is_set():
            self.finished.emit(f"{pipeline.source.name} ended after {pipeline.stats.captures} captures")

    def _on_state(self, state: LinkState, detail: str) -> None:
        self.state_changed.emit(state, detail)

    def _on_info(self, info: Info) -> None:
        self.info_changed.emit(info)

    def _on_log(self, log: Log) -> None:
        self.log_received.emit(log.text)

