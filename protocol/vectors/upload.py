"""Golden vectors of the model upload (SPEC.md §9.8): one conversation with a fresh board.

``upload.json`` beside this file is the committed copy of :func:`build_upload_vectors`. Each step
is a request payload and the reply a conforming device gives: its type and either the exact
payload (``payload``), the first bytes of it (``head``: UPLOAD_COMMITTED, whose descriptor is the
board's §5.3 encoding), or an ERROR ``code`` (its text is free). The board has its upload slots at
model indices 3 and 4; the container is the bytes in ``container``.

    python -m edgeloop.protocol.vectors.upload    # rewrite upload.json (same container)

After a kernel ABI or container format change the committed container no longer loads: write the
vectors again from a fresh one, ``write_upload_vectors(load_container("models/zoo/sine/sine.tflite"))``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from edgeloop.protocol.messages import Message
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
)

UPLOAD_VECTORS_PATH = Path(__file__).with_name("upload.json")
FIRST_ID = 3
CHUNK = 512


def _step(request: Message, reply: Message | None = None, *, head: bytes | None = None, error: int | None = None,
          active: int = 0, note: str = "") -> dict[str, Any]:
    step: dict[str, Any] = {"note": note, "active_model": active, "request_type": request.TYPE,
                            "request": request.encode_payload().hex()}
    if error is not None:
        step.update(reply_type=0xFF, code=int(error))
    elif head is not None:
        step.update(reply_type=request.TYPE | 0x80, head=head.hex())
    else:
        assert reply is not None
        step.update(reply_type=reply.TYPE, payload=reply.encode_payload().hex())
    return step


def build_upload_vectors(blob: bytes) -> dict[str, Any]:
    """The conversation for container `blob` (the committed one is the zoo sine model's)."""
    size, sha = len(blob), hashlib.sha256(blob).digest()
    count = -(-size // CHUNK)
    none = (False,) * count
    steps = [_step(UploadBegin(0, size, CHUNK, sha), UploadStatus(0, FIRST_ID, SlotState.RECEIVING, size, CHUNK,
                                                                   count, 0, none), note="a new upload")]
    order = [count - 1] + list(range(count - 1))   # any order
    for n, i in enumerate(order[:-1]):
        steps.append(_step(UploadChunk(0, i * CHUNK, blob[i * CHUNK:(i + 1) * CHUNK]),
                           ChunkAck(0, i * CHUNK, n + 1, count), note=f"chunk {i}"))
    steps.append(_step(UploadCommit(0, True), error=UploadError.UPLOAD_STATE, note="commit without all chunks"))
    have = tuple(i != order[-1] for i in range(count))
    steps.append(_step(UploadBegin(0, size, CHUNK, sha), UploadStatus(0, FIRST_ID, SlotState.RECEIVING, size, CHUNK,
                                                                       count, count - 1, have),
                       note="the same BEGIN resumes: the status lists the missing chunk"))
    i = order[-1]
    steps.append(_step(UploadChunk(0, i * CHUNK, blob[i * CHUNK:(i + 1) * CHUNK]),
                       ChunkAck(0, i * CHUNK, count, count), note=f"chunk {i}, the last missing"))
    steps.append(_step(UploadChunk(0, i * CHUNK, blob[i * CHUNK:(i + 1) * CHUNK]),
                       ChunkAck(0, i * CHUNK, count, count), note="a repeated chunk is idempotent"))
    steps.append(_step(UploadChunk(0, size - 4, bytes(8)), error=UploadError.UPLOAD_STATE,
                       note="a chunk beyond the announced size"))
    steps.append(_step(UploadCommit(0, True), head=bytes([0, FIRST_ID, FIRST_ID]),
                       note="commit: checked, validated, listed and active (descriptor follows)"))
    steps.append(_step(UploadBegin(0, size, CHUNK, sha), error=UploadError.SLOT_BUSY, active=FIRST_ID,
                       note="no upload over the active model"))
    steps.append(_step(UploadBegin(1, 1 << 30, 0xFFFF, sha), error=UploadError.NO_SPACE, active=FIRST_ID,
                       note="too large for the slot"))
    steps.append(_step(SlotErase(0), SlotErased(0, 0), active=FIRST_ID,
                       note="erasing the active slot falls back to model 0"))
    return {"spec": "protocol/SPEC.md section 9.8", "first_slot_model_id": FIRST_ID, "container": blob.hex(),
            "steps": steps}


def load_upload_vectors() -> dict[str, Any]:
    return json.loads(UPLOAD_VECTORS_PATH.read_text(encoding="utf-8"))


def write_upload_vectors(blob: bytes) -> None:
    UPLOAD_VECTORS_PATH.write_text(json.dumps(build_upload_vectors(blob), indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":  # regenerate from the committed container
    write_upload_vectors(bytes.fromhex(load_upload_vectors()["container"]))
    print(f"wrote {UPLOAD_VECTORS_PATH}")
