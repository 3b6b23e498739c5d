"""`edgeloop board`: build and start a virtual board, print its URL, serve until Ctrl-C (or SIGTERM)."""

from __future__ import annotations

import argparse
import time

from edgeloop.app.commands._slots import add_slot_options, slot_flags


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `board` subcommand."""
    p = subparsers.add_parser(
        "board", help="start a virtual board (host process or QEMU) and print its link URL",
        description="Build the firmware if needed, start a virtual board and print the pyserial URL to "
                    "connect to (e.g. `edgeloop run --port URL`). The host board runs the firmware core as a "
                    "Linux process (timings: host clock); the qemu board runs the ARM image on "
                    "qemu-system-arm mps2-an500 (timings: emulated instruction counts). Ctrl-C stops it.",
    )
    p.add_argument("--target", choices=("host", "qemu"), default="host", help="which virtual board (default host)")
    p.add_argument("--models", nargs="+", metavar="MODEL",
                   help="models to link in, in index order: compiled NAME.c files, their folders, or names "
                        "(default: every zoo model: bottles, IMU activity, fall, sine)")
    p.add_argument("--baud", type=int, default=0,
                   help="host board: pace the link to BAUD/10 bytes/s like a UART (default 0: unpaced)")
    p.add_argument("--infer-us", type=int, default=0, metavar="US",
                   help="host board: stretch every inference to US µs to emulate an MCU's compute time")
    p.add_argument("--pty", action="store_true", help="host board: also serve a pseudo-terminal")
    p.add_argument("--tcp", type=int, default=0, metavar="PORT", help="host board: TCP port (default: a free one)")
    add_slot_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Start the board and block until Ctrl-C, SIGTERM (both interrupt: see edgeloop.app.cli), or the board exits."""
    from edgeloop.app.link.boards import start_board

    board = start_board(args.target, models=args.models, baud=args.baud, pty=args.pty, tcp_port=args.tcp,
                        infer_us=args.infer_us,
                        extra_cflags=slot_flags(args))
    try:
        source = "host clock" if args.target == "host" else "emulated (QEMU instruction count)"
        print(f"board {args.target} ready: {board.url}" + (f"  pty: {board.pty}" if board.pty else ""))
        print(f"timings from this board are {source}, not measured MCU cycles; Ctrl-C to stop", flush=True)
        while board.running:
            time.sleep(0.2)
        print(f"edgeloop: the board exited: {board.stderr().strip() or 'no error output'}")
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        board.stop()
