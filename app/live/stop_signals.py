"""Ctrl-C and SIGTERM handling shared by the commands, the headless runner and the GUI (no Qt).

Both signals mean "stop": a user's Ctrl-C, `kill`, a service manager, or a
script ending its background job (which starts with SIGINT ignored, so SIGINT
is installed explicitly too). Python runs signal handlers in the main thread
only; off it, these helpers do nothing.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def on_stop_signals(handler: Callable[[int], object],
                    signals: tuple[signal.Signals, ...] = STOP_SIGNALS) -> Iterator[None]:
    """While inside, `signals` (default SIGINT and SIGTERM) call `handler(signum)`; the previous handlers
    come back on exit."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {number: signal.signal(number, lambda number, _frame: handler(number)) for number in signals}
    try:
        yield
    finally:
        for number, old in previous.items():
            signal.signal(number, old)


def _interrupt(signum: int) -> None:
    raise KeyboardInterrupt


def interrupt_on_stop_signals() -> contextlib.AbstractContextManager[None]:
    """While inside, SIGINT and SIGTERM raise KeyboardInterrupt: the code unwinds (boards stopped, files closed)."""
    return on_stop_signals(_interrupt)


@contextlib.contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM until the block ends, then raise KeyboardInterrupt if one came.

    For work that must be done whole or not at all, e.g. one result's log row,
    console line and tallies: an interrupt in its middle would leave the CSV
    and the summary disagreeing.
    """
    caught: list[int] = []
    with on_stop_signals(caught.append):
        yield
    if caught:
        raise KeyboardInterrupt
