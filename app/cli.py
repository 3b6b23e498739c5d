"""The `edgeloop` command line: discovers subcommands in edgeloop.app.commands.

Errors whose message is written for the user (edgeloop.EdgeloopError and its
subclasses, which every layer raises for bad input, a busy port, a full disk...)
are printed as one `edgeloop: error: ...` line with exit code 2; `--debug` shows
the traceback instead. Any other exception is a defect in edgeloop: it keeps its
traceback, followed by a line asking for a bug report (exit code 1), so that a
KeyError never masquerades as a user error.

Ctrl-C and SIGTERM (`kill`, a service manager, the end of a script) both
interrupt a command the same way, so that it unwinds: virtual boards are
stopped, logs and recordings closed, nothing the user recorded is lost.

Commands that load TensorFlow (`set_defaults(filter_native_logs=True)`) run with
its routine native log lines filtered out (edgeloop.app.native_logs); `--debug`
shows them.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import traceback
from collections.abc import Sequence

import edgeloop
from edgeloop import EdgeloopError
from edgeloop.app import commands
from edgeloop.app.live.stop_signals import interrupt_on_stop_signals
from edgeloop.app.native_logs import filtered_native_stderr

EXIT_USER_ERROR = 2
EXIT_DEFECT = 1
BUG_REPORT_LINE = ("edgeloop: this is a bug in edgeloop, not in what you did; please report it with the "
                   "traceback above and the command you ran")


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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USER_ERROR
    # commands that load TensorFlow set filter_native_logs: its routine C++ log lines stay out of the terminal
    quiet = getattr(args, "filter_native_logs", False) and not args.debug
    try:
        with interrupt_on_stop_signals(), filtered_native_stderr(quiet):
            return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("edgeloop: interrupted", file=sys.stderr)
        return 130
    except EdgeloopError as exc:
        if args.debug:
            raise
        print(f"edgeloop: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except Exception:
        traceback.print_exc()
        print(BUG_REPORT_LINE, file=sys.stderr)
        return EXIT_DEFECT
