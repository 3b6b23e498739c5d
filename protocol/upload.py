"""The model-upload messages (SPEC.md §9.8), and INFO's slot fields.

Pure Python like the rest of the protocol package. The messages are typed
``Message``s that ``encode_message`` sends and the ``Decoder`` decodes (this
module registers them on import). The upload flow a host runs (what
``edgeloop deploy`` does) is::

    UPLOAD_BEGIN(slot, size, chunk_bytes, sha256)  -> UPLOAD_STATUS (which chunks the slot already has)
    UPLOAD_CHUNK(slot, offset, bytes) ...          -> CHUNK_ACK each, credit-windowed, any order, repeatable
    UPLOAD_COMMIT(slot, activate)                  -> UPLOAD_COMMITTED with the new model's descriptor
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar

from edgeloop.protocol.framing import ProtocolError
from edgeloop.protocol.messages import (  # noqa: F401  (SlotInfo, SlotState: re-exported for upload users)
    MESSAGE_CLASSES,
    Capability,
    Message,
    ModelDescriptor,
    SlotInfo,
    SlotState,
    _Reader,
    _read_slots,
)

CAP_UPLOAD = Capability.UPLOAD
"""INFO ``capabilities`` bit 3: the board serves the four upload requests."""

CHUNK_HEADER_BYTES = 6
"""UPLOAD_CHUNK payload bytes before the data: a chunk of max_payload - 6 bytes fills a frame."""


class UploadType(IntEnum):
    """Request types of §9.1; a reply is the request's type | 0x80."""

    UPLOAD_BEGIN = 0x10
    UPLOAD_CHUNK = 0x11
    UPLOAD_COMMIT = 0x12
    SLOT_ERASE = 0x13


class UploadError(IntEnum):
    """ERROR codes of §9.8.6."""

    NO_SPACE = 9
    UPLOAD_STATE = 10
    INTEGRITY = 11
    INVALID_MODEL = 12
    SLOT_BUSY = 13


@dataclass(frozen=True)
class UploadBegin(Message):
    TYPE: ClassVar[int] = UploadType.UPLOAD_BEGIN
    slot: int
    size: int
    chunk_bytes: int
    sha256: bytes

    def encode_payload(self) -> bytes:
        if len(self.sha256) != 32:
            raise ValueError(f"sha256 must be 32 bytes, got {len(self.sha256)}")
        return struct.pack("<BBIH", self.slot, 0, self.size, self.chunk_bytes) + self.sha256

    @classmethod
    def decode_payload(cls, payload: bytes) -> UploadBegin:
        r = _Reader(payload, "UPLOAD_BEGIN")
        slot, _, size, chunk = r.unpack("BBIH")
        return cls(slot, size, chunk, r.take(32))


@dataclass(frozen=True)
class UploadStatus(Message):
    """Reply to UPLOAD_BEGIN: the slot's upload and which chunks it already holds."""

    TYPE: ClassVar[int] = UploadType.UPLOAD_BEGIN | 0x80
    slot: int
    model_id: int
    state: SlotState
    size: int
    chunk_bytes: int
    chunk_count: int
    received: int
    have: tuple[bool, ...]

    @property
    def missing(self) -> list[int]:
        """Indices of the chunks still to send."""
        return [i for i, got in enumerate(self.have) if not got]

    def encode_payload(self) -> bytes:
        bitmap = bytearray((self.chunk_count + 7) // 8)
        for i, got in enumerate(self.have):
            bitmap[i // 8] |= int(got) << (i % 8)
        return struct.pack("<BBBBIHHH", self.slot, self.model_id, self.state, 0, self.size, self.chunk_bytes,
                           self.chunk_count, self.received) + bytes(bitmap)

    @classmethod
    def decode_payload(cls, payload: bytes) -> UploadStatus:
        r = _Reader(payload, "UPLOAD_STATUS")
        slot, model_id, state, _, size, chunk_bytes, count, received = r.unpack("BBBBIHHH")
        bitmap = r.take((count + 7) // 8)
        have = tuple(bool(bitmap[i // 8] >> (i % 8) & 1) for i in range(count))
        try:
            state = SlotState(state)
        except ValueError as exc:
            raise ProtocolError(f"UPLOAD_STATUS: unknown slot state {state}") from exc
        return cls(slot, model_id, state, size, chunk_bytes, count, received, have)


@dataclass(frozen=True)
class UploadChunk(Message):
    TYPE: ClassVar[int] = UploadType.UPLOAD_CHUNK
    slot: int
    offset: int
    data: bytes

    def encode_payload(self) -> bytes:
        return struct.pack("<BBI", self.slot, 0, self.offset) + self.data

    @classmethod
    def decode_payload(cls, payload: bytes) -> UploadChunk:
        slot, _, offset = _Reader(payload, "UPLOAD_CHUNK").unpack("BBI")
        return cls(slot, offset, payload[CHUNK_HEADER_BYTES:])


@dataclass(frozen=True)
class ChunkAck(Message):
    TYPE: ClassVar[int] = UploadType.UPLOAD_CHUNK | 0x80
    slot: int
    offset: int
    received: int
    chunk_count: int

    def encode_payload(self) -> bytes:
        return struct.pack("<BBIHH", self.slot, 0, self.offset, self.received, self.chunk_count)

    @classmethod
    def decode_payload(cls, payload: bytes) -> ChunkAck:
        slot, _, offset, received, count = _Reader(payload, "CHUNK_ACK").unpack("BBIHH")
        return cls(slot, offset, received, count)


@dataclass(frozen=True)
class UploadCommit(Message):
    TYPE: ClassVar[int] = UploadType.UPLOAD_COMMIT
    slot: int
    activate: bool = True

    def encode_payload(self) -> bytes:
        return bytes([self.slot, int(self.activate)])

    @classmethod
    def decode_payload(cls, payload: bytes) -> UploadCommit:
        slot, activate = _Reader(payload, "UPLOAD_COMMIT").unpack("BB")
        return cls(slot, bool(activate))


@dataclass(frozen=True)
class UploadCommitted(Message):
    """Reply to UPLOAD_COMMIT: the slot's model, now in the model list."""

    TYPE: ClassVar[int] = UploadType.UPLOAD_COMMIT | 0x80
    slot: int
    model_id: int
    active_model: int
    model: ModelDescriptor

    def encode_payload(self) -> bytes:
        return bytes([self.slot, self.model_id, self.active_model]) + self.model.encode()

    @classmethod
    def decode_payload(cls, payload: bytes) -> UploadCommitted:
        r = _Reader(payload, "UPLOAD_COMMITTED")
        slot, model_id, active = r.unpack("BBB")
        return cls(slot, model_id, active, ModelDescriptor.read(r))


@dataclass(frozen=True)
class SlotErase(Message):
    TYPE: ClassVar[int] = UploadType.SLOT_ERASE
    slot: int

    def encode_payload(self) -> bytes:
        return bytes([self.slot])

    @classmethod
    def decode_payload(cls, payload: bytes) -> SlotErase:
        (slot,) = _Reader(payload, "SLOT_ERASE").unpack("B")
        return cls(slot)


@dataclass(frozen=True)
class SlotErased(Message):
    TYPE: ClassVar[int] = UploadType.SLOT_ERASE | 0x80
    slot: int
    active_model: int

    def encode_payload(self) -> bytes:
        return bytes([self.slot, self.active_model])

    @classmethod
    def decode_payload(cls, payload: bytes) -> SlotErased:
        slot, active = _Reader(payload, "SLOT_ERASED").unpack("BB")
        return cls(slot, active)


def decode_slots(data: bytes) -> tuple[SlotInfo, ...]:
    """INFO's slot fields alone (§9.8.1): slot_count u8, then per slot model_id u8, state u8, capacity u32,
    arena u32. A whole INFO decodes them into ``Info.slots``."""
    return _read_slots(_Reader(data, "INFO slots"))


MESSAGE_CLASSES.update({cls.TYPE: cls for cls in (UploadBegin, UploadStatus, UploadChunk, ChunkAck, UploadCommit,
                                                   UploadCommitted, SlotErase, SlotErased)})
