"""Native libraries' routine log lines kept out of the terminal.

TensorFlow 2.2x logs through Abseil, which writes INFO and WARNING lines to
file descriptor 2 before any threshold applies (TF_CPP_MIN_LOG_LEVEL has no
effect until absl::InitializeLog, which TensorFlow never calls), the TFLite
converter printf()s its settings, and tf.data writes an "E" line about an
attribute its own runtime does not know at every fit. `edgeloop train` printed
about twenty such lines around its own three.

`filtered_native_stderr()` routes file descriptor 2 through a pipe whose
reader drops exactly those lines and forwards everything else at once (a
native fatal error, a child process's output). Python's own `sys.stderr`
keeps writing straight to the terminal, so tracebacks, warnings and progress
bars never pass through the filter. EDGELOOP_NATIVE_LOGS=1 turns it off.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
from collections.abc import Iterator

NATIVE_NOISE = re.compile(
    rb"^(?:WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    rb"|[IW]\d{4} [\d:. ]+\d+ [\w./-]+:\d+\] "  # Abseil/TensorFlow INFO and WARNING lines
    rb"|E\d{4} [\d:. ]+\d+ node_def_util\.cc:\d+\] NodeDef mentions attribute "  # tf.data's version-skew line
    rb"|To enable the following instructions: .*rebuild TensorFlow"  # the second line of a CPU-feature INFO
    rb"|fully_quantize: \d+, inference_type: \d+"  # the TFLite converter's settings
    rb")")


def _forward(read_end: int, terminal: int) -> None:
    """Copy the pipe to the terminal line by line, without the routine native lines."""
    with os.fdopen(read_end, "rb") as pipe:
        for line in pipe:
            if not NATIVE_NOISE.match(line):
                os.write(terminal, line)


@contextlib.contextmanager
def filtered_native_stderr(enabled: bool = True) -> Iterator[None]:
    """Within the block, native code's routine log lines on file descriptor 2 are dropped (see the module).

    Child processes started within the block share the filtered descriptor; stop them before it ends.
    """
    if not enabled or os.environ.get("EDGELOOP_NATIVE_LOGS"):
        yield
        return
    try:
        terminal = os.dup(2)
    except OSError:  # no descriptor 2 to filter
        yield
        return
    python_stderr = sys.stderr
    try:  # Python's stderr moves off the filtered descriptor only if it writes to it (not a capture, not a GUI)
        swap = python_stderr.fileno() == 2
        python_stderr.flush()
    except (AttributeError, OSError, ValueError):
        swap = False
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    if swap:
        sys.stderr = open(terminal, "w", buffering=1, encoding=getattr(python_stderr, "encoding", None) or "utf-8",
                          errors="backslashreplace", closefd=False)
    reader = threading.Thread(target=_forward, args=(read_end, terminal), name="native-stderr", daemon=True)
    reader.start()
    try:
        yield
    finally:
        if swap:
            sys.stderr.flush()
            sys.stderr = python_stderr
        os.dup2(terminal, 2)  # drops the pipe's last write end (unless a child still holds it): the reader ends
        reader.join(timeout=2.0)
        if not reader.is_alive():
            os.close(terminal)
