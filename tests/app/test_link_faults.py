"""Recovery under corruption, briefly: the product's Session through the fault proxy to the host board.

The long measurements (throughput ratios, spread, soak) are bench/link_faults.py; these runs only
check that damage in both directions never yields a wrong result, never hangs, and heals at once.
"""

from __future__ import annotations

import itertools
import socket
import threading
import time

import numpy as np
import pytest

from edgeloop.app.link.fault_proxy import NO_FAULTS, FaultProxy, Faults
from edgeloop.app.link.session import Session
from edgeloop.protocol import Infer

pytestmark = pytest.mark.timeout(120)

MEAN64 = 1  # the host board's test models: sine, mean64, mean96


def _items() -> itertools.cycle:
    """4 KB inputs whose means differ from their neighbours', so a swapped result shows."""
    return itertools.cycle([(np.full(4096, v, dtype=np.int8).tobytes(), v) for v in range(-100, 101, 7)])


def _stream(session: Session, seconds: float, outcomes) -> dict[str, float]:
    got = {"ok": 0, "wrong": 0, "failed": 0, "max_gap": 0.0, "first_ok": None}
    start = last = time.monotonic()
    for outcome in outcomes:
        now = time.monotonic()
        if not outcome.ok:
            got["failed"] += 1
        elif np.frombuffer(outcome.reply.message.output, dtype=np.int8)[0] != outcome.item[1]:
            got["wrong"] += 1
        else:
            got["ok"] += 1
            got["max_gap"] = max(got["max_gap"], now - last)
            got["first_ok"] = got["first_ok"] if got["first_ok"] is not None else now - start
            last = now
        if now - start >= seconds:
            break
    return got


def _sink_server() -> tuple[socket.socket, list[bytes]]:
    """A TCP server on loopback that keeps everything its one client sends."""
    server = socket.create_server(("127.0.0.1", 0))
    received: list[bytes] = []

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            while chunk := conn.recv(65536):
                received.append(chunk)

    threading.Thread(target=serve, daemon=True).start()
    return server, received


def test_the_proxy_flips_bits_at_the_asked_rate_and_passes_clean_bytes_untouched() -> None:
    server, received = _sink_server()
    payload = bytes(np.random.default_rng(1).integers(0, 256, 400_000, dtype=np.uint8))
    with server, FaultProxy(f"socket://127.0.0.1:{server.getsockname()[1]}", seed=3) as proxy:
        with socket.create_connection(("127.0.0.1", int(proxy.url.rsplit(":", 1)[1]))) as client:
            client.sendall(payload[:100_000])  # faults off: relayed untouched
            assert _wait(lambda: sum(map(len, received)) == 100_000)
            proxy.set_faults(Faults(bit_flip=1e-3))
            client.sendall(payload[100_000:])
            assert _wait(lambda: sum(map(len, received)) == len(payload))
    got = b"".join(received)
    assert got[:100_000] == payload[:100_000]
    changed = sum(a != b for a, b in zip(got[100_000:], payload[100_000:]))
    assert changed == proxy.counts.flips["up"]  # each flip changed exactly one byte, nothing else did
    assert 0.7 * 300 <= changed <= 1.4 * 300, changed  # 300 flips expected in 300,000 bytes
    with pytest.raises(ValueError, match="socket://host:port"):
        FaultProxy("/dev/ttyACM0")


def _wait(predicate, timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while not predicate() and time.monotonic() < end:
        time.sleep(0.01)
    return predicate()


@pytest.mark.parametrize("faults", [Faults(bit_flip=2e-4), Faults(drop=5e-5, garbage=5e-5),
                                    Faults(bit_flip=5e-5, delay=2e-4, delay_max_s=0.03)],
                         ids=["bit_flips", "drops_and_garbage", "flips_and_delays"])
def test_damage_both_ways_never_misattributes_never_hangs_and_heals(host_board, faults: Faults) -> None:
    with FaultProxy(host_board.url, seed=5) as proxy, Session(proxy.url) as session:
        session.connect()
        outcomes = session.map(_items(), lambda item: Infer(MEAN64, item[0]))
        clean = _stream(session, 0.5, outcomes)
        proxy.set_faults(faults)
        faulty = _stream(session, 3.0, outcomes)
        proxy.set_faults(NO_FAULTS)
        healed = _stream(session, 0.5, outcomes)
        outcomes.close()
        damaged = sum(proxy.counts.flips.values()) + sum(proxy.counts.drops.values()) + sum(
            proxy.counts.garbage.values())
        stats = session.stats()
    assert damaged > 10, proxy.counts  # the fault really hit the stream
    assert clean["wrong"] == faulty["wrong"] == healed["wrong"] == 0
    assert faulty["ok"] > 50 and faulty["max_gap"] < 5.0, faulty
    assert healed["first_ok"] is not None and healed["first_ok"] < 1.0, healed
    assert stats.retries > 0 and stats.reconnects == 0
