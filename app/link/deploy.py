"""Deploy a model to a running board over the link (SPEC.md §9.8): no reflash, no restart. Qt-free.

    from edgeloop.app.link.deploy import deploy, load_container
    result = deploy("socket://127.0.0.1:5555", load_container("model.tflite"), progress=print)
    print(result.seconds, result.model.name, result.model_id)

The upload checks the slot's capacity and arena from INFO before sending a
byte, keeps up to ``rx_credit`` chunks in flight, resends a chunk whose ack
does not come (chunks are idempotent), resumes after a lost link with the
chunks the board already holds, and activates the model only at commit,
after the board checked its SHA-256 and validated it. A GUI calls
:func:`deploy` from a worker thread with a progress callback.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

import serial

from edgeloop import EdgeloopError, InputError
from edgeloop.protocol import Error, Hello, Info, Message, cobs_decode, encode_message, parse_frame
from edgeloop.protocol.messages import Log, decode_message
from edgeloop.protocol.upload import (
    CAP_UPLOAD,
    CHUNK_HEADER_BYTES,
    ChunkAck,
    SlotInfo,
    SlotState,
    UploadBegin,
    UploadChunk,
    UploadCommit,
    UploadCommitted,
    UploadError,
    UploadStatus,
)

Progress = Callable[[int, int], None]
"""Called with (bytes acknowledged, container bytes) as the upload advances."""


class DeployError(EdgeloopError, RuntimeError):
    """The board refused the model or the upload failed; the message says why and what to do."""


class LinkLost(DeployError):
    """No reply within the timeout after the retries."""


class DeployCancelled(DeployError):
    """The caller cancelled the upload: no more chunks were queued and no commit was sent."""


@dataclass(frozen=True)
class DeployResult:
    committed: UploadCommitted
    seconds: float          # host clock, UPLOAD_BEGIN to UPLOAD_COMMITTED
    container_bytes: int
    chunks_sent: int        # including resends
    resumed_chunks: int     # chunks the board already held at UPLOAD_BEGIN

    @property
    def model(self):  # noqa: ANN201 - ModelDescriptor
        return self.committed.model

    @property
    def model_id(self) -> int:
        return self.committed.model_id


MAX_SLOTS = 4


FLASH_SECTOR_KB = 128   # STM32H743 bank-2 sector: the flash slot is whole sectors at the end of bank 2
FLASH_SLOT_MAX_KB = 1024


def slot_cflags(slots: int | None = None, slot_kb: int | None = None, arena_kb: int | None = None, *,
                flash_kb: int | None = None, flash_arena_kb: int | None = None) -> list[str]:
    """Firmware flags that size the upload slots (SPEC 9.8); None keeps the board's default.

    `flash_kb` sizes the Nucleo's flash slot (whole 128 KB sectors of bank 2; 0: none) and
    `flash_arena_kb` its executor arena.
    """
    flags = []
    if flash_kb is not None:
        if flash_kb and (flash_kb % FLASH_SECTOR_KB or not FLASH_SECTOR_KB <= flash_kb <= FLASH_SLOT_MAX_KB):
            raise InputError(f"--flash-slot-kb {flash_kb} must be 0 (no flash slot) or a multiple of "
                             f"{FLASH_SECTOR_KB} up to {FLASH_SLOT_MAX_KB} (whole 128 KB sectors of flash bank 2)")
        if flash_kb and slots == 0:
            raise InputError("--flash-slot-kb needs at least one RAM slot (--slots 1 or more)")
        flags += ["-DEL_FLASH_SLOT=0"] if flash_kb == 0 else [f"-DEL_FLASH_SLOT_SECTORS={flash_kb // FLASH_SECTOR_KB}u"]
    if slots is not None:
        if not 0 <= slots <= MAX_SLOTS:
            raise InputError(f"--slots {slots} is outside 0..{MAX_SLOTS}")
        flags.append(f"-DEL_UPLOAD_SLOTS={slots}u")
        if slots == 0:
            flags.append("-DEL_FLASH_SLOT=0")  # no upload at all: a flash slot needs a RAM slot (the Nucleo's)
    for value, name, macro in ((slot_kb, "--slot-kb", "EL_SLOT_BYTES"),
                               (arena_kb, "--slot-arena-kb", "EL_SLOT_ARENA_BYTES"),
                               (flash_arena_kb, "--flash-slot-arena-kb", "EL_FLASH_SLOT_ARENA_BYTES")):
        if value is not None:
            if not 1 <= value <= 65536:
                raise InputError(f"{name} {value} is outside 1..65536 KB")
            flags.append(f"-D{macro}={value * 1024}u")
    return flags


CONTAINER_SUFFIX = ".elmc"  # a container file's ending (`edgeloop compile --container FILE.elmc`)


def load_container(path: str | Path, *, name: str | None = None) -> bytes:
    """A container from an .elmc file, or compiled from a .tflite (with its sidecar, as `compile` does)."""
    from edgeloop.models.compiler.container import container_from_compiled, read_container
    from edgeloop.models.compiler.driver import compile_source

    path = Path(path)
    if path.suffix == ".tflite":
        return container_from_compiled(compile_source(path, name=name))
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    read_container(data)  # a clear error now, not a board's refusal later
    return data


class UploadLink:
    """A minimal protocol client for uploads: numbered requests, replies by seq, INFO with its raw tail."""

    def __init__(self, url: str, *, timeout: float = 2.0) -> None:
        self.url = url
        self.timeout = timeout
        try:
            self.port = serial.serial_for_url(url, timeout=0.02)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise DeployError(f"cannot open the board's link {url}: {exc}; check --port "
                              "(e.g. socket://127.0.0.1:5555 or /dev/ttyACM0) and that the board runs") from None
        self.port.write(b"\x00")
        self._buf = bytearray()
        self._seq = 0
        self.replies: dict[int, tuple[Message, bytes]] = {}

    def close(self) -> None:
        self.port.close()

    def send(self, message: Message) -> int:
        self._seq = self._seq % 65535 + 1
        self.port.write(encode_message(message, seq=self._seq))
        return self._seq

    def _pump(self) -> None:
        data = self.port.read(max(1, self.port.in_waiting))
        self._buf += data
        while 0 in self._buf:
            end = self._buf.index(0)
            raw, self._buf = bytes(self._buf[:end]), self._buf[end + 1:]
            if not raw:
                continue
            try:
                frame = parse_frame(cobs_decode(raw))
                message = decode_message(frame.type, frame.payload)
            except Exception:  # noqa: BLE001 - a corrupt frame is dropped; the request times out and is resent
                continue
            if not isinstance(message, Log):
                self.replies[frame.seq] = (message, frame.payload)

    def wait(self, seqs: set[int], deadline: float) -> int | None:
        """The first of `seqs` answered before `deadline`, or None."""
        while True:
            for s in seqs:
                if s in self.replies:
                    return s
            if time.monotonic() > deadline:
                return None
            self._pump()

    def request(self, message: Message, *, attempts: int = 3, timeout: float | None = None) -> tuple[Message, bytes]:
        for _ in range(attempts):
            seq = self.send(message)
            if self.wait({seq}, time.monotonic() + (timeout or self.timeout)) is not None:
                return self.replies.pop(seq)
            self.port.write(b"\x00")
        raise LinkLost(f"no reply from the board at {self.url} after {attempts} tries: check the link")

    def info(self) -> tuple[Info, tuple[SlotInfo, ...]]:
        """INFO and its upload slots (§9.8.1: directly after the 1.1 fields)."""
        message, _ = self.request(Hello())
        if not isinstance(message, Info):
            raise DeployError(f"the board answered HELLO with {type(message).__name__}")
        if not message.has(CAP_UPLOAD):
            return message, ()
        return message, message.slots or ()


def _refusal(error: Error) -> DeployError:
    hint = {UploadError.NO_SPACE: "choose a smaller model or a board with larger slots",
            UploadError.INTEGRITY: "the bytes were corrupted on the way; deploy again",
            UploadError.INVALID_MODEL: "recompile the model with this edgeloop for this firmware"}
    extra = hint.get(error.code)  # type: ignore[call-overload]
    return DeployError(f"the board refused the model: {error.text}" + (f" ({extra})" if extra else ""))


def _choose_slot(info: Info, slots: tuple[SlotInfo, ...], wanted: int | None) -> int:
    if not slots:
        raise DeployError(f"the board ({info.board}, firmware {info.firmware}) has no upload slots: "
                          "flash a firmware with upload support (protocol 1.1, capability 'upload')")
    if wanted is not None:
        if not 0 <= wanted < len(slots):
            raise InputError(f"--slot {wanted} does not exist: the board has slots 0..{len(slots) - 1}")
        return wanted
    for i, s in enumerate(slots):   # never overwrite the model that is serving
        if s.model_id != info.active_model and s.state != SlotState.LOADED:
            return i
    for i, s in enumerate(slots):
        if s.model_id != info.active_model:
            return i
    raise DeployError("every upload slot holds the active model: select a compiled-in model first")


def _plan(info: Info, slots: tuple[SlotInfo, ...], wanted: int | None, container: bytes, chunk_bytes: int,
          max_payload: int) -> tuple[int, int]:
    """The slot to upload into and the chunk size; refuses a model that does not fit before a byte is sent."""
    from edgeloop.models.compiler.container import read_container

    c = read_container(container)
    index = _choose_slot(info, slots, wanted)
    why = slots[index].fits(len(container), c.arena_bytes, c.input.bytes, c.output.bytes)
    if why:
        raise DeployError(f"the model does not fit: {why}")
    return index, max(min(chunk_bytes, max_payload - CHUNK_HEADER_BYTES, 0xFFFF), -(-len(container) // 1024))


DEFAULT_CHUNK_BYTES = 4096
"""Chunk size: a resume loses at most this much, and the frame overhead stays under 0.5 %."""


def deploy(url: str, container: bytes, *, slot: int | None = None, activate: bool = True,
           progress: Progress | None = None, timeout: float = 2.0, reconnects: int = 2,
           chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> DeployResult:
    """Upload `container` into a slot of the board at `url`, commit it and (by default) activate it.

    A resume needs the same `chunk_bytes` as the interrupted upload (the board keeps its chunks
    only for an identical UPLOAD_BEGIN).
    """
    from edgeloop.models.compiler.container import read_container

    read_container(container)  # a malformed container fails here, before the link is opened
    sha = hashlib.sha256(container).digest()
    link = UploadLink(url, timeout=timeout)
    try:
        info, slots = link.info()
        index, chunk = _plan(info, slots, slot, container, chunk_bytes, info.max_payload)
        start = time.monotonic()
        sent = resumed = 0
        for attempt in range(reconnects + 1):
            try:
                status = _begin(link, UploadBegin(index, len(container), chunk, sha))
                if attempt == 0:
                    resumed = status.received
                sent += _send_chunks(link, index, container, status, info.rx_credit, progress)
                reply, _ = link.request(UploadCommit(index, activate))
                break
            except LinkLost:
                if attempt == reconnects:
                    raise
                link.close()                      # reconnect and resume: RAM keeps the chunks
                link = UploadLink(url, timeout=timeout)
        if isinstance(reply, Error):
            raise _refusal(reply)
        if not isinstance(reply, UploadCommitted):
            raise DeployError(f"the board answered UPLOAD_COMMIT with {type(reply).__name__}")
        return DeployResult(reply, time.monotonic() - start, len(container), sent, resumed)
    finally:
        link.close()


BEGIN_TIMEOUT_S = 10.0
"""UPLOAD_BEGIN into a flash slot erases flash sectors first (about 1-2 s per 128 KB sector on an H7)."""


def _begin(link: UploadLink, begin: UploadBegin) -> UploadStatus:
    reply, _ = link.request(begin, timeout=max(link.timeout, BEGIN_TIMEOUT_S))
    if isinstance(reply, Error):
        raise _refusal(reply)
    if not isinstance(reply, UploadStatus):
        raise DeployError(f"the board answered UPLOAD_BEGIN with {type(reply).__name__}")
    return reply


def _send_chunks(link: UploadLink, slot: int, data: bytes, status: UploadStatus, credit: int,
                 progress: Progress | None) -> int:
    """Send the missing chunks with at most `credit` in flight; resend a chunk whose ack times out."""
    size, step = len(data), status.chunk_bytes
    todo = list(status.missing)
    done = size - sum(min(step, size - i * step) for i in todo)
    in_flight: dict[int, tuple[int, float, int]] = {}   # seq -> (chunk, deadline, tries)
    sent = 0
    if progress:
        progress(done, size)
    while todo or in_flight:
        while todo and len(in_flight) < credit:
            i = todo.pop(0)
            seq = link.send(UploadChunk(slot, i * step, data[i * step:(i + 1) * step]))
            in_flight[seq] = (i, time.monotonic() + link.timeout, 1)
            sent += 1
        seq = link.wait(set(in_flight), min(d for _, d, _ in in_flight.values()))
        if seq is None:                         # the oldest deadline passed: resend that chunk
            late = min(in_flight, key=lambda s: in_flight[s][1])
            i, _, tries = in_flight.pop(late)
            if tries >= 3:
                raise LinkLost(f"chunk {i} was not acknowledged after 3 tries")
            link.port.write(b"\x00")
            seq2 = link.send(UploadChunk(slot, i * step, data[i * step:(i + 1) * step]))
            in_flight[seq2] = (i, time.monotonic() + link.timeout, tries + 1)
            sent += 1
            continue
        i, _, _ = in_flight.pop(seq)
        reply, _ = link.replies.pop(seq)
        if isinstance(reply, Error):
            raise _refusal(reply)
        if not isinstance(reply, ChunkAck):
            raise DeployError(f"the board answered UPLOAD_CHUNK with {type(reply).__name__}")
        done += min(step, size - i * step)
        if progress:
            progress(done, size)
    return sent


def deploy_over_session(session, container: bytes, *,  # noqa: ANN001
                        slots: tuple[SlotInfo, ...] | None = None, slot: int | None = None,
                        activate: bool = True, progress: Progress | None = None,
                        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
                        cancelled: Callable[[], bool] | None = None) -> DeployResult:
    """`deploy` over an open `edgeloop.app.link.session.Session` (what the GUI holds): no second
    connection to the port; the Session windows the chunks by its credit and retries them.

    `cancelled` (the GUI's Cancel) is asked before each chunk is queued: once it returns True no
    further chunk is queued, the chunks already in flight finish, no UPLOAD_COMMIT is sent and
    DeployCancelled is raised. The slot stays receiving (SPEC §9.8.2: never a model), so the
    board keeps its active model and a later identical upload resumes with the chunks it holds.

    The slot and the fit are checked before a byte is sent, against `slots` when given, else
    against a fresh INFO asked through the Session (the one from connect() may be stale: an
    earlier deploy changed slot states and the active model). A slot chosen here (no `slot`) that the
    board refuses as the active model's at UPLOAD_BEGIN (a SELECT landed in between) is chosen again
    from another fresh INFO, once.
    """
    from edgeloop.app.link.session import DeviceError
    from edgeloop.models.compiler.container import read_container

    read_container(container)  # a malformed container fails here, before a request is sent
    if session.info is None:
        raise DeployError("the session is not connected: connect() it before deploying")
    sha = hashlib.sha256(container).digest()
    start = time.monotonic()
    for choice in range(2):
        info = session.request(Hello()).result().message
        if not isinstance(info, Info):
            raise DeployError(f"the board answered HELLO with {type(info).__name__}")
        if not info.has(CAP_UPLOAD):
            raise DeployError(f"the board ({info.board}, firmware {info.firmware}) has no upload slots: "
                              "flash a firmware with upload support (protocol 1.1, capability 'upload')")
        index, chunk = _plan(info, info.slots or () if slots is None else slots, slot, container, chunk_bytes,
                             session.max_payload)
        try:
            status = session.request(UploadBegin(index, len(container), chunk, sha),
                                     timeout=BEGIN_TIMEOUT_S).result().message
            break
        except DeviceError as exc:
            # The session's owner streams and SELECTs on its own: a SELECT that landed between this INFO and
            # the BEGIN can make the chosen slot the active model's. A slot we chose is chosen again, once.
            if slot is None and choice == 0 and exc.error.code == UploadError.SLOT_BUSY:
                continue
            raise _refusal(exc.error) from None
    try:
        sent = _queue_chunks(session, index, container, chunk, status.missing, progress, cancelled)
        committed = session.request(UploadCommit(index, activate)).result().message
    except DeviceError as exc:
        raise _refusal(exc.error) from None
    if not isinstance(committed, UploadCommitted):
        raise DeployError(f"the board answered UPLOAD_COMMIT with {type(committed).__name__}")
    return DeployResult(committed, time.monotonic() - start, len(container), sent, status.received)


def _queue_chunks(session, slot: int, data: bytes, step: int, missing: Sequence[int],  # noqa: ANN001
                  progress: Progress | None, cancelled: Callable[[], bool] | None) -> int:
    """Queue the missing chunks through the session (its credit windows them), reporting each ack;
    stop queuing once `cancelled()` says so, let the chunks in flight finish, then raise DeployCancelled."""
    size = len(data)
    done = size - sum(min(step, size - i * step) for i in missing)
    in_flight: list[tuple[int, Future]] = []

    def acknowledged(i: int, future: Future) -> None:
        nonlocal done
        future.result()
        done += min(step, size - i * step)
        if progress:
            progress(done, size)

    for i in missing:
        if cancelled is not None and cancelled():
            for j, future in in_flight:
                acknowledged(j, future)
            raise DeployCancelled(f"upload cancelled after {done} of {size} bytes: nothing was committed, the "
                                  f"board keeps its active model")
        # request() blocks while the credit window is full, so a cancel is seen within one round trip.
        in_flight.append((i, session.request(UploadChunk(slot, i * step, data[i * step:(i + 1) * step]))))
        while in_flight and in_flight[0][1].done():
            acknowledged(*in_flight.pop(0))
    for i, future in in_flight:
        acknowledged(i, future)
    return len(missing)
