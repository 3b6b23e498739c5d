"""Byte transport to a board: any pyserial URL, with errors that tell the user what to do.

`open_transport(url)` accepts a device path (/dev/ttyACM0, COM3) or a pyserial
URL (socket://host:port, loop://, rfc2217://host:port, spy://...). It opens
the port exclusively, so a second program on the same port is reported as
"busy" instead of silently stealing bytes.

Example::

    with open_transport("socket://127.0.0.1:5555") as link:
        link.write(b"\\x00")
        data = link.read_some(timeout=0.1)
"""

from __future__ import annotations

import errno
import re
import socket
import threading

import serial

from edgeloop import EdgeloopError

DEFAULT_BAUD = 921600
"""Baud rate used for real ports, and assumed for URL links when none is given (wire-time estimates)."""


class LinkError(EdgeloopError, OSError):
    """The link to a board failed; the message says what to do."""


class PortNotFound(LinkError):
    """The port does not exist (board unplugged, wrong name) or nothing listens at the URL."""


class PortBusy(LinkError):
    """Another program holds the port."""


class PortPermissionDenied(LinkError):
    """The user may not open the port (not in the `dialout` group)."""


class NotAnEdgeloopBoard(LinkError):
    """The port opened, but nothing on it answered HELLO with an edgeloop INFO."""


class LinkLost(LinkError):
    """An open link failed (unplugged board, closed socket)."""


_ERRNO_IN_TEXT = re.compile(r"\[Errno (\d+)\]")


def _errno_of(exc: BaseException) -> int | None:
    code = getattr(exc, "errno", None)
    if isinstance(code, int):
        return code
    match = _ERRNO_IN_TEXT.search(str(exc))
    return int(match.group(1)) if match else None


def explain_open_error(url: str, exc: BaseException) -> LinkError:
    """Turn a pyserial/OS error from opening `url` into a LinkError whose message says what to do."""
    code = _errno_of(exc)
    text = str(exc)
    if code in (errno.EACCES, errno.EPERM):
        return PortPermissionDenied(
            f"permission denied opening {url}: add yourself to the `dialout` group "
            f"(sudo usermod -aG dialout $USER), then log out and in again")
    if code in (errno.EBUSY, errno.EAGAIN, errno.EWOULDBLOCK) or "exclusively lock" in text:
        return PortBusy(f"{url} is busy: another program has it open (a serial monitor, another edgeloop, "
                        f"ModemManager); close that program and try again")
    if code in (errno.ECONNREFUSED,) or "refused" in text.lower():
        return PortNotFound(f"nothing is listening at {url} (connection refused): start the board first, "
                            f"e.g. `edgeloop board --target host`")
    if code in (errno.ENOENT, errno.ENODEV, errno.ENXIO) or "No such file" in text:
        return PortNotFound(f"serial port {url} not found: check the USB cable and the name "
                            f"(`edgeloop ports` lists the ports present)")
    return LinkError(f"cannot open {url}: {text}")


class Transport:
    """An open byte link: thread-safe writes, bounded reads, byte counters and the link's byte rate."""

    def __init__(self, port: serial.SerialBase, url: str, byte_rate: float) -> None:
        self.url = url
        self.port = port
        self.byte_rate = byte_rate
        """Bytes per second the wire can carry (baud / 10 for 8N1), used for timeout estimates."""
        self.bytes_in = 0
        self.bytes_out = 0
        self._write_lock = threading.Lock()
        self._closed = False

    def write(self, data: bytes) -> None:
        """Send all of `data`; raise LinkLost if the link failed."""
        try:
            with self._write_lock:
                self.port.write(data)
                self.bytes_out += len(data)
        except (serial.SerialException, OSError, AttributeError, TypeError) as exc:
            # pyserial raises AttributeError/TypeError on a port closed under it by another thread.
            raise LinkLost(f"link to {self.url} lost while sending: {exc}") from exc

    def read_some(self, timeout: float = 0.05) -> bytes:
        """Return the bytes available now, waiting up to `timeout` for the first; b"" when none."""
        try:
            if self.port.timeout != timeout:
                self.port.timeout = timeout
            waiting = self.port.in_waiting
            data = self.port.read(max(1, waiting))
        except (serial.SerialException, OSError, AttributeError, TypeError) as exc:
            raise LinkLost(f"link to {self.url} lost while receiving: {exc}") from exc
        self.bytes_in += len(data)
        return data

    def wire_seconds(self, nbytes: int) -> float:
        """Time `nbytes` take on the wire at this link's byte rate."""
        return nbytes / self.byte_rate

    @property
    def closed(self) -> bool:
        """True once close() was called."""
        return self._closed

    def close(self) -> None:
        """Close the port; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        try:
            self.port.close()
        except (serial.SerialException, OSError):
            pass  # the device is already gone: nothing to release

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Transport {self.url} {'closed' if self._closed else 'open'}>"


def open_serial(url: str, *, baudrate: int = DEFAULT_BAUD, timeout: float = 0.05,
                exclusive: bool = True) -> serial.SerialBase:
    """Open a pyserial port or URL exclusively, raising a LinkError subclass that says what to do."""
    if not url:
        raise PortNotFound("no port given: pass a device path (/dev/ttyACM0) or a URL (socket://host:port); "
                           "`edgeloop ports` lists the ports present")
    try:
        port = serial.serial_for_url(url, do_not_open=True, baudrate=baudrate, timeout=timeout,
                                     write_timeout=10.0)
    except (ValueError, serial.SerialException) as exc:
        raise LinkError(f"cannot use {url!r} as a port: {exc} (expected a device path or a pyserial URL "
                        f"such as socket://host:port, loop://, rfc2217://host:port)") from exc
    if exclusive and "://" not in url:
        try:
            port.exclusive = True
        except (AttributeError, ValueError, serial.SerialException):
            pass  # platform without exclusive access (Windows opens ports exclusively anyway)
    try:
        port.open()
    except (serial.SerialException, OSError) as exc:
        raise explain_open_error(url, exc) from exc
    return port


UNPACED_BYTE_RATE = 1_000_000.0
"""Bytes/s assumed for links with no baud rate of their own (TCP, pty, loop), SPEC 1.1 §4."""


def has_no_baud_rate(url: str) -> bool:
    """True for TCP sockets, loopbacks and pseudo-terminals: links whose speed no baud rate sets."""
    return url.startswith(("socket://", "loop://")) or url.startswith("/dev/pts/")


def open_transport(url: str, *, baudrate: int | None = None, timeout: float = 0.05) -> Transport:
    """Open `url` as a Transport; `baudrate` sets a real port's speed and the wire-time estimate for URLs.

    Without `baudrate`, a TCP, loop or pty link is taken as unpaced (SPEC 1.1 §4: 1,000,000 bytes/s for
    timeout estimates); a serial port gets the default UART speed.
    """
    baud = baudrate or DEFAULT_BAUD
    port = open_serial(url, baudrate=baud, timeout=timeout)
    rate = UNPACED_BYTE_RATE if baudrate is None and has_no_baud_rate(url) else baud / 10.0
    _disable_nagle(port)
    return Transport(port, url, byte_rate=rate)


def _disable_nagle(port: serial.SerialBase) -> None:
    """Send TCP segments at once (TCP_NODELAY) on socket:// links.

    With Nagle's algorithm a request written while the previous one is unacknowledged waits for that
    acknowledgement; when the previous request was lost on the line, no reply carries the ACK and the
    next request sits out the receiver's delayed-ACK timer (40 ms on Linux). pyserial's socket handler
    keeps its socket in `_socket` and does not set the option itself.
    """
    sock = getattr(port, "_socket", None)
    if sock is not None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass  # not a TCP socket: nothing to tune

