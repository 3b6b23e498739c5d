"""Frame layer of protocol v1 (SPEC.md §2-3): COBS byte stuffing, CRC-32 and the 6-byte header.

A wire frame is ``COBS(header || payload || crc32_le) || 0x00``. These
functions work on one frame at a time; the incremental stream decoder lives
in :mod:`edgeloop.protocol.codec`.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from edgeloop import EdgeloopError

PROTOCOL_VERSION = 1
HEADER = struct.Struct("<BBBBH")  # version, type, flags, reserved, seq
HEADER_SIZE = HEADER.size  # 6
CRC_SIZE = 4
MIN_FRAME = HEADER_SIZE + CRC_SIZE  # smallest valid decoded frame
MAX_PAYLOAD_LIMIT = 65535  # protocol-wide ceiling on a payload (SPEC §4)
BOOTSTRAP_MAX_PAYLOAD = 256  # what a host may send before it has read INFO
DELIMITER = b"\x00"
_BLOCK = 254  # data bytes carried by one full COBS block (code 0xFF)


class ProtocolError(EdgeloopError, ValueError):
    """Bad protocol input or a request the protocol cannot express."""


class CobsError(ProtocolError):
    """The bytes between two delimiters are not valid COBS."""


class CrcError(ProtocolError):
    """A frame's CRC-32 does not match its bytes."""


class PayloadTooLarge(ProtocolError):
    """A payload exceeds the peer's advertised ``max_payload`` (or the protocol limit)."""


def cobs_encode(data: bytes) -> bytes:
    """COBS-encode ``data``; the result contains no 0x00 byte.

    Matches the usual COBS definition exactly, including the rule that no
    code byte follows a final full 254-byte block.
    """
    out = bytearray()
    chunks = bytes(data).split(b"\x00")
    last = len(chunks) - 1
    for index, chunk in enumerate(chunks):
        view = memoryview(chunk)
        pos, size = 0, len(chunk)
        while size - pos >= _BLOCK:
            out.append(0xFF)
            out += view[pos : pos + _BLOCK]
            pos += _BLOCK
        rest = size - pos
        if index == last and rest == 0 and size > 0:
            break  # input ended exactly on a full block: nothing more to mark
        out.append(rest + 1)
        out += view[pos:]
    return bytes(out)


def cobs_decode(encoded: bytes) -> bytes:
    """Decode one COBS block sequence (without its 0x00 delimiter).

    Raises :class:`CobsError` for a zero byte or a block that runs past the end.
    """
    out = bytearray()
    pos, size = 0, len(encoded)
    while pos < size:
        code = encoded[pos]
        if code == 0:
            raise CobsError(f"zero byte at offset {pos} inside a COBS frame")
        end = pos + code
        if end > size:
            raise CobsError(f"COBS block at offset {pos} needs {code - 1} bytes, only {size - pos - 1} left")
        block = encoded[pos + 1 : end]
        if 0 in block:
            raise CobsError(f"zero byte inside the COBS block at offset {pos}")
        out += block
        pos = end
        if code != 0xFF and pos < size:
            out.append(0)
    return bytes(out)


def max_wire_size(max_payload: int) -> int:
    """Largest encoded frame, delimiter excluded, for payloads up to ``max_payload`` bytes."""
    decoded = MIN_FRAME + max_payload
    return decoded + (decoded + _BLOCK - 1) // _BLOCK


@dataclass(frozen=True, slots=True)
class RawFrame:
    """A CRC-verified frame: header fields plus the raw payload bytes."""

    version: int
    type: int
    flags: int
    seq: int
    payload: bytes


def encode_frame(msg_type: int, seq: int, payload: bytes, *, version: int = PROTOCOL_VERSION,
                 max_payload: int = MAX_PAYLOAD_LIMIT) -> bytes:
    """Build the wire bytes of one frame, 0x00 delimiter included.

    Raises :class:`PayloadTooLarge` if ``payload`` exceeds ``max_payload`` and
    ``ValueError`` for header fields out of range.
    """
    if len(payload) > min(max_payload, MAX_PAYLOAD_LIMIT):
        raise PayloadTooLarge(
            f"payload of {len(payload)} bytes exceeds the limit of {min(max_payload, MAX_PAYLOAD_LIMIT)} bytes "
            "(the board's max_payload from INFO); send a smaller input or pick a model with a smaller input tensor"
        )
    if not 0 <= seq <= 0xFFFF:
        raise ValueError(f"sequence number {seq} is outside 0..65535")
    if not 0 <= msg_type <= 0xFF or not 0 <= version <= 0xFF:
        raise ValueError(f"message type {msg_type} or version {version} does not fit in a byte")
    body = HEADER.pack(version, msg_type, 0, 0, seq) + payload
    body += struct.pack("<I", zlib.crc32(body))
    return cobs_encode(body) + DELIMITER


def parse_frame(decoded: bytes) -> RawFrame:
    """Check length and CRC of a COBS-decoded frame and split it into header and payload.

    Raises :class:`ProtocolError` naming what is wrong.
    """
    if len(decoded) < MIN_FRAME:
        raise ProtocolError(f"frame of {len(decoded)} bytes is shorter than header + CRC ({MIN_FRAME} bytes)")
    body, crc = decoded[:-CRC_SIZE], struct.unpack_from("<I", decoded, len(decoded) - CRC_SIZE)[0]
    if zlib.crc32(body) != crc:
        raise CrcError(f"CRC mismatch: frame says {crc:#010x}, bytes give {zlib.crc32(body):#010x}")
    version, msg_type, flags, _reserved, seq = HEADER.unpack_from(body)
    return RawFrame(version, msg_type, flags, seq, bytes(body[HEADER_SIZE:]))
