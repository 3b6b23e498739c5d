"""Stream codec of protocol v1: ``encode_message`` and the incremental :class:`Decoder`.

The decoder takes bytes in any chunking (a serial read, a socket recv, a
single byte) and returns events: a :class:`Frame` for every good frame and a
:class:`DecodeError` for every rejected one. It never raises on bad bytes and
resynchronises at the next 0x00, so one corrupted frame costs exactly that
frame.

Example::

    dec = Decoder(max_payload=info.max_payload)
    for event in dec.feed(port.read(port.in_waiting or 1)):
        if isinstance(event, Frame):
            handle(event.seq, event.message)
        else:
            log.warning("dropped frame: %s", event)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edgeloop.protocol.framing import (
    HEADER,
    HEADER_SIZE,
    MAX_PAYLOAD_LIMIT,
    PROTOCOL_VERSION,
    CobsError,
    CrcError,
    ProtocolError,
    cobs_decode,
    encode_frame,
    max_wire_size,
    parse_frame,
)
from edgeloop.protocol.messages import Message, decode_message

ERROR_KINDS = ("crc", "framing", "overflow", "payload", "version")
_HEAD_KEEP = 2 * HEADER_SIZE + 1  # encoded bytes that always cover the 6 decoded header bytes


def _decode_head(encoded: bytes) -> bytes:
    """Best-effort COBS decode of a frame's first bytes, tolerating a cut last block."""
    out = bytearray()
    pos = 0
    while pos < len(encoded) and len(out) < HEADER_SIZE:
        code = encoded[pos]
        if code == 0:
            break
        out += encoded[pos + 1 : pos + code]
        pos += code
        if code != 0xFF:
            out.append(0)
    return bytes(out)


@dataclass(frozen=True, slots=True)
class Frame:
    """A verified, decoded frame."""

    seq: int
    message: Message
    wire_size: int  # bytes on the wire, delimiter included


@dataclass(frozen=True, slots=True)
class DecodeError:
    """A frame the decoder rejected.

    ``kind`` is one of ``crc`` (bad checksum), ``framing`` (bad COBS or too
    short), ``overflow`` (longer than the limit), ``payload`` (good frame,
    malformed or unknown message) or ``version`` (another protocol major).
    ``seq`` is known for ``payload`` and ``version`` errors, and is a best
    effort guess for ``overflow``.
    """

    kind: str
    detail: str
    seq: int | None = None
    msg_type: int | None = None

    def __str__(self) -> str:
        where = f" (seq {self.seq})" if self.seq is not None else ""
        return f"{self.kind} error{where}: {self.detail}"


def encode_message(message: Message, seq: int, *, max_payload: int = MAX_PAYLOAD_LIMIT) -> bytes:
    """Wire bytes (0x00 delimiter included) of ``message`` with sequence number ``seq``.

    Raises :class:`~edgeloop.protocol.framing.PayloadTooLarge` when the payload
    exceeds ``max_payload``.
    """
    return encode_frame(message.TYPE, seq, message.encode_payload(), max_payload=max_payload)


@dataclass
class DecoderStats:
    """Counters of a :class:`Decoder`, named like the device's STATS counters."""

    frames_ok: int = 0
    crc_errors: int = 0
    framing_errors: int = 0
    overflows: int = 0
    payload_errors: int = 0
    version_errors: int = 0
    rx_bytes: int = 0

    def as_dict(self) -> dict[str, int]:
        """Counters by name."""
        return dict(self.__dict__)


@dataclass
class Decoder:
    """Incremental frame decoder: ``feed(bytes)`` returns a list of Frame / DecodeError events."""

    max_payload: int = MAX_PAYLOAD_LIMIT
    stats: DecoderStats = field(default_factory=DecoderStats)
    _pending: bytearray = field(default_factory=bytearray, repr=False)
    _overflowing: bool = field(default=False, repr=False)

    @property
    def max_wire(self) -> int:
        """Longest encoded frame accepted, delimiter excluded."""
        return max_wire_size(self.max_payload)

    def feed(self, data: bytes) -> list[Frame | DecodeError]:
        """Consume ``data`` and return the events of every frame it completed."""
        events: list[Frame | DecodeError] = []
        self.stats.rx_bytes += len(data)
        start, size = 0, len(data)
        while start < size:
            end = data.find(0, start)
            if end < 0:
                self._hold(data[start:])
                break
            if self._pending or self._overflowing:
                self._hold(data[start:end])
                chunk, overflowed = bytes(self._pending), self._overflowing
                self._pending.clear()
                self._overflowing = False
            else:
                chunk, overflowed = data[start:end], end - start > self.max_wire
            if overflowed:
                events.append(self._overflow_event(chunk))
            elif chunk:
                events.append(self._decode(chunk, len(chunk) + 1))
            start = end + 1
        return events

    def reset(self) -> None:
        """Forget any partial frame (e.g. after reopening the port)."""
        self._pending.clear()
        self._overflowing = False

    def _hold(self, chunk: bytes) -> None:
        if self._overflowing:
            return
        self._pending += chunk
        if len(self._pending) > self.max_wire:
            # Keep just enough to guess the header's seq; drop the rest until the delimiter.
            del self._pending[_HEAD_KEEP:]
            self._overflowing = True

    def _overflow_event(self, head: bytes) -> DecodeError:
        self.stats.overflows += 1
        seq = msg_type = None
        decoded = _decode_head(head[:_HEAD_KEEP])
        if len(decoded) >= HEADER_SIZE:
            _version, msg_type, _flags, _reserved, seq = HEADER.unpack_from(decoded)
        return DecodeError("overflow", f"frame longer than {self.max_wire} wire bytes "
                           f"(max_payload {self.max_payload}); dropped", seq, msg_type)

    def _decode(self, chunk: bytes, wire_size: int) -> Frame | DecodeError:
        try:
            decoded = cobs_decode(chunk)
        except CobsError as exc:
            self.stats.framing_errors += 1
            return DecodeError("framing", str(exc))
        try:
            raw = parse_frame(decoded)
        except CrcError as exc:
            self.stats.crc_errors += 1
            return DecodeError("crc", str(exc))
        except ProtocolError as exc:
            self.stats.framing_errors += 1
            return DecodeError("framing", str(exc))
        if raw.version != PROTOCOL_VERSION:
            self.stats.version_errors += 1
            return DecodeError("version", f"frame speaks protocol version {raw.version}; "
                               f"this host speaks {PROTOCOL_VERSION}", raw.seq, raw.type)
        try:
            message = decode_message(raw.type, raw.payload)
        except ProtocolError as exc:
            self.stats.payload_errors += 1
            return DecodeError("payload", str(exc), raw.seq, raw.type)
        self.stats.frames_ok += 1
        return Frame(raw.seq, message, wire_size)
