"""Serial port discovery, with the ST-LINK virtual COM port of a Nucleo board ranked first."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from serial.tools import list_ports

ST_VID = 0x0483
"""USB vendor id of STMicroelectronics (ST-LINK/V2-1 and V3 virtual COM ports)."""


@dataclass(frozen=True)
class PortInfo:
    """One serial port as discovery sees it."""

    device: str
    description: str
    vid: int | None
    pid: int | None
    serial_number: str | None
    manufacturer: str | None

    @property
    def is_stlink(self) -> bool:
        """True for an ST-LINK virtual COM port (what a Nucleo board shows)."""
        return self.vid == ST_VID

    @property
    def is_usb(self) -> bool:
        """True for any USB serial device (as opposed to a built-in UART)."""
        return self.vid is not None

    def label(self) -> str:
        """One human line: device, description, and the USB ids when known."""
        ids = f" [{self.vid:04x}:{self.pid or 0:04x}]" if self.vid is not None else ""
        tag = "  <- ST-LINK (Nucleo)" if self.is_stlink else ""
        return f"{self.device}  {self.description}{ids}{tag}"


def rank_ports(ports: Iterable[PortInfo]) -> list[PortInfo]:
    """Order ports: ST-LINK first, then other USB serial devices, then the rest; by device name within."""
    return sorted(ports, key=lambda p: (not p.is_stlink, not p.is_usb, p.device))


def list_serial_ports() -> list[PortInfo]:
    """All serial ports of this machine, ranked by `rank_ports`."""
    found = [
        PortInfo(device=p.device, description=p.description or "", vid=p.vid, pid=p.pid,
                 serial_number=p.serial_number, manufacturer=p.manufacturer)
        for p in list_ports.comports()
    ]
    return rank_ports(found)


def default_board_port() -> str | None:
    """The device of the first ST-LINK port, or None when no Nucleo board is plugged in."""
    for port in list_serial_ports():
        if port.is_stlink:
            return port.device
    return None
