"""Upload slots (firmware/core/el_upload.c, SPEC §9.8): chunked, resumable, SHA-256-checked uploads
that activate only at commit, and every "bad input" of issue 19 answered by an ERROR that names it
while the active model stays untouched."""

from __future__ import annotations

import hashlib
import random
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

import edgeloop
from edgeloop.models.compiler import compile_bytes
from edgeloop.models.compiler.container import container_from_compiled
from edgeloop.models.compiler.host import HostModel
from edgeloop.protocol.upload import (
    ChunkAck,
    SlotErase,
    SlotErased,
    SlotState,
    UploadBegin,
    UploadChunk,
    UploadCommit,
    UploadError,
    UploadStatus,
    UploadType,
    decode_slots,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from upload_host import HostSlots  # noqa: E402

ZOO = edgeloop.PACKAGE_ROOT / "models" / "zoo"
FIRST_ID = 3          # three compiled-in models before the slots
CHUNK = 512


@pytest.fixture(scope="module")
def models() -> dict[str, tuple[bytes, object]]:
    out = {}
    for name in ("imu_activity", "bottles_tiny", "sine"):
        result = compile_bytes((ZOO / name / f"{name}.tflite").read_bytes(), name=name)
        out[name] = (container_from_compiled(result), result)
    return out


@pytest.fixture
def slots() -> HostSlots:
    return HostSlots(slots=2, slot_bytes=64 * 1024, arena_bytes=64 * 1024, first_id=FIRST_ID)


def _begin(s: HostSlots, slot: int, blob: bytes, *, sha: bytes | None = None, active: int = 0,
           chunk: int = CHUNK) -> UploadStatus:
    r = s.request(UploadType.UPLOAD_BEGIN, UploadBegin(slot, len(blob), chunk, sha or hashlib.sha256(blob).digest())
                  .encode_payload(), active)
    assert not r.is_error, r.text
    return UploadStatus.decode_payload(r.payload)


def _send(s: HostSlots, slot: int, blob: bytes, indices: list[int], chunk: int = CHUNK) -> ChunkAck:
    ack = None
    for i in indices:
        r = s.request(UploadType.UPLOAD_CHUNK, UploadChunk(slot, i * chunk, blob[i * chunk:(i + 1) * chunk]).encode_payload())
        assert not r.is_error, r.text
        ack = ChunkAck.decode_payload(r.payload)
    assert ack is not None
    return ack


def _upload(s: HostSlots, slot: int, blob: bytes, *, active: int = 0, activate: bool = True):
    status = _begin(s, slot, blob, active=active)
    _send(s, slot, blob, status.missing)
    return s.request(UploadType.UPLOAD_COMMIT, UploadCommit(slot, activate).encode_payload(), active)


def test_an_upload_in_any_order_with_repeats_runs_bit_exact_with_the_compiled_c(slots, models, tmp_path) -> None:
    blob, result = models["bottles_tiny"]
    status = _begin(slots, 1, blob)
    count = (len(blob) + CHUNK - 1) // CHUNK
    assert (status.state, status.chunk_count, status.received, status.missing) == (
        SlotState.RECEIVING, count, 0, list(range(count)))
    order = list(range(count)) + [0, count - 1, 2]      # retried chunks are idempotent
    random.Random(1).shuffle(order)
    ack = _send(slots, 1, blob, order)
    assert (ack.received, ack.chunk_count) == (count, count)
    assert not slots.loaded(FIRST_ID + 1)                # nothing runs before the commit
    r = slots.request(UploadType.UPLOAD_COMMIT, UploadCommit(1, True).encode_payload(), active=0)
    assert not r.is_error, r.text
    assert r.payload == bytes([1, FIRST_ID + 1, FIRST_ID + 1]) and r.append_descriptor
    assert (r.model_id, r.new_active) == (FIRST_ID + 1, FIRST_ID + 1)

    (tmp_path / "bottles_tiny.c").write_text(result.c_source)
    (tmp_path / "bottles_tiny.h").write_text(result.h_source)
    compiled = HostModel(tmp_path, "bottles_tiny", build_dir=tmp_path / "b")
    out_t = result.graph.model.tensors[result.graph.output]
    for seed in range(3):
        x = np.random.default_rng(seed).integers(-128, 128, 64 * 64, dtype=np.int8)
        assert np.array_equal(slots.invoke(FIRST_ID + 1, x, np.int8, out_t.size),
                              compiled(x, np.int8, out_t.size))


def test_a_lost_link_resumes_with_the_chunks_received(slots, models) -> None:
    blob, _ = models["imu_activity"]
    count = (len(blob) + CHUNK - 1) // CHUNK
    _begin(slots, 0, blob)
    _send(slots, 0, blob, list(range(0, count, 2)))     # the link drops here
    status = _begin(slots, 0, blob)                      # same size, chunk size, sha256: resume
    assert status.missing == list(range(1, count, 2)) and status.received == (count + 1) // 2
    _send(slots, 0, blob, status.missing)
    r = slots.request(UploadType.UPLOAD_COMMIT, UploadCommit(0, False).encode_payload())
    assert not r.is_error and r.new_active == 0xFF and slots.loaded(FIRST_ID)


def test_a_different_model_restarts_the_upload(slots, models) -> None:
    blob, _ = models["imu_activity"]
    other = bytearray(blob)
    other[-5] ^= 1
    _begin(slots, 0, blob)
    _send(slots, 0, blob, [0, 1])
    status = _begin(slots, 0, bytes(other))
    assert status.received == 0


def test_a_half_written_slot_is_never_a_model(slots, models) -> None:
    """Overwriting a loaded (inactive) slot removes its model at BEGIN, not at COMMIT, so no INFER
    can ever run a half-written container; the core forgets its remembered input."""
    blob, _ = models["sine"]
    assert not _upload(slots, 1, blob, activate=False).is_error
    assert slots.loaded(FIRST_ID + 1)
    bigger, _ = models["imu_activity"]
    r = slots.request(UploadType.UPLOAD_BEGIN,
                      UploadBegin(1, len(bigger), CHUNK, hashlib.sha256(bigger).digest()).encode_payload())
    assert not r.is_error and r.forget_input == FIRST_ID + 1 and r.new_active == 0xFF
    assert not slots.loaded(FIRST_ID + 1)
    _send(slots, 1, bigger, [0, 1])
    assert not slots.loaded(FIRST_ID + 1)


def _bad(blob: bytes, at: int, fmt: str, value: int) -> bytes:
    b = bytearray(blob)
    struct.pack_into(fmt, b, at, value)
    return bytes(b)


def test_every_bad_input_is_an_error_and_the_active_model_keeps_serving(slots, models) -> None:
    good, result = models["sine"]
    active = FIRST_ID                                     # slot 0 holds the active model
    assert not _upload(slots, 0, good).is_error
    x = np.array([5], np.int8)
    before = slots.invoke(active, x, np.int8, 1)

    def expect(reply, code: int, *words: str) -> None:
        assert reply.is_error and reply.error == code, (reply.error, reply.text)
        for w in words:
            assert w in reply.text, (w, reply.text)
        assert reply.new_active == 0xFF                   # the active model is untouched...
        assert np.array_equal(slots.invoke(active, x, np.int8, 1), before)   # ...and still runs

    # A container for another kernel ABI or container format.
    expect(_upload(slots, 1, _bad(good, 8, "<I", 999), active=active), UploadError.INVALID_MODEL, "kernel ABI 999")
    expect(_upload(slots, 1, _bad(good, 4, "<H", 7), active=active), UploadError.INVALID_MODEL, "format version 7")
    # Too large for the slot: both sizes named.
    r = slots.request(UploadType.UPLOAD_BEGIN, UploadBegin(1, 70000, 1024, bytes(32)).encode_payload(), active)
    expect(r, UploadError.NO_SPACE, "70000 bytes", "65536 bytes")
    # A wrong sha256: the slot is emptied, nothing activated.
    status = _begin(slots, 1, good, sha=bytes(32), active=active)
    _send(slots, 1, good, status.missing)
    expect(slots.request(UploadType.UPLOAD_COMMIT, UploadCommit(1).encode_payload(), active), UploadError.INTEGRITY,
           "sha256")
    assert not slots.loaded(FIRST_ID + 1)
    # A chunk beyond the announced size.
    _begin(slots, 1, good, active=active)
    r = slots.request(UploadType.UPLOAD_CHUNK, UploadChunk(1, len(good) - 4, bytes(8)).encode_payload(), active)
    expect(r, UploadError.UPLOAD_STATE, "beyond the announced size", str(len(good)))
    # A commit without all chunks.
    _send(slots, 1, good, [0])
    count = (len(good) + CHUNK - 1) // CHUNK
    expect(slots.request(UploadType.UPLOAD_COMMIT, UploadCommit(1).encode_payload(), active), UploadError.UPLOAD_STATE,
           f"1 of {count} chunks")
    # A container that fails validation names the check.
    first_step = struct.unpack_from("<I", good, 32)[0]
    expect(_upload(slots, 1, _bad(good, first_step, "<B", 77), active=active), UploadError.INVALID_MODEL,
           "unknown op code 77")
    # Uploading over the active model is refused.
    r = slots.request(UploadType.UPLOAD_BEGIN, UploadBegin(0, len(good), CHUNK, bytes(32)).encode_payload(), active)
    expect(r, UploadError.SLOT_BUSY, "active model")
    # A chunk with no upload, a slot that does not exist.
    expect(slots.request(UploadType.UPLOAD_CHUNK, UploadChunk(0, 0, b"x").encode_payload(), active),
           UploadError.UPLOAD_STATE, "UPLOAD_BEGIN")
    expect(slots.request(UploadType.SLOT_ERASE, SlotErase(5).encode_payload(), active), 1, "slot 5 does not exist")
    assert slots.loaded(active)


def test_a_model_needing_more_arena_than_the_slot_is_refused_at_commit(models) -> None:
    blob, result = models["bottles_tiny"]
    small = HostSlots(slots=1, slot_bytes=64 * 1024, arena_bytes=4096, first_id=1)
    r = _upload(small, 0, blob)
    assert r.is_error and r.error == UploadError.NO_SPACE and f"arena of {result.arena_bytes}" in r.text


def test_erasing_the_active_slot_falls_back_to_a_compiled_model(slots, models) -> None:
    blob, _ = models["sine"]
    assert not _upload(slots, 1, blob).is_error
    r = slots.request(UploadType.SLOT_ERASE, SlotErase(1).encode_payload(), active=FIRST_ID + 1)
    assert not r.is_error and SlotErased.decode_payload(r.payload) == SlotErased(1, 0)
    assert (r.new_active, r.forget_input) == (0, FIRST_ID + 1) and not slots.loaded(FIRST_ID + 1)


def test_info_lists_each_slot_with_its_capacity_and_arena(slots, models) -> None:
    assert not _upload(slots, 1, models["sine"][0], activate=False).is_error
    info = decode_slots(slots.info())
    assert [(s.model_id, s.state, s.capacity, s.arena_bytes) for s in info] == [
        (FIRST_ID, SlotState.EMPTY, 65536, 65536), (FIRST_ID + 1, SlotState.LOADED, 65536, 65536)]
    blob, result = models["bottles_tiny"]
    out_t = result.graph.model.tensors[result.graph.output]
    in_t = result.graph.model.tensors[result.graph.input]
    assert info[0].fits(len(blob), result.arena_bytes, in_t.nbytes, out_t.nbytes) is None
    why = info[0].fits(70000, 100, 10, 10)
    assert why is not None and "65536" in why


def test_golden_upload_vectors_match_the_codec_and_the_firmware() -> None:
    """protocol/vectors/upload.json: regenerating gives the committed bytes, every message decodes
    and re-encodes to itself, and el_upload.c answers each request exactly as the vector says."""
    from edgeloop.protocol.messages import MESSAGE_CLASSES
    from edgeloop.protocol.vectors.upload import build_upload_vectors, load_upload_vectors

    vectors = load_upload_vectors()
    blob = bytes.fromhex(vectors["container"])
    assert build_upload_vectors(blob) == vectors
    board = HostSlots(slots=2, slot_bytes=64 * 1024, arena_bytes=64 * 1024, first_id=vectors["first_slot_model_id"])
    for step in vectors["steps"]:
        request = bytes.fromhex(step["request"])
        cls = MESSAGE_CLASSES[step["request_type"]]
        assert cls.decode_payload(request).encode_payload() == request
        reply = board.request(step["request_type"], request, step["active_model"])
        assert reply.type == step["reply_type"], (step["note"], reply.text)
        if "code" in step:
            assert reply.error == step["code"], (step["note"], reply.text)
        elif "head" in step:
            assert reply.payload == bytes.fromhex(step["head"]) and reply.append_descriptor, step["note"]
        else:
            expected = bytes.fromhex(step["payload"])
            assert reply.payload == expected, step["note"]
            assert MESSAGE_CLASSES[step["reply_type"]].decode_payload(expected).encode_payload() == expected


def test_a_flash_slot_model_survives_a_reset_and_a_cut_upload_never_loads(models) -> None:
    """The flash slot (after the RAM slots) on the simulated H7 flash: a committed model is back
    after a reset (boot check: marker, record, sha256, validation); a power cut at any point of a
    new upload leaves no model, never a half one; RAM slots are empty after every reset."""
    blob, result = models["imu_activity"]
    board = HostSlots(slots=1, first_id=FIRST_ID, flash=True)
    flash = 1
    x = np.random.default_rng(3).integers(-128, 128, 54, dtype=np.int8)
    assert not _upload(board, 0, models["sine"][0], activate=False).is_error     # a RAM slot model
    status = _begin(board, flash, blob, chunk=CHUNK)
    assert status.chunk_count == -(-len(blob) // CHUNK)
    r = board.request(UploadType.UPLOAD_BEGIN, UploadBegin(flash, len(blob), 100, bytes(32)).encode_payload())
    assert r.is_error and "multiple of 32" in r.text
    status = _begin(board, flash, blob)
    _send(board, flash, blob, status.missing + [0])             # a repeated chunk: acked, not reprogrammed
    r = board.request(UploadType.UPLOAD_COMMIT, UploadCommit(flash, False).encode_payload())
    assert not r.is_error, r.text
    want = board.invoke(FIRST_ID + flash, x, np.int8, 5)
    board.reset()
    assert board.loaded(FIRST_ID + flash) and not board.loaded(FIRST_ID)     # flash survives, RAM does not
    assert np.array_equal(board.invoke(FIRST_ID + flash, x, np.int8, 5), want)
    info = decode_slots(board.info())
    assert info[flash].state == SlotState.LOADED and info[flash].capacity == 16 * 4096 - 128

    other = models["sine"][0]
    for cut in (0, 1, 3, 5, 9):                                 # erase, data words, record, marker...
        board.reset(power_cut_after=cut)
        status = _begin(board, flash, other) if not board.request(
            UploadType.UPLOAD_BEGIN, UploadBegin(flash, len(other), CHUNK, hashlib.sha256(other).digest())
            .encode_payload()).is_error else None
        if status is not None:
            for i in status.missing:
                board.request(UploadType.UPLOAD_CHUNK, UploadChunk(flash, i * CHUNK,
                                                                   other[i * CHUNK:(i + 1) * CHUNK]).encode_payload())
            board.request(UploadType.UPLOAD_COMMIT, UploadCommit(flash).encode_payload())
        board.reset()
        assert not board.loaded(FIRST_ID + flash), cut           # the old model was erased; no half new one
    assert not _upload(board, flash, other).is_error              # a restarted upload works
    board.reset()
    assert board.loaded(FIRST_ID + flash)
    r = board.request(UploadType.SLOT_ERASE, SlotErase(flash).encode_payload())
    assert not r.is_error
    board.reset()
    assert not board.loaded(FIRST_ID + flash)
