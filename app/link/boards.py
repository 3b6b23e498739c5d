"""Start and stop virtual edgeloop boards: the host board process, or the ARM image under QEMU.

Both speak the same link protocol at a pyserial URL, so every tool treats them
like the real board::

    from edgeloop.app.link.boards import start_board
    with start_board("host", models=["sine"], baud=921600) as board:
        link = serial.serial_for_url(board.url, timeout=1)
        ...

A host board's timings are host-clock nanoseconds and a QEMU board's are
emulated instruction counts: neither is measured MCU time (INFO says which).
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Sequence
from types import TracebackType
from typing import Protocol

from edgeloop import EdgeloopError, InputError
from edgeloop.app.link.firmware_build import FirmwareImage, build_firmware

TARGETS: tuple[str, ...] = ("host", "qemu")
"""Virtual board kinds :func:`start_board` can start."""

_QEMU_BOARD = "qemu-mps2-an500"
READY_PREFIX = "edgeloop-board ready "


class BoardStartError(EdgeloopError, RuntimeError):
    """A virtual board did not come up; the message carries its own error output."""


class _Stoppable(Protocol):
    url: str

    def stop(self) -> object: ...


class VirtualBoard:
    """A running virtual board: ``url`` for pyserial, ``stop()`` to end it; a context manager."""

    def __init__(self, target: str, url: str, image: FirmwareImage, *, pty: str = "",
                 process: subprocess.Popen[str] | None = None, stopper: _Stoppable | None = None,
                 stderr_tail: deque[str] | None = None) -> None:
        self.target = target
        self.url = url
        self.pty = pty
        self.image = image
        self._process = process
        self._stopper = stopper
        self._stderr_tail = stderr_tail if stderr_tail is not None else deque(maxlen=50)

    @property
    def running(self) -> bool:
        """True while the board process is alive."""
        if self._process is not None:
            return self._process.poll() is None
        return bool(getattr(self._stopper, "running", False))

    @property
    def pid(self) -> int | None:
        """Process id of the board (the host board process, or qemu-system-arm); None if it never started.

        For tools that watch or signal the board: CPU share in benchmarks,
        SIGSTOP/SIGCONT to freeze it in tests.
        """
        if self._process is not None:
            return self._process.pid
        process = getattr(self._stopper, "process", None)
        return process.pid if process is not None else None

    def stderr(self) -> str:
        """The board's last lines of error output (host board) or console (QEMU)."""
        if self._stopper is not None and hasattr(self._stopper, "console"):
            return str(self._stopper.console())
        return "".join(self._stderr_tail)

    def stop(self, timeout: float = 5.0) -> None:
        """End the board (SIGTERM, then SIGKILL after timeout seconds). Safe to call twice."""
        if self._stopper is not None:
            self._stopper.stop()
            return
        proc = self._process
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)

    def __enter__(self) -> VirtualBoard:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"VirtualBoard({self.target}, {self.url or self.pty}, {'running' if self.running else 'stopped'})"


def start_board(target: str = "host", models: Sequence[str | os.PathLike[str]] | None = None, *,
                baud: int = 0, pty: bool = False, tcp_port: int = 0, rx_ring: int | None = None,
                infer_us: int = 0, extra_cflags: Sequence[str] = (), timeout: float = 30.0) -> VirtualBoard:
    """Build the firmware if needed and start a virtual board.

    Args:
        target: ``"host"`` (the firmware core as a Linux process) or ``"qemu"``
            (the ARM image on qemu-system-arm, mps2-an500).
        models: model specs (see :func:`edgeloop.app.link.firmware_build.resolve_model`),
            default the test models.
        baud: host board only: pace the link like a UART at this rate (0: unpaced).
        pty: host board only: also serve a pseudo-terminal (``board.pty``).
        tcp_port: host board only: TCP port to listen on (0: a free one).
        rx_ring: host board only: receive ring bytes (default: credit x max frame).
        infer_us: host board only: stretch every inference to at least this many µs,
            emulating an MCU's compute time (timings stay labelled host clock).
        extra_cflags: extra firmware compiler flags, e.g. ``["-DEL_RX_CREDIT=4"]``.
        timeout: seconds to wait for the board to be ready.

    Raises:
        ValueError: an unknown target, or an option the target does not support.
        BoardStartError: the board exited or did not get ready in time.
        edgeloop.app.link.firmware_build.FirmwareBuildError: the firmware did not build.
    """
    if target not in TARGETS:
        raise InputError(f"unknown board target {target!r}; choose one of {', '.join(TARGETS)}")
    if baud < 0:
        raise InputError(f"baud must be >= 0 (0 = unpaced), got {baud}")
    if target == "qemu":
        if baud or pty or tcp_port or rx_ring or infer_us:
            raise InputError("--baud, --pty, --tcp, --infer-us and --rx-ring apply to the host board only; "
                             "QEMU's UART link is served on a free TCP port")
        return _start_qemu(models, extra_cflags, timeout)
    image = build_firmware("host", models, extra_cflags=extra_cflags)
    if not 0 <= infer_us <= 1_000_000:
        raise InputError(f"infer_us must be 0..1000000 µs, got {infer_us}")
    args = [str(image.elf), "--tcp", str(tcp_port), "--baud", str(baud), "--infer-us", str(infer_us)]
    if pty:
        args.append("--pty")
    if rx_ring is not None:
        args += ["--rx-ring", str(rx_ring)]
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    tail: deque[str] = deque(maxlen=50)
    try:
        fields = _wait_ready(proc, tail, timeout)
    except BaseException:
        proc.kill()
        proc.wait(timeout=5)
        raise
    return VirtualBoard("host", fields.get("url", ""), image, pty=fields.get("pty", ""), process=proc,
                        stderr_tail=tail)


def _wait_ready(proc: subprocess.Popen[str], tail: deque[str], timeout: float) -> dict[str, str]:
    """Read the board's stdout until its ready line; keep draining stderr in the background."""
    assert proc.stdout is not None and proc.stderr is not None
    stderr = proc.stderr
    threading.Thread(target=lambda: tail.extend(iter(stderr.readline, "")), daemon=True).start()
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not sel.select(timeout=min(0.2, max(0.0, deadline - time.monotonic()))):
                if proc.poll() is not None:
                    break
                continue
            line = proc.stdout.readline()
            if not line:
                break
            if line.startswith(READY_PREFIX):
                return dict(f.split("=", 1) for f in line[len(READY_PREFIX):].split() if "=" in f)
    proc.poll()
    time.sleep(0.1)  # let the stderr thread collect the board's last words
    why = "".join(tail).strip() or "no error output"
    state = f"exited with status {proc.returncode}" if proc.returncode is not None else f"not ready in {timeout} s"
    raise BoardStartError(f"the host board {state}: {why}")


def _start_qemu(models: Sequence[str | os.PathLike[str]] | None, extra_cflags: Sequence[str],
                timeout: float) -> VirtualBoard:
    from edgeloop.app.link import qemu

    image = build_firmware(_QEMU_BOARD, models, extra_cflags=extra_cflags)
    try:
        board = qemu.start_qemu_board(image.elf, timeout=timeout)
    except qemu.QemuError as exc:
        raise BoardStartError(f"the QEMU board did not start: {exc}") from exc
    return VirtualBoard("qemu", board.url, image, stopper=board)

