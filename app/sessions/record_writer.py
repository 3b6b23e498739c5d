"""A thread that feeds results and captures to a recorder in arrival order (no Qt).

The link and capture threads must never wait for the disk, so they `put`
into a bounded queue and this thread writes. Samples beyond the queue are
dropped and counted rather than growing memory.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Protocol

from edgeloop import EdgeloopError
from edgeloop.app.live.pipeline import ResultRecord
from edgeloop.app.live.sources.base import Capture
from edgeloop.app.sessions.recording import Recorder

WRITE_QUEUE = 512
"""Samples waiting for the disk beyond this are dropped (and counted) rather than growing memory."""


class RecordSink(Protocol):
    """Where the writer hands samples: the open recorder (None when no session is open) and two adders."""

    recorder: Recorder | None

    def add_result(self, record: ResultRecord) -> None: ...

    def add_capture(self, capture: Capture) -> None: ...


class RecordWriter:
    """Writes queued results and captures to `sink` on its own thread.

    `put` never blocks (callers are the link and capture threads); `flush`
    waits until everything queued before it is written. A sample the recorder
    refuses (say, the source switched to another kind mid-session) is counted
    in `dropped` and reported through `on_error`.
    """

    def __init__(self, sink: RecordSink, on_error: Callable[[str], None] = lambda message: None) -> None:
        self.sink = sink
        self.on_error = on_error
        self.dropped = 0
        self._queue: queue.Queue = queue.Queue(maxsize=WRITE_QUEUE)
        self._thread = threading.Thread(target=self._main, name="edgeloop-record-writer", daemon=True)
        self._thread.start()

    def put(self, item: ResultRecord | Capture) -> None:
        """Queue a result or capture for the recorder (any thread)."""
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self.dropped += 1

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until all queued items are written; False on timeout."""
        done = threading.Event()
        try:
            self._queue.put(done, timeout=timeout)
        except queue.Full:
            return False
        return done.wait(timeout)

    def close(self) -> None:
        """Write what is queued, then end the thread."""
        self._queue.put(None)
        self._thread.join(timeout=10.0)

    def _main(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if isinstance(item, threading.Event):
                item.set()
                continue
            recorder = self.sink.recorder
            if recorder is None:
                continue
            try:
                if isinstance(item, ResultRecord):
                    self.sink.add_result(item)
                elif recorder.kind == "imu":  # image sessions store frames from results, with their prediction
                    self.sink.add_capture(item)
            except EdgeloopError as exc:  # e.g. the source was switched to another kind mid-session
                self.dropped += 1
                self.on_error(f"sample not recorded: {exc}")
