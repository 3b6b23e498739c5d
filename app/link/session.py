"""A protocol session with one board: handshake, credit-windowed pipelining, timeouts, retries, reconnect.

No Qt here. A background reader thread decodes replies and completes
`concurrent.futures.Future`s; callers either block on `.result()` or attach
callbacks. Replies are matched to requests by sequence number only (SPEC §3).

- **Handshake** (SPEC §7-8): 0x00, HELLO, wait for INFO with a version this
  host speaks; a port that never answers raises `NotAnEdgeloopBoard`.
- **Credit**: at most `info.rx_credit` requests in flight; `request()` blocks
  for a free slot, so frame N+1 crosses the wire while frame N is inferred.
- **Timeouts and retries** (SPEC §4): a request times out after
  `base + 3 × wire time + expected compute` until round trips of its kind
  have been seen, then after `max(20 ms, srtt + 4 rttvar, 2 srtt)`; it is
  resent up to `retries` times, each with a new sequence number and a 0x00
  before it; a late reply to a retired number is counted and dropped. Three
  consecutive failed requests mean the link is lost.
- **Loss by order** (SPEC 1.1 §3): a 1.1 device answers in order, so a reply
  to a later request proves the earlier unanswered ones lost; they are
  resent at once instead of waiting for their timeouts.
- **Writes** leave the session lock: a request is encoded and registered
  under the lock and queued; whoever queued it then writes the queue out
  under a separate write lock, so frames go out whole and in order while
  `stats()` and `in_flight` never wait for a frame's wire time.
- **`map(items)`** streams requests through the credit window and yields
  outcomes in submission order (the pipeline, validation and benchmarks).
- **Abridged descriptors** (SPEC 1.1 §5.3) are completed with DESCRIBE_MODEL
  during the handshake, so `info.models` always holds full descriptors.
- **Reconnect**: after an unplug (I/O error) or a lost link, the reader thread
  reopens the port and repeats the handshake with exponential backoff; the
  state goes CONNECTED → RECONNECTING → CONNECTED (or FAILED after
  `max_reconnects` attempts). Requests in flight fail with `LinkLost`.

Example::

    with Session("socket://127.0.0.1:5555") as s:
        info = s.connect()
        reply = s.infer(bytes(info.models[0].input.nbytes)).result(timeout=5)
        print(reply.message.output, reply.rtt)
"""

from __future__ import annotations

import collections
import enum
import itertools
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, field, replace
from typing import Generic, TypeVar

from edgeloop import EdgeloopError
from edgeloop.app.link.transport import (
    LinkError,
    LinkLost,
    NotAnEdgeloopBoard,
    Transport,
    open_transport,
)
from edgeloop.protocol import (
    ACTIVE_MODEL,
    BOOTSTRAP_MAX_PAYLOAD,
    PROTOCOL_VERSION,
    Bench,
    BenchResult,
    Capability,
    DecodeError,
    DescribeModel,
    Decoder,
    Error,
    ErrorCode,
    Frame,
    Hello,
    Infer,
    Info,
    ListModels,
    Log,
    Message,
    ModelDescription,
    ModelDescriptor,
    ModelList,
    ModelSelected,
    Ping,
    Pong,
    Result,
    SelectModel,
    Stats,
    StatsReply,
    encode_message,
)

HOST_SPEAKS = (PROTOCOL_VERSION,)
"""Protocol major versions this host speaks."""


class LinkState(enum.Enum):
    """Visible state of a session's link."""

    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    FAILED = "failed"


class UnsupportedVersion(LinkError):
    """The board speaks a protocol major version this host does not."""


class DeviceError(EdgeloopError, RuntimeError):
    """The board answered a request with ERROR; `.error` holds its code and text."""

    def __init__(self, error: Error, request: Message) -> None:
        super().__init__(f"board refused {type(request).__name__}: {error}")
        self.error = error
        self.request = request


class RequestTimeout(EdgeloopError, TimeoutError):
    """No reply after every retry."""


# A failed request's future carries an exception with two attributes set by the session: `seq`, the last
# sequence number the request went out under (0: never sent), and `attempts`, how many times it went out.
FAILED_SEQ, FAILED_ATTEMPTS = "seq", "attempts"

T = TypeVar("T")


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """What became of one item of `Session.map`: its reply, or the error, with the real seq and attempts."""

    item: T
    reply: Reply | None
    error: BaseException | None
    seq: int  # the answered (or last) sequence number; 0 when the request never went out
    attempts: int

    @property
    def ok(self) -> bool:
        """True when the request got its reply."""
        return self.reply is not None


def failure_of(exc: BaseException) -> tuple[int, int]:
    """(seq, attempts) of a failed request's exception; (0, 0) for one that never went out."""
    return getattr(exc, FAILED_SEQ, 0), getattr(exc, FAILED_ATTEMPTS, 0)


@dataclass(frozen=True)
class Reply:
    """A request's reply with its link timing (monotonic seconds)."""

    message: Message
    seq: int
    request: Message
    submitted_at: float  # when request() was called (before waiting for credit)
    granted_at: float  # when credit was free and encoding began
    sent_at: float  # when the answered attempt was written
    received_at: float  # when the reply was decoded
    attempts: int  # 1 unless retried
    wire_out: int  # bytes of the request on the wire
    wire_in: int  # bytes of the reply on the wire

    @property
    def rtt(self) -> float:
        """Seconds from writing the request to decoding its reply."""
        return self.received_at - self.sent_at


@dataclass(frozen=True)
class SessionStats:
    """A snapshot of link figures; rates over the last `window_s` seconds."""

    state: LinkState
    fps: float = 0.0  # replies per second
    tx_bytes_per_s: float = 0.0
    rx_bytes_per_s: float = 0.0
    rtt_last_ms: float = 0.0
    rtt_p50_ms: float = 0.0
    rtt_max_ms: float = 0.0
    in_flight: int = 0
    replies: int = 0
    timeouts: int = 0
    retries: int = 0
    device_errors: int = 0
    decode_errors: dict[str, int] = field(default_factory=dict)
    late_replies: int = 0
    unmatched_replies: int = 0
    device_notices: int = 0  # ERRORs with seq 0 (SPEC 1.1 §3): e.g. a frame too large, never a request's
    lost_by_order: int = 0  # retries sent at once because a later request was answered first
    late_accepted: int = 0  # replies to a retired attempt that completed their still-open request
    busy_resends: int = 0  # requests resent after ERROR BUSY
    reconnects: int = 0
    bytes_out: int = 0
    bytes_in: int = 0
    window_s: float = 2.0

    @property
    def errors(self) -> int:
        """Every failure counted on this link (timeouts, device errors, bad frames)."""
        return self.timeouts + self.device_errors + sum(self.decode_errors.values())


@dataclass
class _Pending:
    request: Message
    future: Future
    submitted_at: float
    timeout: float
    retries_left: int
    granted_at: float = 0.0
    wire: bytes = b""
    sent_at: float = 0.0
    deadline: float = 0.0
    attempts: int = 0
    fixed_timeout: bool = False  # the caller chose the timeout: do not adapt it on retries
    seq: int = 0  # the sequence number of the current attempt
    order: int = 0  # position of the current attempt in the write order (loss by order)
    earlier: list[tuple[int, int, float]] = field(default_factory=list)  # (seq, order, sent_at) of retired attempts
    busy_resends: int = 0  # BUSY answers resent (they do not use up retries)


class _RttEstimator:
    """Smoothed round trip and its mean deviation (RFC 6298 gains) for one kind of request."""

    MIN_SAMPLES = 8
    FLOOR_S = 0.02

    def __init__(self) -> None:
        self.srtt = self.rttvar = 0.0
        self.samples = 0

    def add(self, rtt: float) -> None:
        if self.samples == 0:
            self.srtt, self.rttvar = rtt, rtt / 2
        else:
            self.rttvar += 0.25 * (abs(self.srtt - rtt) - self.rttvar)
            self.srtt += 0.125 * (rtt - self.srtt)
        self.samples += 1

    def timeout(self) -> float | None:
        """SPEC 1.1 §4 round-trip timeout, or None until enough replies were seen."""
        if self.samples < self.MIN_SAMPLES:
            return None
        return max(self.FLOOR_S, self.srtt + 4 * self.rttvar, 2 * self.srtt)


Opener = Callable[[str], Transport]


class Session:
    """One link to one board. Thread-safe: any thread may call `request()` and friends."""

    def __init__(self, url: str, *, baudrate: int | None = None, opener: Opener | None = None,
                 hello_timeout: float = 2.0, base_timeout: float = 0.5, retries: int = 2,
                 reconnect: bool = True, max_reconnects: int | None = None, max_backoff: float = 4.0,
                 on_state: Callable[[LinkState, str], None] | None = None,
                 on_info: Callable[[Info], None] | None = None,
                 on_log: Callable[[Log], None] | None = None) -> None:
        self.url = url
        self._opener: Opener = opener or (lambda u: open_transport(u, baudrate=baudrate))
        self.hello_timeout = hello_timeout
        self.base_timeout = base_timeout
        self.retries = retries
        self.auto_reconnect = reconnect
        self.max_reconnects = max_reconnects
        self.max_backoff = max_backoff
        self.on_state = on_state
        self.on_info = on_info
        self.on_log = on_log

        self._lock = threading.RLock()
        self._credit_free = threading.Condition(self._lock)
        self._write_lock = threading.Lock()  # held while writing; never while holding _lock
        self._outbox: list[tuple[Transport | None, bytes]] = []  # queued under _lock, written under _write_lock
        self._order = itertools.count(1)
        self._rtt: dict[object, _RttEstimator] = {}
        self._pending: dict[int, _Pending] = {}
        self._retired: collections.OrderedDict[int, None] = collections.OrderedDict()
        self._owners: dict[int, _Pending] = {}  # retired attempt seq -> its request, while that is unanswered
        self._seq = 0
        self._transport: Transport | None = None
        self._decoder = Decoder()
        self._reader: threading.Thread | None = None
        self._closing = threading.Event()
        self._kick_reconnect = threading.Event()
        self._state = LinkState.DISCONNECTED
        self._state_detail = ""
        self.info: Info | None = None
        self._infer_ticks: dict[int, float] = {}  # model -> recent t_infer in seconds
        self._infer_rtt: dict[int, float] = {}  # model -> longest recent INFER round trip (wall clock, s)
        self._consecutive_failures = 0
        self._counts = collections.Counter()
        self._decode_errors: collections.Counter[str] = collections.Counter()
        self._reply_times: collections.deque[float] = collections.deque()
        self._rtts: collections.deque[float] = collections.deque(maxlen=256)
        self._byte_marks: collections.deque[tuple[float, int, int]] = collections.deque()
        self._bytes_base = (0, 0)  # counters of transports closed by reconnects

    # -- state -----------------------------------------------------------------------------
    @property
    def state(self) -> LinkState:
        """The link state (connecting / connected / reconnecting / failed / disconnected)."""
        return self._state

    @property
    def state_detail(self) -> str:
        """Why the state last changed, in words."""
        return self._state_detail

    def _set_state(self, state: LinkState, detail: str = "") -> None:
        with self._lock:
            if state is self._state and detail == self._state_detail:
                return
            self._state, self._state_detail = state, detail
        if self.on_state:
            self.on_state(state, detail)

    @property
    def credit(self) -> int:
        """Requests allowed in flight (INFO.rx_credit; 1 before the handshake)."""
        return max(1, self.info.rx_credit) if self.info else 1

    @property
    def max_payload(self) -> int:
        """Largest request payload the board accepts (256 before INFO)."""
        return self.info.max_payload if self.info else BOOTSTRAP_MAX_PAYLOAD

    @property
    def in_flight(self) -> int:
        """Requests sent and not yet answered."""
        with self._lock:
            return len(self._pending)

    # -- connect / close --------------------------------------------------------------------
    def connect(self) -> Info:
        """Open the port, handshake, start the reader thread and return the board's INFO.

        Raises PortNotFound / PortBusy / PortPermissionDenied (from the
        transport), NotAnEdgeloopBoard or UnsupportedVersion.
        """
        if self._reader is not None:
            raise RuntimeError("session already connected; create a new Session to connect again")
        self._closing.clear()
        self._set_state(LinkState.CONNECTING, f"opening {self.url}")
        try:
            self._open_and_handshake()
        except Exception as exc:
            self._set_state(LinkState.FAILED, str(exc))
            raise
        self._reader = threading.Thread(target=self._reader_main, name=f"edgeloop-session {self.url}",
                                        daemon=True)
        self._reader.start()
        assert self.info is not None
        return self.info

    def close(self) -> None:
        """Stop the reader, fail what is in flight and close the port; safe to call twice."""
        self._closing.set()
        reader = self._reader
        if reader is not None and reader is not threading.current_thread():
            reader.join(timeout=5.0)
        self._reader = None
        self._fail_all(LinkLost(f"session to {self.url} closed"))
        self._drop_transport()
        self._set_state(LinkState.DISCONNECTED, "closed")

    def reconnect(self) -> None:
        """Ask the reader thread to drop the link and reconnect now (also leaves FAILED)."""
        self._kick_reconnect.set()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _drop_transport(self) -> None:
        with self._lock:
            transport, self._transport = self._transport, None
        if transport is not None:
            self._bytes_base = (self._bytes_base[0] + transport.bytes_out, self._bytes_base[1] + transport.bytes_in)
            transport.close()

    def _open_and_handshake(self) -> None:
        transport = self._opener(self.url)
        try:
            info = self._handshake(transport)
            info = self._complete_descriptors(transport, info)
        except BaseException:
            transport.close()
            raise
        with self._lock:
            self._transport = transport
            self._decoder = Decoder(max_payload=max(info.max_payload, 65535))
            self.info = info
            self._consecutive_failures = 0
        self._set_state(LinkState.CONNECTED, f"{info.board} on {self.url}")
        if self.on_info:
            self.on_info(info)

    def _handshake(self, transport: Transport) -> Info:
        """Send 0x00 + HELLO and wait for a matching INFO (re-sending HELLO every half second)."""
        decoder = Decoder()
        seq = self._next_seq()
        hello = b"\x00" + encode_message(Hello(PROTOCOL_VERSION), seq, max_payload=BOOTSTRAP_MAX_PAYLOAD)
        transport.write(hello)
        start = time.monotonic()
        deadline = start + self.hello_timeout
        resend_at = start + 0.5
        junk = others = 0
        while (now := time.monotonic()) < deadline:
            if self._closing.is_set():
                raise LinkLost(f"session to {self.url} closed during the handshake")
            if now >= resend_at:
                seq = self._next_seq()
                transport.write(encode_message(Hello(PROTOCOL_VERSION), seq, max_payload=BOOTSTRAP_MAX_PAYLOAD))
                resend_at = now + 0.5
            for event in decoder.feed(transport.read_some(timeout=min(0.05, deadline - now))):
                if isinstance(event, DecodeError):
                    if event.kind == "version":
                        raise UnsupportedVersion(self._version_text(f"frames of protocol {event.detail}"))
                    junk += 1
                    continue
                message = event.message
                if isinstance(message, Log):
                    self._emit_log(message)
                elif isinstance(message, Error) and message.code == ErrorCode.UNSUPPORTED_VERSION:
                    raise UnsupportedVersion(self._version_text(f"an ERROR: {message.text}"))
                elif isinstance(message, Info):
                    if message.proto_major not in HOST_SPEAKS:
                        raise UnsupportedVersion(self._version_text(f"protocol {message.proto_major}"))
                    return message
                else:
                    others += 1
        got = transport.bytes_in
        if not got:
            heard = "it sent nothing"
        elif others and not junk:
            heard = f"it sent {others} frames but no INFO: a loopback echoing our own requests?"
        else:
            heard = (f"it sent {got} bytes that are not edgeloop replies: another firmware, or a wrong "
                     f"baud rate")
        raise NotAnEdgeloopBoard(
            f"no edgeloop INFO from {self.url} within {self.hello_timeout:g} s ({heard}); the device there "
            f"does not speak the edgeloop protocol: check the port (`edgeloop ports`) and flash the firmware "
            f"(`edgeloop firmware flash`)")

    def _complete_descriptors(self, transport: Transport, info: Info) -> Info:
        """Replace abridged descriptors (SPEC 1.1 §5.3) by the full ones, read with DESCRIBE_MODEL pages."""
        if not any(m.abridged for m in info.models):
            return info
        if not info.has(Capability.DESCRIBE):
            raise LinkError(f"the board at {self.url} sent abridged model descriptors but does not serve "
                            f"DESCRIBE_MODEL: its firmware breaks SPEC 1.1 §5.3; update the firmware")
        models = tuple(self._describe(transport, model_id) if m.abridged else m
                       for model_id, m in zip(info.model_ids, info.models))
        return replace(info, models=models)

    def _describe(self, transport: Transport, model_id: int, page: int = 4096) -> ModelDescriptor:
        """Read one model's full descriptor body page by page (handshake time: no reader thread yet)."""
        decoder, body, total = Decoder(), bytearray(), None
        while total is None or len(body) < total:
            seq = self._next_seq()
            transport.write(b"\x00" + encode_message(DescribeModel(model_id, len(body), page), seq,
                                                      max_payload=BOOTSTRAP_MAX_PAYLOAD))
            reply = self._await_reply(transport, decoder, seq)
            if isinstance(reply, Error):
                raise LinkError(f"the board at {self.url} refused DESCRIBE_MODEL {model_id}: {reply}")
            if not isinstance(reply, ModelDescription) or reply.offset != len(body) or (
                    not reply.chunk and reply.offset < reply.total):
                raise LinkError(f"the board at {self.url} answered DESCRIBE_MODEL {model_id} with {reply!r}")
            body += reply.chunk
            total = reply.total
        return ModelDescriptor.decode_body(bytes(body), f"model {model_id} description")

    def _await_reply(self, transport: Transport, decoder: Decoder, seq: int) -> Message:
        """The reply to `seq` within hello_timeout, logs passed on and other frames skipped."""
        deadline = time.monotonic() + self.hello_timeout
        while (left := deadline - time.monotonic()) > 0:
            for event in decoder.feed(transport.read_some(timeout=min(0.05, left))):
                if isinstance(event, Frame) and isinstance(event.message, Log) and event.seq == 0:
                    self._emit_log(event.message)
                elif isinstance(event, Frame) and event.seq == seq:
                    return event.message
        raise NotAnEdgeloopBoard(f"the board at {self.url} did not answer within {self.hello_timeout:g} s "
                                 f"during the handshake")

    def _version_text(self, what: str) -> str:
        speaks = ", ".join(str(v) for v in HOST_SPEAKS)
        return (f"the board at {self.url} answered with {what}; this host speaks protocol version {speaks}. "
                f"Update edgeloop or the board firmware so that both speak the same major version")

    # -- requests -------------------------------------------------------------------------------
    def _next_seq(self) -> int:
        with self._lock:
            while True:
                self._seq = self._seq % 0xFFFF + 1  # 1..65535, never 0 (SPEC §3)
                if self._seq not in self._pending and self._seq not in self._retired:
                    return self._seq

    @staticmethod
    def _kind(request: Message) -> object:
        """What round trips are alike: INFER of one model, or one request type."""
        return ("infer", request.model) if isinstance(request, Infer) else type(request)

    def _expected_timeout(self, request: Message) -> float:
        """SPEC 1.1 §4: the round-trip timeout of this kind once known, else the wire-time formula."""
        measured = self._rtt.get(self._kind(request))
        if measured is not None and (timeout := measured.timeout()) is not None and not isinstance(request, Bench):
            return timeout
        return self._formula_timeout(request)

    def _formula_timeout(self, request: Message) -> float:
        """SPEC §4: base + 3 × (request + reply wire time) + expected compute, × credit for queueing."""
        transport = self._transport
        byte_rate = transport.byte_rate if transport else 92160.0
        reply_bytes = 64
        compute = seen = 0.0
        info = self.info
        if isinstance(request, (Infer, Bench)) and info and info.models:
            index = info.active_model if request.model == ACTIVE_MODEL else request.model
            model = info.model_by_id(index)  # a stable id (SPEC §9.4), not a list position
            if model is not None:
                reply_bytes += model.output.nbytes
                compute = self._infer_ticks.get(index, 0.0)
                seen = self._infer_rtt.get(index, 0.0)
                if isinstance(request, Bench):
                    compute *= request.runs
        elif isinstance(request, Ping):
            reply_bytes += len(request.data)
        wire = (len(request.encode_payload()) * 1.01 + 16 + reply_bytes) / byte_rate
        # Up to `credit` requests queue ahead on the wire and in the device, so a request may wait
        # for that many transfers and inferences before its own: scale both terms by the credit.
        formula = self.base_timeout + (3 * wire + compute) * self.credit
        # A link slower than its nominal rate (QEMU's emulated UART, a busy USB hub) shows in the round
        # trips seen so far: never time out before three of those have passed.
        return max(formula, 3 * seen) if isinstance(request, Infer) else formula

    def request(self, message: Message, *, timeout: float | None = None, retries: int | None = None,
                credit_timeout: float | None = None) -> Future:
        """Send `message` when credit allows and return a Future of its `Reply`.

        Blocks while `credit` requests are in flight (up to `credit_timeout`
        seconds; None waits forever). The future fails with DeviceError,
        RequestTimeout or LinkLost. `timeout` overrides the per-attempt
        timeout from SPEC §4.
        """
        submitted = time.monotonic()
        with self._credit_free:
            end = None if credit_timeout is None else submitted + credit_timeout
            while True:
                if self._closing.is_set():
                    raise LinkLost(f"session to {self.url} is closed")
                if self._state is not LinkState.CONNECTED or self._transport is None:
                    if self._state is LinkState.FAILED:
                        raise LinkLost(f"link to {self.url} failed: {self._state_detail}")
                elif len(self._pending) < self.credit:
                    break
                left = None if end is None else end - time.monotonic()
                if left is not None and left <= 0:
                    raise RequestTimeout(f"no free credit on {self.url} within {credit_timeout:g} s "
                                       f"({len(self._pending)} requests in flight)")
                self._credit_free.wait(0.1 if left is None else min(left, 0.1))
            pending = _Pending(message, Future(), submitted,
                               timeout if timeout is not None else self._expected_timeout(message),
                               self.retries if retries is None else retries, fixed_timeout=timeout is not None)
            pending.future.set_running_or_notify_cancel()
            pending.granted_at = time.monotonic()
            self._send_locked(self._next_seq(), pending)
        self._flush_writes()
        return pending.future

    def wait_credit(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds until a request could be sent now; True when it could."""
        end = time.monotonic() + timeout
        with self._credit_free:
            while not (self._state is LinkState.CONNECTED and len(self._pending) < self.credit):
                left = end - time.monotonic()
                if left <= 0 or self._closing.is_set():
                    return False
                self._credit_free.wait(min(left, 0.05))
            return True

    def _send_locked(self, seq: int, pending: _Pending) -> None:
        """Encode and register one attempt of `pending` under `seq` and queue its bytes (lock held).

        The caller writes the queue with `_flush_writes()` after releasing the lock. Every frame goes
        out behind a 0x00 (SPEC 1.1 §2), so a frame that lost its delimiter cannot swallow this one.
        """
        pending.wire = encode_message(pending.request, seq, max_payload=self.max_payload)
        pending.attempts += 1
        if pending.attempts > 1 and not pending.fixed_timeout:
            # Back off: the link may be slower than assumed (round trips seen since then show it too).
            pending.timeout = max(2 * pending.timeout, self._expected_timeout(pending.request))
            if pending.retries_left == 0:
                # The last attempt decides whether the request fails: give it the full SPEC §4 formula,
                # so a line that is slow rather than lossy (delays) costs time, not failed requests.
                pending.timeout = max(pending.timeout, self._formula_timeout(pending.request))
        pending.sent_at = time.monotonic()  # after encoding: encode time is host overhead, not link time
        pending.deadline = pending.sent_at + pending.timeout
        pending.seq, pending.order = seq, next(self._order)
        self._pending[seq] = pending
        self._outbox.append((self._transport, b"\x00" + pending.wire))

    def _flush_writes(self) -> None:
        """Write queued frames in queue order, outside the session lock (any thread may call it)."""
        with self._write_lock:
            while True:
                with self._lock:
                    if not self._outbox:
                        return
                    batch, self._outbox = self._outbox, []
                for transport, data in batch:
                    if transport is None or transport is not self._transport:
                        continue  # queued for a link that has since been dropped: its requests failed with it
                    try:
                        transport.write(data)
                    except LinkLost:
                        # The reader thread sees the same failure and reconnects; these requests fail with it.
                        self._kick_reconnect.set()

    def call(self, message: Message, timeout: float | None = None) -> Message:
        """Send `message`, wait for its reply and return the reply message (raises on failure)."""
        future = self.request(message, credit_timeout=timeout)
        return future.result(timeout=None if timeout is None else timeout + 30.0).message

    def infer(self, data: bytes, model: int = ACTIVE_MODEL, **kwargs) -> Future:
        """Queue an INFER of raw input tensor bytes; the future's `Reply.message` is a `Result`."""
        return self.request(Infer(model, bytes(data)), **kwargs)

    def select_model(self, model_id: int) -> int:
        """Make the model with stable id `model_id` (SPEC §9.4; not a list position) the active one;
        returns the board's confirmed active id."""
        reply = self.call(SelectModel(model_id), timeout=10.0)
        assert isinstance(reply, ModelSelected)
        with self._lock:
            if self.info is not None:
                self.info = replace(self.info, active_model=reply.active_model)
        return reply.active_model

    def list_models(self) -> ModelList:
        """Ask the board for its models (the INFO list, refreshed)."""
        reply = self.call(ListModels(), timeout=10.0)
        assert isinstance(reply, ModelList)
        return reply

    def ping(self, data: bytes = b"edgeloop") -> float:
        """Round-trip a PING and return the RTT in seconds."""
        future = self.request(Ping(data))
        reply = future.result(timeout=30.0)
        assert isinstance(reply.message, Pong) and reply.message.data == data
        return reply.rtt

    def device_stats(self) -> StatsReply:
        """The board's STATS counters."""
        reply = self.call(Stats(), timeout=10.0)
        assert isinstance(reply, StatsReply)
        return reply

    def bench(self, runs: int = 100, model: int = ACTIVE_MODEL) -> BenchResult:
        """Run the model `runs` times on the board and return min/max/total ticks.

        With no inference time known for the model yet, one run under a 10 s timeout comes first
        (SPEC 1.1 §4), so the timeout of the real BENCH scales with what the board takes.
        """
        index = self.info.active_model if self.info and model == ACTIVE_MODEL else model
        if index not in self._infer_ticks and runs > 1:
            probe = self.request(Bench(model, 1), timeout=10.0).result().message
            assert isinstance(probe, BenchResult)
            if probe.tick_hz:
                self._infer_ticks[index] = probe.total / probe.tick_hz
        reply = self.request(Bench(model, runs)).result().message
        assert isinstance(reply, BenchResult)
        return reply

    def map(self, items: Iterable[T], to_message: Callable[[T], Message] | None = None, *,
            window: int | None = None, retries: int | None = None,
            credit_timeout: float | None = None) -> Iterator[Outcome[T]]:
        """Send one request per item through the credit window; yield their outcomes in item order.

        `to_message` turns an item into its request (default: the item is the message). At most
        `window` (default: the board's credit) of this map's requests are in flight. Items are pulled
        from `items` by a feeder thread only when a request could go out, so a live source is read
        when its newest frame can be sent, and completed outcomes are yielded while the next item is
        still being produced. A failed request yields an Outcome with its error, its last seq and
        attempts; an exception raised by `items` is raised here after the outcomes before it.
        Closing the iterator early stops the feeder (requests in flight still complete).
        `credit_timeout`: an item that finds no credit for that long (a link that stays down) yields an
        Outcome with a TimeoutError instead of waiting forever.
        """
        convert = to_message or (lambda item: item)  # type: ignore[assignment,return-value]
        queue: collections.deque[tuple[T, Future | BaseException]] = collections.deque()
        changed = threading.Condition()
        done = threading.Event()
        stop = threading.Event()
        failure: list[BaseException] = []

        def room() -> bool:
            limit = window or self.credit
            in_flight = sum(1 for _, f in queue if isinstance(f, Future) and not f.done())
            # A consumer slower than the board holds the feeder back too: outcomes queue up to a bound.
            return in_flight < limit and len(queue) < 4 * limit + 8

        def feeder() -> None:
            try:
                for item in items:
                    while not stop.is_set():
                        with changed:
                            if room():
                                break
                            changed.wait(0.05)
                    if stop.is_set():
                        return
                    future: Future | BaseException
                    waiting_since = time.monotonic()
                    while True:
                        try:
                            future = self.request(convert(item), retries=retries, credit_timeout=0.2)
                        except TimeoutError as exc:
                            if stop.is_set():
                                return
                            if credit_timeout is not None and time.monotonic() - waiting_since >= credit_timeout:
                                future = RequestTimeout(f"no credit on {self.url} within {credit_timeout:g} s: "
                                                      f"the board stopped answering ({exc})")
                                break
                            continue  # no credit yet (another user of the session, or reconnecting)
                        except LinkLost as exc:
                            if self._closing.is_set():
                                raise
                            setattr(exc, FAILED_SEQ, 0)
                            setattr(exc, FAILED_ATTEMPTS, 0)
                            future = exc
                            stop.wait(0.1)  # the link is down: do not spin through the items
                        break
                    with changed:
                        queue.append((item, future))
                        changed.notify_all()
                    if isinstance(future, Future):
                        future.add_done_callback(lambda _f: _notify(changed))
            except BaseException as exc:  # the item source failed: raised to the consumer in order
                failure.append(exc)
            finally:
                done.set()
                _notify(changed)

        thread = threading.Thread(target=feeder, name=f"edgeloop-map {self.url}", daemon=True)
        thread.start()
        try:
            while True:
                with changed:
                    while not (queue and (not isinstance(queue[0][1], Future) or queue[0][1].done())) and not (
                            done.is_set() and not queue):
                        changed.wait(0.05)
                    if not queue:
                        break
                    item, future = queue.popleft()
                    changed.notify_all()
                yield self._outcome(item, future)
            if failure:
                raise failure[0]
        finally:
            stop.set()
            _notify(changed)

    @staticmethod
    def _outcome(item: T, future: Future | BaseException) -> Outcome[T]:
        if isinstance(future, BaseException):
            return Outcome(item, None, future, *failure_of(future))
        exc = future.exception()
        if exc is not None:
            return Outcome(item, None, exc, *failure_of(exc))
        reply: Reply = future.result()
        return Outcome(item, reply, None, reply.seq, reply.attempts)

    # -- reader thread -----------------------------------------------------------------------
    def _reader_main(self) -> None:
        while not self._closing.is_set():
            if self._kick_reconnect.is_set() or self._transport is None:
                self._kick_reconnect.clear()
                if not self._reconnect_loop():
                    return
                continue
            try:
                data = self._transport.read_some(timeout=0.02)
            except LinkLost as exc:
                if self._closing.is_set():
                    return
                self._link_lost(str(exc))
                continue
            if data:
                self.feed(data)
            self._check_timeouts()
            self._sample_bytes()

    def feed(self, data: bytes) -> None:
        """Decode received bytes and complete the matching requests (the reader thread calls this)."""
        now = time.monotonic()
        for event in self._decoder.feed(data):
            if isinstance(event, Frame):
                self._on_frame(event, now)
            else:
                self._on_decode_error(event)
        self._flush_writes()  # retries queued by loss-by-order or BUSY

    def _on_frame(self, frame: Frame, now: float) -> None:
        message = frame.message
        if frame.seq == 0:
            # SPEC 1.1 §3: seq 0 answers no request. A LOG is shown; an ERROR (a frame too large, a request
            # numbered 0) is counted and shown, and never fails a request: its header was not verified.
            if isinstance(message, Error):
                with self._lock:
                    self._counts["notices"] += 1
                message = Log(2, f"board: {message}")
            if isinstance(message, Log):
                self._emit_log(message)
            return
        failed: list[_Pending] = []
        busy = isinstance(message, Error) and message.code == ErrorCode.BUSY
        with self._lock:
            pending = self._pending.pop(frame.seq, None)
            order = pending.order if pending is not None else 0
            if pending is None:
                pending, order = self._late_owner_locked(frame.seq, busy)
                if pending is None:
                    return
            self._credit_free.notify_all()
            self._consecutive_failures = 0
            if not busy:
                failed = self._lost_by_order_locked(order)
            if busy:
                if pending.busy_resends < self.MAX_BUSY_RESENDS:
                    # The board is alive but full (it still held an attempt we had given up on): resend.
                    pending.busy_resends += 1
                    self._counts["busy_resends"] += 1
                    self._retire_attempt(pending)
                    self._send_locked(self._next_seq(), pending)
                    return
                self._counts["device_errors"] += 1
                error: BaseException | None = DeviceError(message, pending.request)
            elif isinstance(message, Error):
                self._counts["device_errors"] += 1
                error = DeviceError(message, pending.request)
            elif int(message.TYPE) != int(pending.request.TYPE) | 0x80:
                self._counts["unmatched"] += 1
                error = LinkError(f"board answered {type(pending.request).__name__} (seq {frame.seq}) "
                                  f"with {type(message).__name__}")
            else:
                error = None
                self._counts["replies"] += 1
                self._reply_times.append(now)
                while now - self._reply_times[0] > self.REPLY_TIMES_KEPT_S:  # bounded without stats() calls
                    self._reply_times.popleft()
                self._rtts.append(now - pending.sent_at)
                if isinstance(message, Result) and message.tick_hz:
                    self._infer_ticks[message.model] = message.t_infer / message.tick_hz
                if isinstance(message, Result):
                    # Decays slowly so one slow reply does not stretch timeouts for long.
                    rtt = now - pending.sent_at
                    self._infer_rtt[message.model] = max(rtt, 0.9 * self._infer_rtt.get(message.model, rtt))
                if pending.attempts == 1:  # Karn: a retried request's round trip is ambiguous
                    self._rtt.setdefault(self._kind(pending.request), _RttEstimator()).add(now - pending.sent_at)
        self._fail_requests(failed)
        if error is not None:
            self._fail(pending, error)
        else:
            self._forget_attempts(pending)
            pending.future.set_result(Reply(message, frame.seq, pending.request, pending.submitted_at,
                                            pending.granted_at, pending.sent_at, now, pending.attempts, len(pending.wire),
                                            frame.wire_size))

    def _on_decode_error(self, event: DecodeError) -> None:
        with self._lock:
            self._decode_errors[event.kind] += 1
            pending = self._pending.pop(event.seq, None) if event.kind in ("payload", "version") else None
            if pending is not None:
                self._credit_free.notify_all()
        if pending is not None:
            self._fail(pending, LinkError(f"bad reply to {type(pending.request).__name__}: {event}"))

    MAX_BUSY_RESENDS = 8
    REPLY_TIMES_KEPT_S = 10.0  # reply instants kept for stats() rates (windows up to this long)

    def _late_owner_locked(self, seq: int, busy: bool) -> tuple[_Pending | None, int]:
        """A reply to a retired attempt: the request it belongs to, if still unanswered (lock held).

        The reply answers that very request (the seq names the attempt, and every attempt carries the
        same request), so it completes the request at once and its newer attempt is retired instead:
        a timeout that fired too early then costs nothing but a duplicate on the wire.
        """
        owner = self._owners.pop(seq, None)
        if owner is None or busy or self._pending.get(owner.seq) is not owner:
            self._counts["late" if seq in self._retired else "unmatched"] += 1
            return None, 0
        order, sent_at = next((o, t) for s, o, t in owner.earlier if s == seq)
        del self._pending[owner.seq]
        self._retire(owner.seq)
        owner.seq, owner.sent_at = seq, sent_at
        self._counts["late_accepted"] += 1
        return owner, order

    def _retire_attempt(self, pending: _Pending) -> None:
        """Retire the current attempt of a request that will be resent (lock held, already out of _pending)."""
        pending.earlier.append((pending.seq, pending.order, pending.sent_at))
        self._owners[pending.seq] = pending
        self._retire(pending.seq)

    def _lost_by_order_locked(self, answered_order: int) -> list[_Pending]:
        """SPEC 1.1 §3: requests written before an answered one are lost; resend them now (lock held).

        Only for a 1.1 device, which promises to answer in order. Returns the requests out of retries.
        """
        if self.info is None or self.info.proto_minor < 1:
            return []
        out_of_retries: list[_Pending] = []
        for seq, pending in sorted(self._pending.items(), key=lambda kv: kv[1].order):
            if pending.order >= answered_order:
                break
            del self._pending[seq]
            if pending.retries_left > 0:
                pending.retries_left -= 1
                self._counts["retries"] += 1
                self._counts["lost_by_order"] += 1
                self._retire_attempt(pending)
                self._send_locked(self._next_seq(), pending)
            else:
                self._retire(seq)
                self._counts["timeouts"] += 1
                out_of_retries.append(pending)
        return out_of_retries

    def _fail(self, pending: _Pending, exc: BaseException) -> None:
        """Fail a request's future with `exc`, which carries the request's last seq and attempts."""
        self._forget_attempts(pending)
        setattr(exc, FAILED_SEQ, pending.seq)
        setattr(exc, FAILED_ATTEMPTS, pending.attempts)
        if not pending.future.done():
            pending.future.set_exception(exc)

    def _forget_attempts(self, pending: _Pending) -> None:
        """The request is done: replies to its retired attempts are plain late replies from now on."""
        with self._lock:
            for seq, _, _ in pending.earlier:
                if self._owners.get(seq) is pending:
                    del self._owners[seq]

    def _fail_requests(self, failed: list[_Pending]) -> None:
        for pending in failed:
            self._fail(pending, RequestTimeout(
                f"{type(pending.request).__name__} got no reply from {self.url} after {pending.attempts} "
                f"attempts (a later request was answered first each time: the line loses frames)"))

    def _retire(self, seq: int) -> None:
        self._retired[seq] = None
        while len(self._retired) > 1024:
            self._retired.popitem(last=False)

    def _check_timeouts(self) -> None:
        now = time.monotonic()
        failed: list[_Pending] = []
        lost = False
        with self._lock:
            for seq, pending in list(self._pending.items()):
                if now < pending.deadline:
                    continue
                del self._pending[seq]
                if pending.retries_left > 0:
                    pending.retries_left -= 1
                    self._counts["retries"] += 1
                    self._retire_attempt(pending)
                    self._send_locked(self._next_seq(), pending)
                    continue
                self._retire(seq)
                self._counts["timeouts"] += 1
                self._consecutive_failures += 1
                failed.append(pending)
                self._credit_free.notify_all()
            lost = self._consecutive_failures >= 3
        for pending in failed:
            self._fail(pending, RequestTimeout(
                f"{type(pending.request).__name__} got no reply from {self.url} after {pending.attempts} "
                f"attempts of {pending.timeout:.2f} s"))
        self._flush_writes()
        if lost:
            self._link_lost("3 requests in a row got no reply")

    def _fail_all(self, exc: BaseException) -> None:
        """Fail every request in flight with a copy of `exc` each (each copy carries its own seq)."""
        with self._lock:
            pending = list(self._pending.items())
            self._pending.clear()
            self._outbox.clear()
            self._owners.clear()
            for seq, _ in pending:
                self._retire(seq)
            self._credit_free.notify_all()
        for _, p in pending:
            self._fail(p, type(exc)(*exc.args))

    def _link_lost(self, why: str) -> None:
        self._drop_transport()
        self._fail_all(LinkLost(f"link to {self.url} lost: {why}"))
        if not self.auto_reconnect:
            self._set_state(LinkState.FAILED, f"link lost: {why}")
            self._closing.set()
        else:
            self._set_state(LinkState.RECONNECTING, f"link lost: {why}")

    def _reconnect_loop(self) -> bool:
        """Reconnect with exponential backoff; False when the session should stop."""
        self._drop_transport()
        self._fail_all(LinkLost(f"link to {self.url} is reconnecting"))
        delay, attempt = 0.2, 0
        while not self._closing.is_set():
            attempt += 1
            self._set_state(LinkState.RECONNECTING, f"attempt {attempt} to reach {self.url}")
            try:
                self._open_and_handshake()
            except UnsupportedVersion as exc:
                self._set_state(LinkState.FAILED, str(exc))
                return self._wait_for_kick()
            except (LinkError, OSError) as exc:
                if self.max_reconnects is not None and attempt >= self.max_reconnects:
                    self._set_state(LinkState.FAILED, f"gave up after {attempt} attempts: {exc}")
                    return self._wait_for_kick()
                self._set_state(LinkState.RECONNECTING, f"attempt {attempt} failed: {exc}")
                if self._kick_reconnect.wait(delay):
                    self._kick_reconnect.clear()
                    delay, attempt = 0.2, 0
                delay = min(delay * 2, self.max_backoff)
                continue
            with self._lock:
                self._counts["reconnects"] += 1
            return True
        return False

    def _wait_for_kick(self) -> bool:
        """In FAILED: wait until reconnect() is called (True) or the session closes (False)."""
        while not self._closing.is_set():
            if self._kick_reconnect.wait(0.1):
                self._kick_reconnect.clear()
                return self._reconnect_loop()
        return False

    def _emit_log(self, message: Log) -> None:
        if self.on_log:
            self.on_log(message)

    # -- stats ---------------------------------------------------------------------------------
    def _byte_totals(self) -> tuple[int, int]:
        transport = self._transport
        out, inn = self._bytes_base
        if transport is not None:
            out, inn = out + transport.bytes_out, inn + transport.bytes_in
        return out, inn

    def _sample_bytes(self, window: float = 2.0) -> None:
        now = time.monotonic()
        with self._lock:
            if self._byte_marks and now - self._byte_marks[-1][0] < 0.05:
                return
            self._byte_marks.append((now, *self._byte_totals()))
            while len(self._byte_marks) > 2 and now - self._byte_marks[0][0] > window:
                self._byte_marks.popleft()

    def stats(self, window_s: float = 2.0) -> SessionStats:
        """Link figures now: reply rate, wire bytes/s, RTT, errors, reconnects."""
        now = time.monotonic()
        with self._lock:
            while self._reply_times and now - self._reply_times[0] > window_s:
                self._reply_times.popleft()
            replies_in_window = len(self._reply_times)
            rtts = sorted(self._rtts)
            counts = dict(self._counts)
            decode = dict(self._decode_errors)
            in_flight = len(self._pending)
            marks = list(self._byte_marks)
            last_rtt = self._rtts[-1] if self._rtts else 0.0
        tx = rx = 0.0
        if len(marks) >= 2 and marks[-1][0] > marks[0][0]:
            span = marks[-1][0] - marks[0][0]
            tx = (marks[-1][1] - marks[0][1]) / span
            rx = (marks[-1][2] - marks[0][2]) / span
        out, inn = self._byte_totals()
        return SessionStats(
            state=self._state, fps=replies_in_window / window_s, tx_bytes_per_s=tx, rx_bytes_per_s=rx,
            rtt_last_ms=last_rtt * 1e3,
            rtt_p50_ms=rtts[len(rtts) // 2] * 1e3 if rtts else 0.0,
            rtt_max_ms=rtts[-1] * 1e3 if rtts else 0.0, in_flight=in_flight,
            replies=counts.get("replies", 0), timeouts=counts.get("timeouts", 0),
            retries=counts.get("retries", 0), device_errors=counts.get("device_errors", 0),
            decode_errors=decode, late_replies=counts.get("late", 0),
            unmatched_replies=counts.get("unmatched", 0), reconnects=counts.get("reconnects", 0),
            device_notices=counts.get("notices", 0), lost_by_order=counts.get("lost_by_order", 0),
            late_accepted=counts.get("late_accepted", 0), busy_resends=counts.get("busy_resends", 0),
            bytes_out=out, bytes_in=inn, window_s=window_s)


def _notify(condition: threading.Condition) -> None:
    with condition:
        condition.notify_all()
