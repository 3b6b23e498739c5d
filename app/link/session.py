"""A protocol session with one board: handshake, credit-windowed pipelining, timeouts, retries, reconnect.

No Qt here. A background reader thread decodes replies and completes
`concurrent.futures.Future`s; callers either block on `.result()` or attach
callbacks. Replies are matched to requests by sequence number only (SPEC §3).

- **Handshake** (SPEC §7-8): 0x00, HELLO, wait for INFO with a version this
  host speaks; a port that never answers raises `NotAnEdgeloopBoard`.
- **Credit**: at most `info.rx_credit` requests in flight; `request()` blocks
  for a free slot, so frame N+1 crosses the wire while frame N is inferred.
- **Timeouts and retries** (SPEC §4): a request times out after
  `base + 3 × wire time + expected compute`; it is resent up to `retries`
  times, each with a new sequence number; a late reply to a retired number is
  counted and dropped. Three consecutive failed requests mean the link is lost.
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
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field, replace

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
    DecodeError,
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


class DeviceError(RuntimeError):
    """The board answered a request with ERROR; `.error` holds its code and text."""

    def __init__(self, error: Error, request: Message) -> None:
        super().__init__(f"board refused {type(request).__name__}: {error}")
        self.error = error
        self.request = request


class RequestTimeout(TimeoutError):
    """No reply after every retry."""


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
        self._pending: dict[int, _Pending] = {}
        self._retired: collections.OrderedDict[int, None] = collections.OrderedDict()
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

    def _expected_timeout(self, request: Message) -> float:
        """SPEC §4: base + 3 × (request + reply wire time) + expected compute, × credit for queueing."""
        transport = self._transport
        byte_rate = transport.byte_rate if transport else 92160.0
        reply_bytes = 64
        compute = seen = 0.0
        info = self.info
        if isinstance(request, (Infer, Bench)) and info and info.models:
            index = info.active_model if request.model == ACTIVE_MODEL else request.model
            if 0 <= index < len(info.models):
                reply_bytes += info.models[index].output.nbytes
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
                    raise TimeoutError(f"no free credit on {self.url} within {credit_timeout:g} s "
                                       f"({len(self._pending)} requests in flight)")
                self._credit_free.wait(0.1 if left is None else min(left, 0.1))
            pending = _Pending(message, Future(), submitted,
                               timeout if timeout is not None else self._expected_timeout(message),
                               self.retries if retries is None else retries, fixed_timeout=timeout is not None)
            pending.future.set_running_or_notify_cancel()
            pending.granted_at = time.monotonic()
            seq = self._next_seq()
            self._send_locked(seq, pending)
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
        """Encode and write one attempt of `pending` under `seq` (lock held)."""
        pending.wire = encode_message(pending.request, seq, max_payload=self.max_payload)
        pending.attempts += 1
        if pending.attempts > 1 and not pending.fixed_timeout:
            # Back off: the link may be slower than assumed (round trips seen since then show it too).
            pending.timeout = max(2 * pending.timeout, self._expected_timeout(pending.request))
        pending.sent_at = time.monotonic()  # after encoding: encode time is host overhead, not link time
        pending.deadline = pending.sent_at + pending.timeout
        self._pending[seq] = pending
        transport = self._transport
        try:
            if transport is None:
                raise LinkLost(f"link to {self.url} is down")
            transport.write(pending.wire)
        except LinkLost:
            # The reader thread sees the same failure and reconnects; this request fails with it.
            self._kick_reconnect.set()

    def call(self, message: Message, timeout: float | None = None) -> Message:
        """Send `message`, wait for its reply and return the reply message (raises on failure)."""
        future = self.request(message, credit_timeout=timeout)
        return future.result(timeout=None if timeout is None else timeout + 30.0).message

    def infer(self, data: bytes, model: int = ACTIVE_MODEL, **kwargs) -> Future:
        """Queue an INFER of raw input tensor bytes; the future's `Reply.message` is a `Result`."""
        return self.request(Infer(model, bytes(data)), **kwargs)

    def select_model(self, index: int) -> int:
        """Make model `index` the active one; returns the board's confirmed index."""
        reply = self.call(SelectModel(index), timeout=10.0)
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
        """Run the model `runs` times on the board and return min/max/total ticks."""
        reply = self.call(Bench(model, runs), timeout=60.0)
        assert isinstance(reply, BenchResult)
        return reply

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

    def _on_frame(self, frame: Frame, now: float) -> None:
        message = frame.message
        if isinstance(message, Log) and frame.seq == 0:
            self._emit_log(message)
            return
        with self._lock:
            pending = self._pending.pop(frame.seq, None)
            if pending is None:
                self._counts["late" if frame.seq in self._retired else "unmatched"] += 1
                return
            self._credit_free.notify_all()
            self._consecutive_failures = 0
            if isinstance(message, Error):
                if message.code == ErrorCode.BUSY and pending.retries_left > 0:
                    pending.retries_left -= 1
                    self._counts["retries"] += 1
                    self._retire(frame.seq)
                    self._send_locked(self._next_seq(), pending)
                    return
                self._counts["device_errors"] += 1
                error: BaseException | None = DeviceError(message, pending.request)
            elif int(message.TYPE) != int(pending.request.TYPE) | 0x80:
                self._counts["unmatched"] += 1
                error = LinkError(f"board answered {type(pending.request).__name__} (seq {frame.seq}) "
                                  f"with {type(message).__name__}")
            else:
                error = None
                self._counts["replies"] += 1
                self._reply_times.append(now)
                self._rtts.append(now - pending.sent_at)
                if isinstance(message, Result) and message.tick_hz:
                    self._infer_ticks[message.model] = message.t_infer / message.tick_hz
                if isinstance(message, Result):
                    # Decays slowly so one slow reply does not stretch timeouts for long.
                    rtt = now - pending.sent_at
                    self._infer_rtt[message.model] = max(rtt, 0.9 * self._infer_rtt.get(message.model, rtt))
        if error is not None:
            pending.future.set_exception(error)
        else:
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
            pending.future.set_exception(LinkError(f"bad reply to {type(pending.request).__name__}: {event}"))

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
                self._retire(seq)
                if pending.retries_left > 0:
                    pending.retries_left -= 1
                    self._counts["retries"] += 1
                    self._send_locked(self._next_seq(), pending)
                    continue
                self._counts["timeouts"] += 1
                self._consecutive_failures += 1
                failed.append(pending)
                self._credit_free.notify_all()
            lost = self._consecutive_failures >= 3
        for pending in failed:
            pending.future.set_exception(RequestTimeout(
                f"{type(pending.request).__name__} got no reply from {self.url} after {pending.attempts} "
                f"attempts of {pending.timeout:.2f} s"))
        if lost:
            self._link_lost("3 requests in a row got no reply")

    def _fail_all(self, exc: BaseException) -> None:
        with self._lock:
            pending = list(self._pending.items())
            self._pending.clear()
            for seq, _ in pending:
                self._retire(seq)
            self._credit_free.notify_all()
        for _, p in pending:
            if not p.future.done():
                p.future.set_exception(exc)

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
            bytes_out=out, bytes_in=inn, window_s=window_s)
