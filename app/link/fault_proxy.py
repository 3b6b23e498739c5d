"""A fault-injecting TCP proxy on loopback: bit flips, dropped bytes, garbage and delays, both directions.

It sits between a host and a board's TCP link and damages the byte stream
the way a noisy UART would, so recovery can be measured against the
product's own Session (bench/link_faults.py, tests/app/test_link_faults.py).
Faults are rates per byte, drawn from a seeded generator, and can be changed
or switched off while traffic flows.

Example::

    with FaultProxy(board.url, seed=1) as proxy:
        proxy.set_faults(Faults(bit_flip=1e-5))
        with Session(proxy.url) as session:
            ...
        print(proxy.counts)
"""

from __future__ import annotations

import math
import random
import socket
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlparse

from edgeloop import InputError


@dataclass(frozen=True)
class Faults:
    """Per-byte fault rates, applied independently to each direction.

    `bit_flip`: probability that a byte has one bit inverted. `drop`: that a
    byte is lost. `garbage`: that 1..8 random bytes are inserted before a
    byte. `delay`: that the stream stalls before a byte for a random time up
    to `delay_max_s` (order is kept, as on a real line).
    """

    bit_flip: float = 0.0
    drop: float = 0.0
    garbage: float = 0.0
    delay: float = 0.0
    delay_max_s: float = 0.05

    @property
    def active(self) -> bool:
        """True when any fault is switched on."""
        return any((self.bit_flip, self.drop, self.garbage, self.delay))


NO_FAULTS = Faults()


class _Gaps:
    """Distances between events of rate p per byte (geometric), so a clean byte costs nothing."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.left: dict[str, float] = {}

    def next(self, kind: str, rate: float) -> float:
        """Bytes until the next event of `kind` (inf when the rate is 0)."""
        if kind not in self.left:
            self.left[kind] = self._draw(rate)
        return self.left[kind]

    def consume(self, kind: str, n: int, rate: float) -> None:
        self.left[kind] = self.next(kind, rate) - n

    def fire(self, kind: str, rate: float) -> None:
        self.left[kind] = self._draw(rate)

    def reset(self) -> None:
        self.left.clear()

    def _draw(self, rate: float) -> float:
        if rate <= 0:
            return math.inf
        if rate >= 1:
            return 0
        return math.floor(math.log(1.0 - self.rng.random()) / math.log(1.0 - rate))


@dataclass
class FaultCounts:
    """What the proxy did so far, per direction ("up": host to board, "down": board to host)."""

    bytes: dict[str, int] = field(default_factory=lambda: {"up": 0, "down": 0})
    flips: dict[str, int] = field(default_factory=lambda: {"up": 0, "down": 0})
    drops: dict[str, int] = field(default_factory=lambda: {"up": 0, "down": 0})
    garbage: dict[str, int] = field(default_factory=lambda: {"up": 0, "down": 0})
    delays: dict[str, int] = field(default_factory=lambda: {"up": 0, "down": 0})


class FaultProxy:
    """Listens on 127.0.0.1 and relays each client to `upstream` (a socket:// URL) through the faults."""

    def __init__(self, upstream: str, *, seed: int = 0, faults: Faults = NO_FAULTS) -> None:
        parsed = urlparse(upstream)
        if parsed.scheme != "socket" or not parsed.hostname or not parsed.port:
            raise InputError(f"the fault proxy relays TCP links: expected socket://host:port, got {upstream!r}")
        self.upstream = (parsed.hostname, parsed.port)
        self.faults = faults
        self.counts = FaultCounts()
        self._rng = random.Random(seed)
        self._gaps = {"up": _Gaps(random.Random(seed * 2 + 1)), "down": _Gaps(random.Random(seed * 2 + 2))}
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.url = f"socket://127.0.0.1:{self._listener.getsockname()[1]}"
        self._stop = threading.Event()
        self._sockets: list[socket.socket] = []
        self._threads = [threading.Thread(target=self._accept_main, name="fault-proxy accept", daemon=True)]
        self._threads[0].start()

    def set_faults(self, faults: Faults) -> None:
        """Change the fault rates now (both directions)."""
        with self._lock:
            self.faults = faults
            for gaps in self._gaps.values():
                gaps.reset()

    def close(self) -> None:
        """Stop relaying and close every socket."""
        self._stop.set()
        for sock in [self._listener, *self._sockets]:
            try:
                sock.close()
            except OSError:
                pass
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=2.0)

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- relaying -----------------------------------------------------------------------------
    def _accept_main(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            try:
                board = socket.create_connection(self.upstream, timeout=5.0)
            except OSError:
                client.close()
                continue
            for sock in (client, board):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.settimeout(0.1)
            self._sockets += [client, board]
            for src, dst, direction in ((client, board, "up"), (board, client, "down")):
                thread = threading.Thread(target=self._pump, args=(src, dst, direction),
                                          name=f"fault-proxy {direction}", daemon=True)
                self._threads.append(thread)
                thread.start()

    def _pump(self, src: socket.socket, dst: socket.socket, direction: str) -> None:
        try:
            while not self._stop.is_set():
                try:
                    data = src.recv(65536)
                except (TimeoutError, socket.timeout):
                    continue
                if not data:
                    break
                for piece, pause in self._damage(data, direction):
                    if pause:
                        time.sleep(pause)
                    if piece:
                        dst.sendall(piece)
        except OSError:
            pass  # one side closed: end this client's relay
        finally:
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def _damage(self, data: bytes, direction: str) -> list[tuple[bytes, float]]:
        """Apply the faults to one received chunk; returns (bytes, pause before them) pieces in order."""
        with self._lock:
            faults, gaps, counts = self.faults, self._gaps[direction], self.counts
            counts.bytes[direction] += len(data)
            if not faults.active:
                return [(data, 0.0)]
            out, pieces, pos = bytearray(), [], 0
            rates = {"flip": faults.bit_flip, "drop": faults.drop, "garbage": faults.garbage, "delay": faults.delay}
            while pos < len(data):
                kind = min(rates, key=lambda k: gaps.next(k, rates[k]))
                gap = gaps.next(kind, rates[kind])
                if pos + gap >= len(data):  # no event in the rest of this chunk
                    for k, rate in rates.items():
                        gaps.consume(k, len(data) - pos, rate)
                    out += data[pos:]
                    break
                step = int(gap)
                out += data[pos: pos + step]
                for k, rate in rates.items():
                    gaps.consume(k, step, rate)
                pos += step
                gaps.fire(kind, rates[kind])
                if kind == "flip":
                    out.append(data[pos] ^ (1 << self._rng.randrange(8)))
                    counts.flips[direction] += 1
                    pos += 1
                    self._consume_others(gaps, rates, kind)
                elif kind == "drop":
                    counts.drops[direction] += 1
                    pos += 1
                    self._consume_others(gaps, rates, kind)
                elif kind == "garbage":
                    out += bytes(self._rng.randrange(256) for _ in range(self._rng.randint(1, 8)))
                    counts.garbage[direction] += 1
                else:  # delay: everything so far goes now, the rest after the pause
                    pieces.append((bytes(out), 0.0))
                    out = bytearray()
                    pieces.append((b"", self._rng.uniform(0, faults.delay_max_s)))
                    counts.delays[direction] += 1
            pieces.append((bytes(out), 0.0))
            return pieces

    @staticmethod
    def _consume_others(gaps: _Gaps, rates: dict[str, float], fired: str) -> None:
        """The byte an event consumed also passes the other kinds' counters."""
        for k, rate in rates.items():
            if k != fired:
                gaps.consume(k, 1, rate)
