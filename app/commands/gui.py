"""`edgeloop gui`: the live Qt view of a board fed by a source."""

from __future__ import annotations

import argparse
from pathlib import Path

from edgeloop import EdgeloopError, InputError, require
from edgeloop.app.commands._live import add_stream_options, resolve_port
from edgeloop.app.gui.display import NO_DISPLAY_HINT, has_display
from edgeloop.app.live.sources import open_source


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `gui` subcommand."""
    p = subparsers.add_parser(
        "gui", help="live GUI: video or IMU traces, class, confidence and on-device timing",
        description="Open the live view on a board: the source with class and confidence overlaid, class "
                    "probabilities, on-device inference time (labelled measured / emulated / host clock), "
                    "latency, fps and link throughput, the board's models. Keys: Space pauses, F11 full "
                    "screen, Ctrl+S screenshot, Ctrl+R record panel, Ctrl+E sessions panel, 1-9 pick the "
                    "recording label.")
    p.add_argument("--port", metavar="URL", help="serial port or pyserial URL (default: the first ST-LINK board)")
    p.add_argument("--baud", type=int, help="baud rate of a real serial port (default 921600)")
    add_gui_options(p)
    add_stream_options(p, source_default="synthetic:bottles")
    p.set_defaults(func=run)


def add_gui_options(p: argparse.ArgumentParser) -> None:
    """Options of the window itself (shared with `demo`)."""
    p.add_argument("--fullscreen", action="store_true", help="start full screen (F11 toggles)")
    p.add_argument("--history", type=int, default=300, metavar="N", help="points kept in the plots (default 300)")
    p.add_argument("--screenshot", type=Path, metavar="PNG",
                   help="save a screenshot of the window when it closes after --seconds")
    p.add_argument("--sessions", type=Path, default=Path("sessions"), metavar="DIR",
                   help="folder where the Record panel writes sessions and the Sessions panel looks (default ./sessions)")


def launch(url: str, source_spec: str, args: argparse.Namespace, *, baudrate: int | None = None) -> int:
    """Run the GUI on `url` fed by `source_spec` until the window closes (or --seconds)."""
    from edgeloop.app.gui.controller import QtLinkController
    from edgeloop.app.gui.main_window import run_gui

    if args.frames is not None:
        raise InputError("--frames bounds the headless runs; for the GUI use --seconds")
    open_source(source_spec).close()  # a bad spec fails here, with its message, before a window opens
    controller = QtLinkController(url, lambda: open_source(source_spec), model=args.model, baudrate=baudrate)
    if args.roi is not None:
        controller.set_roi(args.roi)
    return run_gui(controller, fullscreen=args.fullscreen, history=args.history, seconds=args.seconds,
                   screenshot_path=args.screenshot, roi=args.roi, sessions_dir=args.sessions)


def require_gui() -> None:
    """Fail with the pip line of the [gui] extra when Qt or pyqtgraph is not installed."""
    require("PySide6.QtWidgets", needed_for="the live GUI")
    require("pyqtgraph", needed_for="the live GUI")


def run(args: argparse.Namespace) -> int:
    """Open the window."""
    require_gui()
    if not has_display():
        raise EdgeloopError(f"cannot open the GUI: {NO_DISPLAY_HINT}; or use `edgeloop run` for a headless run")
    return launch(resolve_port(args.port), args.source, args, baudrate=args.baud)
