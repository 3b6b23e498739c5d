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
import importlib
import pkgutil
import sys
from collections.abc import Sequence

import edgeloop
from edgeloop.app import commands
from edgeloop.app.live.stop_signals import interrupt_on_stop_signals

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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USER_ERROR
    try:
        with interrupt_on_stop_signals():
            return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("edgeloop: interrupted", file=sys.stderr)
        return 130
    except (ValueError, OSError, RuntimeError) as exc:
        if args.debug:
            raise
        print(f"edgeloop: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
