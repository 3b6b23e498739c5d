"""`edgeloop ports`: list serial ports, an ST-LINK (Nucleo) first."""

from __future__ import annotations

import argparse

from edgeloop.app.link.ports import list_serial_ports


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `ports` subcommand."""
    p = subparsers.add_parser("ports", help="list serial ports (ST-LINK boards first)",
                              description="List the serial ports of this machine. A Nucleo board's ST-LINK "
                                          "virtual COM port (USB vendor 0483) comes first; use its device with "
                                          "`edgeloop run --port` or `edgeloop gui --port`.")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print one line per port."""
    ports = list_serial_ports()
    if not ports:
        print("no serial ports found (plug the board in; on Linux check `dmesg` for ttyACM/ttyUSB devices)")
        return 0
    for port in ports:
        print(port.label())
    return 0
