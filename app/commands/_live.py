"""Options and helpers shared by the live commands (`run`, `gui`, `demo`)."""

from __future__ import annotations

import argparse

from edgeloop import InputError
from edgeloop.app.link.ports import default_board_port
from edgeloop.app.live.preprocess import Roi
from edgeloop.app.link.transport import PortNotFound


def add_stream_options(p: argparse.ArgumentParser, *, source_default: str | None) -> None:
    """--source, --model, --roi, --frames, --seconds."""
    p.add_argument("--source", default=source_default, required=source_default is None, metavar="SPEC",
                   help="what to stream: synthetic:bottles, synthetic:imu, camera:0, video:FILE, images:DIR, "
                        "imu-csv:FILE, imu-serial:PORT, udp:PORT, session:DIR (a recorded session; options after ?, e.g. "
                        "synthetic:bottles?fps=15)" + (f" (default {source_default})" if source_default else ""))
    p.add_argument("--model", metavar="NAME|ID", help="board model to run, by name or id (default: the active one)")
    p.add_argument("--roi", type=_roi, metavar="X,Y,W,H",
                   help="region of interest as fractions of the image, e.g. 0.25,0.1,0.5,0.8")
    p.add_argument("--frames", type=int, metavar="N", help="stop after N results")
    p.add_argument("--seconds", type=float, metavar="S", help="stop after S seconds")


def _roi(text: str) -> Roi:
    """--roi's parser: argparse shows an ArgumentTypeError's own message (a ValueError's it replaces)."""
    try:
        return Roi.parse(text)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def resolve_port(port: str | None) -> str:
    """The port to use: the one given, else the first ST-LINK board found."""
    if port:
        return port
    found = default_board_port()
    if found is None:
        raise PortNotFound("no --port given and no ST-LINK board (USB VID 0483) is plugged in: pass --port "
                           "/dev/ttyACM0 or a URL, or start a virtual board with `edgeloop board --target host`")
    return found
