"""Fixtures for the app tests: offscreen Qt, a scripted in-process board, and the host virtual board."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# The window remembers its board, source, model and geometry; tests must not read or change the user's.
os.environ["EDGELOOP_SETTINGS"] = os.path.join(
    os.environ.get("PYTEST_SETTINGS_DIR") or __import__("tempfile").mkdtemp(prefix="edgeloop-settings-"),
    "edgeloop.ini")

import dataclasses
import hashlib
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from types import SimpleNamespace

import numpy as np
import pytest

from edgeloop.app.link.transport import Transport
from edgeloop.protocol import (
    Capability,
    DecodeError,
    DescribeModel,
    Decoder,
    DType,
    Error,
    ErrorCode,
    Hello,
    Infer,
    Info,
    InputKind,
    Message,
    ModelDescription,
    ModelDescriptor,
    ModelSelected,
    Ping,
    Pong,
    Result,
    SelectModel,
    TensorDesc,
    TimingSource,
    encode_message,
)

LABELS = ("dark", "mid", "bright")


def image_model(name: str = "brightness", size: int = 8, channels: int = 1) -> ModelDescriptor:
    """An image model whose fake implementation classifies mean brightness into three bins."""
    return ModelDescriptor(
        name=name, hash=hashlib.sha256(name.encode()).digest(), macc=1000, flash_bytes=2048, ram_bytes=512,
        input_kind=InputKind.IMAGE,
        input=TensorDesc(DType.INT8, (1, size, size, channels), 1 / 255, -128),
        output=TensorDesc(DType.INT8, (1, 3), 1 / 256, -128), labels=LABELS)


def imu_model(window: int = 20, hop: int = 10, rate: int = 50) -> ModelDescriptor:
    """A raw-window IMU model: class 1 when the mean |az| is above 0.5 g."""
    return ModelDescriptor(
        name="imu-still", hash=hashlib.sha256(b"imu").digest(), macc=500, flash_bytes=1024, ram_bytes=256,
        input_kind=InputKind.IMU_WINDOW, input=TensorDesc(DType.INT8, (1, window, 6), 1 / 32, 0),
        output=TensorDesc(DType.INT8, (1, 2), 1 / 256, -128), labels=("low", "high"),
        sample_rate_hz=rate, window=window, hop=hop)


def fake_classify(model: ModelDescriptor, data: bytes) -> bytes:
    """What the scripted board computes: a one-hot-ish int8 softmax over the model's labels."""
    q = np.frombuffer(data, dtype=np.int8).astype(np.float64)
    real = model.input.scale * (q - model.input.zero_point)
    n = len(model.labels)
    if model.input_kind == InputKind.IMAGE:
        cls = min(n - 1, int(real.mean() * n))
    else:
        cls = int(np.abs(real.reshape(-1, 6)[:, 2]).mean() > 0.5)
    probs = np.full(n, 0.1 / (n - 1))
    probs[cls] = 0.9
    return np.clip(np.round(probs * 256) - 128, -128, 127).astype(np.int8).tobytes()


class ScriptedPort:
    """A serial-like object that answers edgeloop requests in-process, with knobs for misbehaviour.

    `reorder`: hold replies and release them in reverse order in pairs.
    `drop`: a predicate on (seq, message) deciding that the request is lost.
    `mute`: answer nothing at all (a port with another firmware).
    `fail_reads`: raise OSError on read (an unplugged board).
    `write_delay`: block every write that long (a slow link).
    `proto_minor` 1 makes it a 1.1 board (capabilities, stable ids, DESCRIBE_MODEL, answers in order);
    `abridge` then sends abridged descriptors in INFO (SPEC 1.1 §5.3); `ids` gives the models stable ids
    other than their positions (an emptied upload slot leaves a gap, SPEC §9.4), `active` the active id.
    """

    def __init__(self, models: tuple[ModelDescriptor, ...] = (image_model(),), *, credit: int = 2,
                 proto_major: int = 1, timing: TimingSource = TimingSource.HOST_CLOCK, proto_minor: int = 0,
                 abridge: bool = False, ids: Sequence[int] | None = None, active: int = 0) -> None:
        if proto_minor >= 1:
            ids = range(len(models)) if ids is None else ids
            models = tuple(dataclasses.replace(m, model_id=i) for i, m in zip(ids, models))
        self.models = models
        self.proto_minor = proto_minor
        self.abridge = abridge
        self.credit = credit
        self.proto_major = proto_major
        self.timing = timing
        self.active = active
        self.timeout: float | None = 0.05
        self.reorder = False
        self.mute = False
        self.fail_reads = False
        self.write_delay = 0.0  # seconds each write blocks: a slow link
        self.drop: Callable[[int, Message], bool] = lambda seq, msg: False
        self.requests: list[tuple[int, Message]] = []
        self.max_in_flight_seen = 0
        self._decoder = Decoder()
        self._out = bytearray()
        self._held: list[bytes] = []
        self._cond = threading.Condition()
        self.is_open = True

    def info(self) -> Info:
        if self.proto_minor < 1:
            return Info(self.proto_major, 0, self.credit, self.timing, 0, 1_000_000_000, 4096, self.active,
                        "fake 1.0", "scripted", self.models)
        models = tuple(m.abridge() for m in self.models) if self.abridge else self.models
        return Info(self.proto_major, self.proto_minor, self.credit, self.timing, 0, 1_000_000_000, 4096,
                    self.active, "fake 1.1", "scripted", models, capabilities=Capability.DESCRIBE)

    def model(self, model_id: int) -> ModelDescriptor | None:
        """The model this board lists under `model_id` (a 1.0 board: its position)."""
        return dataclasses.replace(self.info(), models=self.models).model_by_id(model_id)

    def reply_to(self, seq: int, msg: Message) -> Message | None:
        if isinstance(msg, Hello):
            return self.info()
        if isinstance(msg, SelectModel):
            if self.model(msg.model) is None:
                return Error(ErrorCode.UNKNOWN_MODEL, "no such model")
            self.active = msg.model
            return ModelSelected(self.active)
        if isinstance(msg, Ping):
            return Pong(msg.data)
        if isinstance(msg, DescribeModel) and self.proto_minor >= 1:
            body = self.model(msg.model_id).encode_body()
            return ModelDescription(msg.model_id, len(body), msg.offset,
                                    body[msg.offset: msg.offset + (msg.max_bytes or 1024)])
        if isinstance(msg, Infer):
            index = self.active if msg.model == 0xFF else msg.model
            model = self.model(index)
            if model is None:
                return Error(ErrorCode.UNKNOWN_MODEL, f"no model {index}")
            if len(msg.input) != model.input.nbytes:
                return Error(ErrorCode.BAD_INPUT_SIZE, "wrong size")
            return Result(index, 1_000_000_000, 1000, 0, 250_000 + 10 * seq, 500, fake_classify(model, msg.input))
        return Error(ErrorCode.UNKNOWN_TYPE, "not scripted")

    # -- serial-like API used by Transport ---------------------------------------------------
    def write(self, data: bytes) -> int:
        if not self.is_open:
            raise OSError("port closed")
        if self.write_delay:
            time.sleep(self.write_delay)
        for event in self._decoder.feed(bytes(data)):
            if isinstance(event, DecodeError):
                continue
            self.requests.append((event.seq, event.message))
            if self.mute or self.drop(event.seq, event.message):
                continue
            reply = self.reply_to(event.seq, event.message)
            if reply is None:
                continue
            wire = encode_message(reply, event.seq)
            with self._cond:
                if self.reorder and not isinstance(event.message, Hello):
                    self._held.append(wire)
                    self.max_in_flight_seen = max(self.max_in_flight_seen, len(self._held))
                    if len(self._held) >= 2:
                        self._out += b"".join(reversed(self._held))
                        self._held.clear()
                else:
                    self._out += wire
                self._cond.notify_all()
        return len(data)

    def flush_held(self) -> None:
        with self._cond:
            self._out += b"".join(self._held)
            self._held.clear()
            self._cond.notify_all()

    @property
    def in_waiting(self) -> int:
        return len(self._out)

    def read(self, size: int = 1) -> bytes:
        if self.fail_reads or not self.is_open:
            raise OSError(5, "Input/output error (device unplugged)")
        with self._cond:
            if not self._out:
                self._cond.wait(self.timeout or 0.05)
            data = bytes(self._out[:size])
            del self._out[:size]
        return data

    def close(self) -> None:
        self.is_open = False


@pytest.fixture
def scripted() -> Iterator[ScriptedPort]:
    """A fresh scripted port."""
    yield ScriptedPort()


def opener_for(ports: list[ScriptedPort] | ScriptedPort) -> Callable[[str], Transport]:
    """A Session opener handing out the given scripted port(s), one per (re)connect."""
    queue = ports if isinstance(ports, list) else None

    def opener(url: str) -> Transport:
        port = queue.pop(0) if queue is not None else ports
        if queue is not None and not queue:
            queue.append(port)  # keep handing out the last one
        port.is_open = True
        port.fail_reads = False
        return Transport(port, url, byte_rate=1e6)

    return opener


@pytest.fixture(scope="session")
def host_board_factory():
    """Start host virtual boards (skips the test with the reason when the board cannot be built here)."""
    try:
        from edgeloop.app.link.boards import start_board
    except ImportError as exc:  # pragma: no cover - depends on the firmware package being present
        pytest.fail(f"edgeloop.app.link.boards is missing: {exc}")
    return start_board


@pytest.fixture
def host_board(host_board_factory) -> Iterator[object]:
    """A running host virtual board with the firmware test models (sine, mean64, mean96), stopped after the test.

    Named explicitly: a board started without models runs the zoo's (firmware_build.default_models)."""
    from edgeloop.app.link.firmware_build import TEST_MODELS

    board = host_board_factory(target="host", models=list(TEST_MODELS))
    try:
        yield board
    finally:
        board.stop()


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0, step: float = 0.02) -> bool:
    """Poll `predicate` until true or `timeout`; returns its last value."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())


@pytest.fixture
def kit() -> SimpleNamespace:
    """The helpers above, for test modules (conftest modules cannot be imported under importlib mode)."""
    return SimpleNamespace(ScriptedPort=ScriptedPort, image_model=image_model, imu_model=imu_model,
                           opener_for=opener_for, wait_for=wait_for, fake_classify=fake_classify, LABELS=LABELS)


@pytest.fixture
def open_window(qtbot, tmp_path):
    """Open and start a main window on a controller, with sessions and reports under tmp_path."""
    from edgeloop.app.gui.main_window import QtMainWindow

    def open_(controller):
        window = QtMainWindow(controller, history=100, sessions_dir=tmp_path / "sessions",
                              reports_dir=tmp_path / "validation")
        qtbot.addWidget(window)
        window.show()
        window.start()
        return window

    return open_


@pytest.fixture(autouse=True)
def _own_settings(tmp_path_factory, monkeypatch) -> None:
    """Each test's windows remember into a settings file of their own: no test sees another's last model."""
    monkeypatch.setenv("EDGELOOP_SETTINGS", str(tmp_path_factory.mktemp("settings") / "edgeloop.ini"))
