"""Run the ARM firmware under qemu-system-arm (MPS2 AN500, a Cortex-M7).

Two ways to run an image:

- :func:`start_qemu_board` boots a firmware image that speaks the edgeloop link
  protocol on UART0 and exposes that UART as a TCP server; the returned
  :class:`QemuBoard` has a pyserial ``url`` (``socket://127.0.0.1:PORT``), so
  every host tool talks to it exactly as to a real board. It is a context
  manager; ``stop()`` ends QEMU.
- :func:`run_bare_metal` runs a test image to completion: whatever it prints
  on UART0 (``printf`` in images built by :func:`build_bare_metal`) comes back
  as ``output``, and the status it gives to ``exit()`` or returns from
  ``main()`` comes back as ``status`` (through semihosting SYS_EXIT_EXTENDED).
  A fault ends the image with status ``0x80 | exception`` and a line on the
  semihosting ``console``.

Both run QEMU with ``-icount shift=0``: every guest instruction advances
virtual time by exactly 1 ns, so SysTick (25 MHz) counts one tick per 40
instructions and a timing is a deterministic *emulated instruction count*,
never measured CPU cycles. :data:`INSTRUCTIONS_PER_TICK` converts.

Example, an instruction-count benchmark of a kernel::

    from edgeloop.app.link.qemu import build_bare_metal, run_bare_metal
    elf = build_bare_metal(["bench_conv.c", "firmware/nn/nn_conv.c"], "build/bench",
                           includes=["firmware/nn"])
    result = run_bare_metal(elf, timeout=60).check()
    print(result.output)      # e.g. "conv ticks 1234\n"; instructions = ticks * 40
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import threading
import time
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import edgeloop
from edgeloop import EdgeloopError, InputError
from edgeloop.app.link.child_process import popen_tied

QEMU_BINARY = "qemu-system-arm"
MACHINE = "mps2-an500"
BOARD = "qemu-mps2-an500"
SYSTICK_HZ = 25_000_000
"""SysTick input clock of QEMU's AN500 model: the port's tick_hz."""
INSTRUCTIONS_PER_TICK = 40
"""Guest instructions per SysTick count under ``-icount shift=0`` (1 ns each at 25 MHz)."""

PORT_DIR: Path = edgeloop.FIRMWARE_DIR / "ports" / BOARD
BAREMETAL_MAKEFILE: Path = PORT_DIR / "baremetal.mk"

_QEMU_HINT = (
    f"{QEMU_BINARY} was not found on PATH: install the Debian package qemu-system-arm "
    "(sudo apt-get install qemu-system-arm), or pass qemu=<path to qemu-system-arm>"
)
_TOOLCHAIN_HINT = (
    "arm-none-eabi-gcc was not found on PATH: install the Debian packages gcc-arm-none-eabi "
    "and libnewlib-arm-none-eabi (sudo apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi)"
)
_LISTENING = re.compile(r"waiting for connection on: disconnected:tcp:([0-9.]+):(\d+)")
_ELF_MAGIC = b"\x7fELF"
_EM_ARM = 40


class QemuNotFoundError(EdgeloopError, FileNotFoundError):
    """qemu-system-arm (or the ARM toolchain) is not installed."""


class QemuError(EdgeloopError, RuntimeError):
    """QEMU failed to start or an image could not be run."""


class BareMetalBuildError(EdgeloopError, RuntimeError):
    """A bare-metal test image did not compile or link."""


class BareMetalFailure(EdgeloopError, RuntimeError):
    """A bare-metal test image exited with a non-zero status or timed out."""


def find_qemu(qemu: str | os.PathLike[str] | None = None) -> str:
    """Return the qemu-system-arm executable to use, or raise :class:`QemuNotFoundError`."""
    if qemu is not None:
        path = Path(qemu)
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
        raise QemuNotFoundError(f"{path} is not an executable file; {_QEMU_HINT}")
    found = shutil.which(QEMU_BINARY)
    if found is None:
        raise QemuNotFoundError(_QEMU_HINT)
    return found


def _check_elf(elf: str | os.PathLike[str]) -> Path:
    """Return elf as a Path after checking it is a 32-bit ARM ELF file."""
    path = Path(elf)
    if not path.is_file():
        raise QemuNotFoundError(
            f"firmware image {path} does not exist; build it first "
            f"(make -C firmware BOARD={BOARD}, or build_bare_metal() for a test image)"
        )
    with path.open("rb") as fh:
        head = fh.read(20)
    if len(head) < 20 or head[:4] != _ELF_MAGIC:
        raise QemuError(f"{path} is not an ELF file; pass the .elf that the ARM build produced, not the .bin")
    if head[4] != 1 or int.from_bytes(head[18:20], "little") != _EM_ARM:
        raise QemuError(f"{path} is not a 32-bit ARM ELF; build it with BOARD={BOARD} (arm-none-eabi-gcc)")
    return path


def _qemu_command(qemu: str, elf: Path, serial: str, icount_shift: int | None,
                  extra_args: Sequence[str]) -> list[str]:
    cmd = [
        qemu, "-M", MACHINE, "-nodefaults", "-nographic", "-nic", "none", "-monitor", "none",
        "-semihosting-config", "enable=on,target=native", "-serial", serial, "-kernel", str(elf),
    ]
    if icount_shift is not None:
        cmd += ["-icount", f"shift={icount_shift}"]
    return cmd + list(extra_args)


def _kill_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
        process.wait(timeout=5)


class QemuBoard:
    """A running QEMU board whose UART0 is a TCP server at :attr:`url`.

    Made by :func:`start_qemu_board`. QEMU waits for the first connection
    before it starts the guest, so nothing the firmware sends at boot is lost.
    Reconnecting is allowed: QEMU listens again after a client disconnects.
    """

    def __init__(self, process: subprocess.Popen[bytes], host: str, port: int, elf: Path,
                 stderr_lines: list[str], reader: threading.Thread) -> None:
        self.process = process
        self.host = host
        self.port = port
        self.elf = elf
        self._stderr_lines = stderr_lines
        self._reader = reader
        # A handle dropped without stop() (or an interpreter exit) must not leave QEMU running.
        self._finalizer = weakref.finalize(self, _kill_process, process)

    @property
    def url(self) -> str:
        """pyserial URL of the board's link, e.g. ``socket://127.0.0.1:40123``."""
        return f"socket://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        """True while the QEMU process is alive."""
        return self.process.poll() is None

    @property
    def returncode(self) -> int | None:
        """QEMU's exit status (the guest's semihosting exit status), or None while running."""
        return self.process.poll()

    def console(self) -> str:
        """QEMU's stderr so far: its own messages and the guest's semihosting output."""
        return "".join(self._stderr_lines)

    def wait(self, timeout: float) -> int:
        """Wait up to timeout seconds for QEMU to exit by itself; return its status."""
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise TimeoutError(f"QEMU ({self.elf.name}) still running after {timeout} s") from exc

    def stop(self, timeout: float = 5.0) -> int | None:
        """End QEMU (SIGTERM, then SIGKILL after timeout seconds); return its exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout)
        self._reader.join(timeout=timeout)
        self._finalizer.detach()
        return self.process.returncode

    def __enter__(self) -> QemuBoard:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else f"exited {self.returncode}"
        return f"QemuBoard({self.elf.name}, {self.url}, {state})"


def start_qemu_board(elf: str | os.PathLike[str], *, host: str = "127.0.0.1", port: int = 0,
                     timeout: float = 15.0, icount_shift: int | None = 0,
                     qemu: str | os.PathLike[str] | None = None,
                     extra_args: Sequence[str] = ()) -> QemuBoard:
    """Start qemu-system-arm on a firmware ELF and return when its UART TCP port listens.

    Args:
        elf: ARM firmware image (the ``.elf`` of ``make -C firmware BOARD=qemu-mps2-an500``).
        host: address to listen on; keep the default loopback.
        port: TCP port, or 0 to let QEMU pick a free one (then read ``board.port``).
        timeout: seconds to wait for QEMU to listen.
        icount_shift: ``-icount shift=N`` (0: 1 ns per instruction, deterministic
            timing); None runs without icount (faster, timings meaningless).
        qemu: path of qemu-system-arm; found on PATH by default.
        extra_args: more QEMU arguments (e.g. ``["-d", "guest_errors"]``).

    Raises:
        QemuNotFoundError: qemu-system-arm is not installed.
        QemuError: QEMU exited or did not listen within ``timeout``.
    """
    exe = find_qemu(qemu)
    image = _check_elf(elf)
    cmd = _qemu_command(exe, image, f"tcp:{host}:{port},server=on,wait=on", icount_shift, extra_args)
    process = popen_tied(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    lines: list[str] = []
    listening = threading.Event()
    bound: list[tuple[str, int]] = []

    def read_stderr() -> None:
        assert process.stderr is not None
        for raw in iter(process.stderr.readline, b""):
            text = raw.decode("utf-8", "replace")
            if len(lines) < 10_000:  # bounded: a chatty guest must not grow memory forever
                lines.append(text)
            match = _LISTENING.search(text)
            if match and not listening.is_set():
                bound.append((match.group(1), int(match.group(2))))
                listening.set()
        listening.set()  # EOF: QEMU exited

    reader = threading.Thread(target=read_stderr, name=f"qemu-stderr-{image.name}", daemon=True)
    reader.start()
    if not listening.wait(timeout) or not bound:
        process.kill()
        process.wait(timeout=5)
        reader.join(timeout=5)
        detail = "".join(lines).strip() or "no output"
        raise QemuError(
            f"QEMU did not start listening for {image.name} within {timeout} s "
            f"(exit status {process.returncode}): {detail}"
        )
    bound_host, bound_port = bound[0]
    return QemuBoard(process, bound_host, bound_port, image, lines, reader)


@dataclass(frozen=True)
class BareMetalResult:
    """What a bare-metal image did under QEMU.

    Attributes:
        status: exit status (the value of ``exit()``/``main()``; ``0x80 | n`` for a
            fault in exception n), or None when it timed out.
        output: text the image wrote to UART0 (its stdout).
        console: QEMU's stderr: semihosting messages (fault reports) and QEMU's own errors.
        timed_out: True when the image was killed after ``timeout`` seconds.
        wall_s: host seconds the run took.
    """

    status: int | None
    output: str
    console: str
    timed_out: bool
    wall_s: float

    @property
    def ok(self) -> bool:
        """True when the image exited with status 0."""
        return self.status == 0 and not self.timed_out

    def check(self) -> BareMetalResult:
        """Return self if the image exited with status 0, else raise :class:`BareMetalFailure`."""
        if self.ok:
            return self
        why = "timed out" if self.timed_out else f"exited with status {self.status}"
        raise BareMetalFailure(
            f"bare-metal image {why}\n--- UART output ---\n{self.output[-4000:]}"
            f"\n--- QEMU console ---\n{self.console[-2000:]}"
        )


def run_bare_metal(elf: str | os.PathLike[str], timeout: float = 60.0, *,
                   icount_shift: int | None = 0, qemu: str | os.PathLike[str] | None = None,
                   extra_args: Sequence[str] = ()) -> BareMetalResult:
    """Run a test image under QEMU until it exits, and return its output and status.

    The image's UART0 is QEMU's stdout and its semihosting console is QEMU's
    stderr; the image ends QEMU by semihosting exit (``exit()``, returning from
    ``main()``, or a fault). Images built by :func:`build_bare_metal` do all of
    this. With ``icount_shift=0`` two runs of the same image give identical
    tick counts.

    Args:
        elf: the ARM test image.
        timeout: seconds (host wall clock) before QEMU is killed; the result then
            has ``timed_out=True`` and ``status=None``.
        icount_shift: as for :func:`start_qemu_board`.
        qemu: path of qemu-system-arm; found on PATH by default.
        extra_args: more QEMU arguments.
    """
    if timeout <= 0:
        raise InputError(f"timeout must be positive seconds, got {timeout}")
    exe = find_qemu(qemu)
    image = _check_elf(elf)
    cmd = _qemu_command(exe, image, "stdio", icount_shift, extra_args)
    start = time.monotonic()
    process = popen_tied(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    timed_out = False
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        process.kill()
        out, err = process.communicate(timeout=10)
    wall = time.monotonic() - start
    return BareMetalResult(
        status=None if timed_out else process.returncode,
        output=out.decode("utf-8", "replace"),
        console=err.decode("utf-8", "replace"),
        timed_out=timed_out,
        wall_s=wall,
    )


def _make_words(label: str, paths: Iterable[str | os.PathLike[str]]) -> list[str]:
    words = []
    for p in paths:
        text = str(Path(p).resolve())
        if any(ch.isspace() for ch in text) or "$" in text:
            raise InputError(f"{label} path {text!r} contains whitespace or '$', which make cannot pass; "
                             "move the file to a plain path")
        words.append(text)
    return words


def build_bare_metal(sources: Sequence[str | os.PathLike[str]], out_dir: str | os.PathLike[str], *,
                     includes: Sequence[str | os.PathLike[str]] = (), name: str = "image",
                     opt: str = "-O2", extra_cflags: Sequence[str] = (),
                     timeout: float = 600.0) -> Path:
    """Compile C sources plus the QEMU port into a bare-metal test image; return the ELF path.

    The image links the sources with the qemu-mps2-an500 port (``port.h``:
    ``port_init()``, ``port_ticks()`` ...), the Cortex-M startup and a runtime
    where ``printf`` writes to UART0 and ``main()``'s return value becomes the
    exit status. ``#include "bm_runtime.h"`` for ``bm_instructions()``.
    Rebuilds are incremental. This drives
    ``make -f firmware/ports/qemu-mps2-an500/baremetal.mk``, which can also be
    run by hand (see firmware/ports/qemu-mps2-an500/README.md).

    Args:
        sources: C files, one of them defining ``main()``.
        out_dir: build directory; the image is ``out_dir/<name>.elf``.
        includes: extra include directories (``firmware/ports`` is always included).
        name: image file name without ``.elf``.
        opt: optimisation flag.
        extra_cflags: more compiler flags, e.g. ``["-DN=64"]``.
        timeout: seconds allowed for the build.

    Raises:
        ValueError: no sources, a missing source, or a path make cannot handle.
        QemuNotFoundError: arm-none-eabi-gcc is not installed.
        BareMetalBuildError: the compiler or the linker failed (its output is in the message).
    """
    if not sources:
        raise InputError("build_bare_metal needs at least one C source (one of them defining main())")
    missing = [str(s) for s in sources if not Path(s).is_file()]
    if missing:
        raise InputError(f"C sources not found: {', '.join(missing)}")
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise InputError(f"image name {name!r} must be a plain file name (letters, digits, _ . -)")
    if shutil.which("arm-none-eabi-gcc") is None:
        raise QemuNotFoundError(_TOOLCHAIN_HINT)
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    (outdir_word,) = _make_words("output", [out])
    cmd = [
        # one compiler per core: an image is ~20 independent objects, and tests build many images
        "make", "--no-print-directory", f"-j{os.cpu_count() or 1}", "-f", str(BAREMETAL_MAKEFILE), f"O={outdir_word}",
        f"SRCS={' '.join(_make_words('source', sources))}",
        f"INCLUDES={' '.join(_make_words('include', includes))}",
        f"NAME={name}", f"OPT={opt}", f"EXTRA_CFLAGS={' '.join(extra_cflags)}",
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise BareMetalBuildError(
            f"building bare-metal image {name} failed:\n{(result.stdout + result.stderr)[-6000:]}"
        )
    return out / f"{name}.elf"
