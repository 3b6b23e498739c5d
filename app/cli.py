"""The `edgeloop` command line: discovers subcommands in edgeloop.app.commands.

Errors that carry a message meant for the user (ValueError, OSError,
RuntimeError and their subclasses, which is what every edgeloop layer raises
for bad input) are printed as one `edgeloop: error: ...` line with exit code
2; `--debug` shows the traceback instead.

Ctrl-C and SIGTERM (`kill`, a service manager, the end of a script) both
interrupt a command the same way, so that it unwinds: virtual boards are
stopped, logs and recordings closed, nothing the user recorded is lost.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import pkgutil
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from types import FrameType

import edgeloop
from edgeloop.app import commands

EXIT_USER_ERROR = 2


def build_parser() -> argparse.ArgumentParser:
    """Return the top-level parser with every discovered subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="edgeloop",
        description="Live TinyML rig: stream sensor data to an STM32 board (or a virtual one) "
        "running an int8 network, and see class, confidence and on-MCU timing.",
    )
    parser.add_argument("--version", action="version", version=f"edgeloop {edgeloop.__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.register(sub)
    return parser


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def stop_signals_interrupt() -> Iterator[None]:
    """While inside, SIGINT and SIGTERM raise KeyboardInterrupt in the main thread; restored on exit.

    SIGINT is set explicitly too: a shell script's background job starts with
    it ignored, and Ctrl-C or `kill -INT` must still stop it. Outside the main
    thread (signals cannot be handled there) this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {number: signal.getsignal(number) for number in STOP_SIGNALS}
    for number in STOP_SIGNALS:
        signal.signal(number, _interrupt)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USER_ERROR
    try:
        with stop_signals_interrupt():
            return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("edgeloop: interrupted", file=sys.stderr)
        return 130
    except (ValueError, OSError, RuntimeError) as exc:
        if args.debug:
            raise
        print(f"edgeloop: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
