"""Live sensor line streams: a serial port (microcontroller printing samples) and UDP (phone sensor apps).

One sample per line. Numbers may be separated by commas, tabs, semicolons or
spaces (`0.01,-0.98,0.02,1.5,-0.3,0.0`), or be `name:value` pairs as serial
plotters send (`ax:0.01 ay:-0.98 az:0.02 gx:1.5 gy:-0.3 gz:0.0`).

Channels: by default the six IMU channels: named channels are matched to ax..gz
by name (ax, acc_x, accelX, gyro_z, ...) and plain numbers are taken in order
after `skip` leading columns (e.g. skip=1 for a leading timestamp). With
`channels` set to a count or to names, any 1..64 channels are read; their names
come from the `channels` given, from the names of `name:value` pairs, or from a
header line (`t,emg1,emg2,emg3`) received before the first sample. Lines that
hold no sample (comments, boot chatter) are counted in `bad_lines` and skipped.

The sample rate is either given (`rate_hz`) or measured from arrival times
over the last few seconds.
"""

from __future__ import annotations

import collections
import errno
import re
import socket
import time

import numpy as np

from edgeloop import InputError
from edgeloop.app.live.sources.base import IMU_CHANNELS, Capture, Source, SourceError, _End
from edgeloop.app.link.transport import DEFAULT_BAUD, LinkError, open_serial

_SEPARATORS = re.compile(r"[,;\s]+")
_PAIR = re.compile(r"([A-Za-z_][A-Za-z0-9_.]*)\s*[:=]\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)")
_AXIS_WORDS = {"a": "a", "acc": "a", "accel": "a", "accelerometer": "a", "g": "g", "gyr": "g",
               "gyro": "g", "gyroscope": "g"}


def _canonical(name: str) -> str | None:
    """Map a channel name such as `acc_x`, `AccelX`, `gyro.z`, `gx` to ax..gz, or None."""
    key = re.sub(r"[^a-z]", "", name.lower())
    if len(key) < 2 or key[-1] not in "xyz":
        return None
    prefix = _AXIS_WORDS.get(key[:-1])
    return f"{prefix}{key[-1]}" if prefix else None


class LineParser:
    """Turns text lines into samples of a fixed channel list (see the module doc for the rules).

    `channels` None: the six IMU channels, unless the stream names others (pairs or a header line);
    an int N: N channels named ch0..ch{N-1} until the stream names them; names: exactly those channels.
    """

    def __init__(self, skip: int = 0, channels: int | tuple[str, ...] | list[str] | None = None) -> None:
        from edgeloop.models.data.recording import MAX_CHANNELS

        self.skip = skip
        self.fixed_names = isinstance(channels, (tuple, list))
        self.imu_default = channels is None
        if isinstance(channels, int) and not 1 <= channels <= MAX_CHANNELS:
            raise InputError(f"channels must be 1..{MAX_CHANNELS}, got {channels}")
        self.names: tuple[str, ...] = (tuple(channels) if self.fixed_names else  # type: ignore[arg-type]
                                       IMU_CHANNELS if channels is None else tuple(f"ch{i}" for i in range(channels)))
        self._named = self.fixed_names  # the stream may still name the channels
        self._seen_sample = False

    def _name_from_stream(self, names: list[str]) -> None:
        if not self._named and not self._seen_sample and names:
            self.names, self._named, self.imu_default = tuple(names), True, False

    def parse(self, line: str) -> np.ndarray | None:
        """One sample as float32 (len(names),), or None for a line without one (a header line sets names).

        In the IMU default, pairs named like ax..gz, or six or more values, are the IMU channels (extra
        values ignored); a stream that names fewer channels switches to those names. Give `channels` to
        read more than six.
        """
        line = line.strip()
        if not line or line[0] in "#/;":
            return None
        if ":" in line or "=" in line:
            pairs = _PAIR.findall(line)
            if not pairs:
                return None
            if self.imu_default:
                named = {_canonical(name): float(value) for name, value in pairs}
                if all(ch in named for ch in IMU_CHANNELS):
                    self._seen_sample = True
                    return np.array([named[ch] for ch in IMU_CHANNELS], dtype=np.float32)
            names = [name for name, _ in pairs][self.skip:]
            values = [float(value) for _, value in pairs][self.skip:]
            if not self.imu_default or len(names) < len(IMU_CHANNELS):
                self._name_from_stream(names)
            if self._named:
                by_name = dict(zip(names, values))
                if not all(n in by_name for n in self.names):
                    return None
                values = [by_name[n] for n in self.names]
        else:
            tokens = [tok for tok in _SEPARATORS.split(line) if tok]
            try:
                values = [float(tok) for tok in tokens][self.skip:]
            except ValueError:
                names = tokens[self.skip:]
                if all(re.match(r"^[A-Za-z_][A-Za-z0-9_.\-]*$", t) for t in names) and \
                        (not self.imu_default or (len(names) < len(IMU_CHANNELS) and re.search(r"[,;\t]", line))):
                    self._name_from_stream(names)
                return None  # a header row or other text
        if len(values) < len(self.names):
            return None
        self._seen_sample = True
        return np.array(values[: len(self.names)], dtype=np.float32)


def parse_imu_line(line: str, skip: int = 0) -> np.ndarray | None:
    """Parse one text line into 6 floats (ax, ay, az, gx, gy, gz), or None if it holds no sample."""
    return LineParser(skip).parse(line)


class RateMeter:
    """Sample rate measured from arrival times over a sliding window of `span` seconds."""

    def __init__(self, span: float = 5.0) -> None:
        self.span = span
        self._marks: collections.deque[tuple[float, int]] = collections.deque()
        self._total = 0

    def add(self, count: int, now: float) -> None:
        """Record that `count` samples arrived at `now`."""
        self._total += count
        self._marks.append((now, self._total))
        while len(self._marks) > 2 and now - self._marks[1][0] > self.span:
            self._marks.popleft()

    @property
    def rate_hz(self) -> float:
        """Measured rate, 0.0 until at least half a second of data has been seen."""
        if len(self._marks) < 2:
            return 0.0
        (t0, n0), (t1, n1) = self._marks[0], self._marks[-1]
        return (n1 - n0) / (t1 - t0) if t1 - t0 >= 0.5 else 0.0


class _LineImuSource(Source):
    """Shared logic of line-based IMU sources: byte buffering, parsing, scaling and rate."""

    kind = "imu"
    live = True
    MAX_LINE = 4096

    def __init__(self, *, rate_hz: float = 0.0, skip: int = 0, accel_scale: float = 1.0,
                 gyro_scale: float = 1.0, name: str = "", channels: int | tuple[str, ...] | None = None) -> None:
        super().__init__(name=name)
        if rate_hz < 0 or skip < 0:
            raise InputError("rate_hz and skip must be >= 0")
        self.rate_given = float(rate_hz)
        self.skip = skip
        self.parser = LineParser(skip, channels)
        self._scale = np.array([accel_scale] * 3 + [gyro_scale] * 3, dtype=np.float32)
        self._buffer = b""
        self._meter = RateMeter()
        self.bad_lines = 0
        self.samples_read = 0

    @property
    def rate_hz(self) -> float:
        """The configured rate, else the measured one (0.0 while still unknown)."""
        return self.rate_given or self._meter.rate_hz

    def _read_bytes(self, timeout: float | None) -> bytes:
        raise NotImplementedError

    def _read_internal(self, timeout: float | None) -> Capture | None | _End:
        data = self._read_bytes(timeout)
        if not data:
            return None
        now = time.monotonic()
        self._buffer += data
        *lines, self._buffer = re.split(rb"\r\n|\r|\n", self._buffer)
        if len(self._buffer) > self.MAX_LINE:  # binary noise without newlines: drop it
            self._buffer = b""
            self.bad_lines += 1
        rows = []
        for raw in lines:
            names = self.parser.names
            sample = self.parser.parse(raw.decode("utf-8", "replace"))
            if sample is None:
                self.bad_lines += bool(raw.strip()) and self.parser.names == names  # a header line is no error
            else:
                rows.append(sample)
        if not rows:
            return None
        self._meter.add(len(rows), now)
        self.samples_read += len(rows)
        rate = self.rate_hz
        first = now - (len(rows) - 1) / rate if rate else now
        data = np.stack(rows)
        if self.parser.names == IMU_CHANNELS:  # accel/gyro unit scales apply to the IMU channels only
            data = data * self._scale
        return self._imu(data, rate, timestamp=first, channels=self.parser.names)

    @property
    def channels(self) -> tuple[str, ...]:
        """The channel names read so far (from the options, `name:value` pairs or a header line)."""
        return self.parser.names


class SerialImuSource(_LineImuSource):
    """IMU samples printed one per line on a serial port (or any pyserial URL)."""

    def __init__(self, url: str, *, baudrate: int = 115200, rate_hz: float = 0.0, skip: int = 0,
                 accel_scale: float = 1.0, gyro_scale: float = 1.0,
                 channels: int | tuple[str, ...] | None = None) -> None:
        super().__init__(rate_hz=rate_hz, skip=skip, accel_scale=accel_scale, gyro_scale=gyro_scale,
                         name=f"imu serial {url}", channels=channels)
        self.url = url
        try:
            self._port = open_serial(url, baudrate=baudrate or DEFAULT_BAUD, timeout=0.05)
        except LinkError as exc:
            raise SourceError(f"IMU source: {exc}") from exc

    def _read_bytes(self, timeout: float | None) -> bytes:
        try:
            self._port.timeout = 0.05 if timeout is None else timeout
            return self._port.read(max(1, self._port.in_waiting))
        except (OSError, TypeError, AttributeError) as exc:  # SerialException is an OSError; the others on unplug
            raise SourceError(f"IMU serial port {self.url} failed: {exc}") from exc

    def _close_internal(self) -> None:
        self._port.close()


class UdpImuSource(_LineImuSource):
    """IMU lines received as UDP datagrams (one or more lines each), as phone sensor apps send."""

    def __init__(self, host: str = "0.0.0.0", port: int = 5555, *, rate_hz: float = 0.0, skip: int = 0,
                 accel_scale: float = 1.0, gyro_scale: float = 1.0,
                 channels: int | tuple[str, ...] | None = None) -> None:
        super().__init__(rate_hz=rate_hz, skip=skip, accel_scale=accel_scale, gyro_scale=gyro_scale,
                         name=f"imu udp {host}:{port}", channels=channels)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self._sock.bind((host, port))
        except OSError as exc:
            self._sock.close()
            if exc.errno == errno.EADDRINUSE:
                raise SourceError(f"UDP port {port} is already in use by another program; "
                                  f"pick another port (udp:{host}:PORT)") from exc
            if exc.errno in (errno.EACCES, errno.EPERM):
                raise SourceError(f"not allowed to listen on UDP port {port}: use a port above 1023") from exc
            raise SourceError(f"cannot listen on UDP {host}:{port}: {exc}") from exc
        self.address = self._sock.getsockname()

    def _read_bytes(self, timeout: float | None) -> bytes:
        self._sock.settimeout(0.05 if timeout is None else max(timeout, 1e-3))
        try:
            data, _ = self._sock.recvfrom(65536)
        except TimeoutError:
            return b""
        # A datagram is a complete message even when the sender omits the final newline.
        return data if data.endswith(b"\n") else data + b"\n"

    def _close_internal(self) -> None:
        self._sock.close()
