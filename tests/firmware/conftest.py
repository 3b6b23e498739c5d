"""Fixtures of the firmware tests: virtual boards (host, QEMU), a protocol client, model references."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator

import numpy as np
import pytest
import serial

import edgeloop
from edgeloop.app.link.boards import VirtualBoard, start_board
from edgeloop.protocol import DecodeError, Decoder, Log, Message, Ping, Stats, StatsReply, encode_message

TEST_MODELS = edgeloop.FIRMWARE_DIR / "tests" / "models"


class Link:
    """A minimal protocol client over pyserial: numbered requests, replies matched by seq."""

    def __init__(self, url: str) -> None:
        self.port = serial.serial_for_url(url, timeout=0.05)
        self.decoder = Decoder()
        self.seq = 0
        self.pending: dict[int, Message] = {}
        self.port.write(b"\x00")  # flush whatever a previous client left half-sent

    def next_seq(self) -> int:
        self.seq = self.seq % 65535 + 1
        return self.seq

    def send(self, message: Message, *, max_payload: int = 65535) -> int:
        seq = self.next_seq()
        self.port.write(encode_message(message, seq=seq, max_payload=max_payload))
        return seq

    def send_raw(self, wire: bytes) -> None:
        self.port.write(wire)

    def _pump(self) -> None:
        for event in self.decoder.feed(self.port.read(max(1, self.port.in_waiting))):
            assert not isinstance(event, DecodeError), f"the board sent a bad frame: {event}"
            if not isinstance(event.message, Log):
                self.pending[event.seq] = event.message

    def recv(self, seq: int, timeout: float = 10.0) -> Message:
        deadline = time.monotonic() + timeout
        while seq not in self.pending:
            assert time.monotonic() < deadline, f"no reply to seq {seq} within {timeout} s"
            self._pump()
        return self.pending.pop(seq)

    def expect_silence(self, seconds: float = 0.3) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self._pump()
        assert not self.pending, f"unexpected replies: {self.pending}"

    def request(self, message: Message, timeout: float = 10.0, **kw: int) -> Message:
        return self.recv(self.send(message, **kw), timeout)

    def request_retrying(self, message: Message, timeout: float = 3.0, attempts: int = 3) -> Message:
        """SPEC 4 host behaviour: flush with 0x00 and retry with a new seq after a timeout."""
        for attempt in range(attempts):
            self.port.write(b"\x00")
            try:
                return self.request(message, timeout)
            except AssertionError:
                if attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")

    def stats(self) -> StatsReply:
        reply = self.request(Stats())
        assert isinstance(reply, StatsReply), reply
        return reply

    def assert_alive(self) -> None:
        reply = self.request(Ping(b"alive\x00?"))
        assert reply.data == b"alive\x00?", reply

    def close(self) -> None:
        self.port.close()


@pytest.fixture(scope="session", params=["host", pytest.param("qemu", marks=pytest.mark.qemu)])
def board(request: pytest.FixtureRequest) -> Iterator[VirtualBoard]:
    """Each virtual board with the test models sine, mean64, mean96 (one per session)."""
    if request.param == "qemu":
        if shutil.which("qemu-system-arm") is None:
            pytest.fail("qemu-system-arm is not installed: `sudo apt-get install qemu-system-arm` (make test does)")
    with start_board(request.param, timeout=60) as b:
        yield b


@pytest.fixture
def link(board: VirtualBoard) -> Iterator[Link]:
    """A fresh client connection to the board."""
    lk = Link(board.url)
    yield lk
    lk.close()


SINE_TFLITE = edgeloop.PACKAGE_ROOT / "models" / "zoo" / "sine" / "sine.tflite"


def sine_int8(x: np.ndarray) -> np.ndarray:
    """TFLite Micro's output of the zoo sine model (compiled into the boards) for int8 inputs x."""
    from edgeloop.models.reference import run_reference_batch

    return run_reference_batch(SINE_TFLITE.read_bytes(), x.reshape(-1, 1, 1)).reshape(-1).astype(np.int8)


def mean_int8(x: np.ndarray) -> int:
    """Reference of the mean test models: round half away from zero of the int8 mean."""
    total, n = int(x.astype(np.int64).sum()), x.size
    q = (2 * total + n) // (2 * n) if total >= 0 else -((-2 * total + n) // (2 * n))
    return int(q)


@pytest.fixture
def sine_reference():
    """The bit-exact reference of the zoo sine model: TFLite Micro (int8 array in, int8 array out)."""
    return sine_int8


@pytest.fixture
def mean_reference():
    """The Python reference of the mean64/mean96 test models (int8 image in, int out)."""
    return mean_int8
