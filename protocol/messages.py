"""Typed messages of protocol v1 (SPEC.md §5): one frozen dataclass per message type.

Every class has ``TYPE`` (its :class:`MsgType`), ``encode_payload()`` and the
classmethod ``decode_payload(payload)``. Decoding follows the forward
compatibility rule of SPEC §5: trailing bytes a newer peer appended are
ignored, and a payload shorter than the known fields raises
:class:`~edgeloop.protocol.framing.ProtocolError`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field, replace
from enum import IntEnum, IntFlag
from typing import ClassVar


from edgeloop.protocol.framing import ProtocolError

ACTIVE_MODEL = 0xFF  # INFER/BENCH model index meaning "the selected model"
MAX_BENCH_RUNS = 100_000
MAX_ERROR_TEXT = 120


class MsgType(IntEnum):
    """Message type byte of the header; a reply is its request's type | 0x80."""

    HELLO = 0x01
    LIST_MODELS = 0x02
    SELECT_MODEL = 0x03
    INFER = 0x04
    BENCH = 0x05
    PING = 0x06
    STATS = 0x07
    DESCRIBE_MODEL = 0x08
    PROFILE = 0x09  # 1.1, SPEC §9.6
    DUMP_TENSOR = 0x0A  # 1.1, SPEC §9.7
    INFO = 0x81
    MODEL_LIST = 0x82
    MODEL_SELECTED = 0x83
    RESULT = 0x84
    BENCH_RESULT = 0x85
    PONG = 0x86
    STATS_REPLY = 0x87
    MODEL_DESCRIPTION = 0x88
    PROFILE_RESULT = 0x89
    TENSOR_CHUNK = 0x8A
    LOG = 0xFE
    ERROR = 0xFF


class ErrorCode(IntEnum):
    """ERROR.code values (SPEC §5.12)."""

    BAD_PAYLOAD = 1
    UNKNOWN_TYPE = 2
    UNSUPPORTED_VERSION = 3
    UNKNOWN_MODEL = 4
    BAD_INPUT_SIZE = 5
    FRAME_TOO_LARGE = 6
    BUSY = 7
    INTERNAL = 8


class DType(IntEnum):
    """Tensor element types (SPEC §5.4)."""

    INT8 = 0
    UINT8 = 1
    INT16 = 2
    INT32 = 3
    FLOAT32 = 4

    @property
    def itemsize(self) -> int:
        """Bytes per element."""
        return (1, 1, 2, 4, 4)[self]

    @property
    def numpy_name(self) -> str:
        """Little-endian numpy dtype string, e.g. ``'<i2'``."""
        return ("i1", "u1", "<i2", "<i4", "<f4")[self]


class InputKind(IntEnum):
    """What the host must send as a model's input (SPEC §5.3, §9.3)."""

    TENSOR = 0
    IMAGE = 1
    IMU_WINDOW = 2
    IMU_FEATURES = 3
    TIMESERIES_WINDOW = 4
    TIMESERIES_FEATURES = 5


class Capability(IntFlag):
    """INFO ``capabilities`` bits (SPEC §9.1): the 1.1 requests a device serves."""

    DESCRIBE = 1 << 0
    PROFILE = 1 << 1
    TENSOR_DUMP = 1 << 2
    UPLOAD = 1 << 3


class FeatureSet(IntEnum):
    """Descriptor ``feature_set`` (SPEC §9.3): how a features input is computed from raw samples."""

    NONE = 0
    EDGELOOP_STATS9 = 1
    EDGELOOP_SELECT = 2  # a host-computed subset named in NAME.preprocess.json "features"


class NormMode(IntEnum):
    """Descriptor ``norm_mode`` (SPEC §9.3): what one (mean, std) pair of ``norms`` applies to."""

    PER_ELEMENT = 0
    PER_CHANNEL = 1


MODEL_FLAG_UPLOADED = 0x01
"""Descriptor ``model_flags`` bit 0: the model runs from an upload slot (SPEC §9.3)."""
MODEL_FLAG_ABRIDGED = 0x02
"""Descriptor ``model_flags`` bit 1: this copy omits labels and norms; DESCRIBE_MODEL has them (SPEC §5.3)."""


class TimingSource(IntEnum):
    """What a device tick is (SPEC §5.2)."""

    HOST_CLOCK = 0
    QEMU_ICOUNT = 1
    DWT_CYCLES = 2
    SYSTICK = 3

    @property
    def label(self) -> str:
        """How a timing from this source must be labelled: measured, emulated or host clock."""
        return {0: "host clock", 1: "emulated", 2: "measured", 3: "measured"}[self]

    @property
    def tick_unit(self) -> str:
        """What one tick counts, for axis labels."""
        # qemu-icount: a tick is a SysTick tick, not one instruction; INFO instr_per_tick says how many
        # instructions it counts (SPEC 1.1 §4).
        return {0: "host ns", 1: "SysTick ticks", 2: "CPU cycles", 3: "SysTick ticks"}[self]


class _Reader:
    """Sequential little-endian reader that turns short payloads into ProtocolError."""

    def __init__(self, data: bytes, what: str) -> None:
        self.data, self.pos, self.what = data, 0, what

    def take(self, size: int) -> bytes:
        if self.pos + size > len(self.data):
            raise ProtocolError(
                f"{self.what} payload is truncated: needs {self.pos + size} bytes, has {len(self.data)}"
            )
        chunk = self.data[self.pos : self.pos + size]
        self.pos += size
        return chunk

    def unpack(self, fmt: str) -> tuple:
        st = struct.Struct("<" + fmt)
        return st.unpack(self.take(st.size))

    def u8(self) -> int:
        return self.take(1)[0]

    def str8(self) -> str:
        raw = self.take(self.u8())
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProtocolError(f"{self.what} holds a string that is not UTF-8: {raw!r}") from exc

    @property
    def left(self) -> int:
        """Bytes not read yet (fields a peer of this minor or a newer one appended)."""
        return len(self.data) - self.pos

    def rest(self) -> bytes:
        chunk = self.data[self.pos :]
        self.pos = len(self.data)
        return chunk


def _str8(text: str) -> bytes:
    raw = text.encode("utf-8")
    if len(raw) > 255:
        raise ValueError(f"string {text[:40]!r}... is {len(raw)} bytes; the protocol allows 255")
    return bytes([len(raw)]) + raw


@dataclass(frozen=True, slots=True)
class TensorDesc:
    """Shape, dtype and quantization of a model input or output (SPEC §5.4)."""

    dtype: DType
    dims: tuple[int, ...]
    scale: float = 0.0
    zero_point: int = 0

    @property
    def size(self) -> int:
        """Number of elements."""
        count = 1
        for dim in self.dims:
            count *= dim
        return count

    @property
    def nbytes(self) -> int:
        """Size of the tensor in bytes."""
        return self.size * DType(self.dtype).itemsize

    def encode(self) -> bytes:
        """Wire form of the descriptor."""
        if not 1 <= len(self.dims) <= 4:
            raise ValueError(f"tensor rank {len(self.dims)} is outside 1..4")
        return (struct.pack("<BB", self.dtype, len(self.dims)) + struct.pack(f"<{len(self.dims)}H", *self.dims)
                + struct.pack("<fi", self.scale, self.zero_point))

    @classmethod
    def read(cls, reader: _Reader) -> TensorDesc:
        """Read one descriptor from ``reader``."""
        dtype, rank = reader.unpack("BB")
        if not 1 <= rank <= 4:
            raise ProtocolError(f"{reader.what}: tensor rank {rank} is outside 1..4")
        try:
            dtype = DType(dtype)
        except ValueError as exc:
            raise ProtocolError(f"{reader.what}: unknown tensor dtype {dtype}") from exc
        dims = reader.unpack(f"{rank}H")
        if 0 in dims:
            raise ProtocolError(f"{reader.what}: tensor dims {dims} hold a 0 (every dim is >= 1)")
        scale, zero_point = reader.unpack("fi")
        return cls(dtype, tuple(dims), scale, zero_point)


@dataclass(frozen=True, slots=True)
class ModelDescriptor:
    """One model on the device (SPEC §5.3)."""

    name: str
    hash: bytes
    macc: int
    flash_bytes: int
    ram_bytes: int
    input_kind: InputKind
    input: TensorDesc
    output: TensorDesc
    labels: tuple[str, ...] = ()
    sample_rate_hz: int = 0
    window: int = 0
    hop: int = 0
    input_norm: tuple[tuple[float, float], ...] = ()  # (mean, std) per input element, or empty
    # SPEC 1.1 (§9.3); model_id None means a 1.0 descriptor, which carries none of these fields.
    model_id: int | None = None
    model_flags: int = 0
    feature_set: int = FeatureSet.NONE
    sample_rate_mhz: int = 0
    norm_mode: int = NormMode.PER_ELEMENT

    _TAIL_1_1: ClassVar[str] = "BBBIB"

    @property
    def sample_rate(self) -> float:
        """Sample rate in Hz: the 1.1 millihertz field when sent, else the 1.0 integer field (0: none)."""
        return self.sample_rate_mhz / 1000.0 if self.sample_rate_mhz else float(self.sample_rate_hz)

    def abridge(self) -> ModelDescriptor:
        """The copy INFO and MODEL_LIST carry when the full one does not fit (SPEC §5.3)."""
        return replace(self, labels=(), input_norm=(), model_flags=self.model_flags | MODEL_FLAG_ABRIDGED)

    @property
    def abridged(self) -> bool:
        """True when this copy (from INFO or MODEL_LIST) left out labels and norms (SPEC §5.3)."""
        return bool(self.model_flags & MODEL_FLAG_ABRIDGED)

    @property
    def uploaded(self) -> bool:
        """True when the model runs from an upload slot rather than being compiled in."""
        return bool(self.model_flags & MODEL_FLAG_UPLOADED)

    def encode(self) -> bytes:
        """Wire form, with its u16 length prefix."""
        body = self.encode_body()
        if len(body) > 0xFFFF:
            raise ValueError(f"model {self.name!r}: descriptor of {len(body)} bytes exceeds the u16 length; "
                             f"send an abridged copy and serve the body through DESCRIBE_MODEL (SPEC §5.3, §9.5)")
        return struct.pack("<H", len(body)) + body

    def encode_body(self) -> bytes:
        """The descriptor after its u16 length, of any size (what DESCRIBE_MODEL pages)."""
        if len(self.hash) != 32:
            raise ValueError(f"model hash must be 32 bytes (SHA-256), got {len(self.hash)}")
        if len(self.labels) > 255:
            raise ValueError(f"model {self.name!r} has {len(self.labels)} labels; the protocol allows 255")
        if len(self.input_norm) > 0xFFFF:
            raise ValueError(f"model {self.name!r} has {len(self.input_norm)} input norms; the protocol allows 65535")
        body = (_str8(self.name) + self.hash
                + struct.pack("<IIIBHHH", self.macc, self.flash_bytes, self.ram_bytes, self.input_kind,
                              self.sample_rate_hz, self.window, self.hop)
                + self.input.encode() + self.output.encode()
                + bytes([len(self.labels)]) + b"".join(_str8(label) for label in self.labels)
                + struct.pack("<H", len(self.input_norm))
                + b"".join(struct.pack("<ff", mean, std) for mean, std in self.input_norm))
        if self.model_id is None and (self.model_flags, self.feature_set, self.sample_rate_mhz, self.norm_mode) != (
                0, 0, 0, 0):
            raise ValueError(f"model {self.name!r}: 1.1 descriptor fields need model_id (SPEC §9.3), which is None")
        if self.model_id is not None:
            body += struct.pack("<" + self._TAIL_1_1, self.model_id, self.model_flags, self.feature_set,
                                self.sample_rate_mhz, self.norm_mode)
        return body

    @classmethod
    def read(cls, reader: _Reader) -> ModelDescriptor:
        """Read one length-prefixed descriptor, skipping fields appended by newer peers."""
        (length,) = reader.unpack("H")
        return cls.decode_body(reader.take(length), f"{reader.what} model descriptor")

    @classmethod
    def decode_body(cls, body: bytes, what: str = "model descriptor") -> ModelDescriptor:
        """Read a descriptor body (no length prefix), e.g. the pages of DESCRIBE_MODEL put together."""
        sub = _Reader(body, what)
        name = sub.str8()
        digest = sub.take(32)
        macc, flash, ram, kind, rate, window, hop = sub.unpack("IIIBHHH")
        try:
            kind = InputKind(kind)
        except ValueError as exc:
            raise ProtocolError(f"model {name!r}: unknown input_kind {kind}") from exc
        inp, out = TensorDesc.read(sub), TensorDesc.read(sub)
        labels = tuple(sub.str8() for _ in range(sub.u8()))
        (norm_count,) = sub.unpack("H")
        flat = sub.unpack(f"{2 * norm_count}f")
        norms = tuple(zip(flat[0::2], flat[1::2]))
        tail: tuple = ()
        if sub.left:  # a 1.1 peer appended §9.3; a 1.0 descriptor ends here
            tail = sub.unpack(cls._TAIL_1_1)
        return cls(name, digest, macc, flash, ram, kind, inp, out, labels, rate, window, hop, norms, *tail)


def _encode_models(models: tuple[ModelDescriptor, ...]) -> bytes:
    if len(models) > 255:
        raise ValueError(f"{len(models)} models; the protocol allows 255")
    return bytes([len(models)]) + b"".join(m.encode() for m in models)


def _read_models(reader: _Reader) -> tuple[ModelDescriptor, ...]:
    return tuple(ModelDescriptor.read(reader) for _ in range(reader.u8()))


class Message:
    """Base of all typed messages."""

    TYPE: ClassVar[MsgType]

    def encode_payload(self) -> bytes:  # pragma: no cover - every subclass overrides
        raise NotImplementedError

    @classmethod
    def decode_payload(cls, payload: bytes) -> Message:  # pragma: no cover - every subclass overrides
        raise NotImplementedError


class _Empty(Message):
    """A message with an empty payload."""

    def encode_payload(self) -> bytes:
        return b""

    @classmethod
    def decode_payload(cls, payload: bytes) -> Message:
        return cls()


@dataclass(frozen=True, slots=True)
class Hello(Message):
    """Opens a session; answered by :class:`Info`."""

    TYPE: ClassVar[MsgType] = MsgType.HELLO
    host_version: int = 1

    def encode_payload(self) -> bytes:
        return bytes([self.host_version])

    @classmethod
    def decode_payload(cls, payload: bytes) -> Hello:
        return cls(payload[0] if payload else 1)


class SlotState(IntEnum):
    """An upload slot's ``state`` in INFO (SPEC §9.8.1)."""

    EMPTY = 0
    RECEIVING = 1
    LOADED = 2


def _align16(n: int) -> int:
    return (n + 15) & ~15


@dataclass(frozen=True, slots=True)
class SlotInfo:
    """One upload slot as INFO lists it (SPEC §9.8.1): what a model must fit before a byte is sent."""

    model_id: int
    state: SlotState
    capacity: int
    arena_bytes: int

    _FORMAT: ClassVar[str] = "BBII"

    def fits(self, container_bytes: int, arena_bytes: int, input_bytes: int, output_bytes: int) -> str | None:
        """None when a model fits this slot, else the reason (for the user: both sizes named)."""
        need = _align16(container_bytes) + _align16(input_bytes) + _align16(output_bytes)
        if need > self.capacity:
            return (f"the model needs {need} bytes of slot (container {container_bytes} + input and output "
                    f"buffers); slot of model {self.model_id} holds {self.capacity} bytes")
        if arena_bytes > self.arena_bytes:
            return (f"the model needs an arena of {arena_bytes} bytes; slot of model {self.model_id} has "
                    f"{self.arena_bytes} bytes")
        return None


def _encode_slots(slots: tuple[SlotInfo, ...]) -> bytes:
    return bytes([len(slots)]) + b"".join(
        struct.pack("<" + SlotInfo._FORMAT, s.model_id, s.state, s.capacity, s.arena_bytes) for s in slots)


def _read_slots(r: _Reader) -> tuple[SlotInfo, ...]:
    slots = []
    for _ in range(r.u8()):
        model_id, state, capacity, arena = r.unpack(SlotInfo._FORMAT)
        try:
            state = SlotState(state)
        except ValueError as exc:
            raise ProtocolError(f"{r.what}: unknown slot state {state} of model {model_id}") from exc
        slots.append(SlotInfo(model_id, state, capacity, arena))
    return tuple(slots)


@dataclass(frozen=True, slots=True)
class Info(Message):
    """The device descriptor (SPEC §5.2)."""

    TYPE: ClassVar[MsgType] = MsgType.INFO
    proto_major: int
    proto_minor: int
    rx_credit: int
    timing_source: TimingSource
    cpu_hz: int
    tick_hz: int
    max_payload: int
    active_model: int
    firmware: str
    board: str
    models: tuple[ModelDescriptor, ...] = ()
    # SPEC 1.1 (§9.2); capabilities None means a 1.0 INFO, which carries neither field.
    capabilities: int | None = None
    instr_per_tick: int = 0
    # SPEC §9.8.1, right after instr_per_tick: None when the device sends no slot fields (a 1.1 device
    # from before §9.8), () when it has no upload slots.
    slots: tuple[SlotInfo, ...] | None = None

    _FIXED: ClassVar[str] = "BBBBIIIB"
    _TAIL_1_1: ClassVar[str] = "IH"

    def has(self, capability: Capability) -> bool:
        """True when the device serves the 1.1 requests of ``capability`` (never for a 1.0 device)."""
        return bool((self.capabilities or 0) & capability)

    def id_at(self, position: int) -> int:
        """The stable index (SPEC §9.4) of the model at list `position`; a 1.0 device's is the position.

        Hosts name models by this id in every request and result; list positions only order a display.
        """
        model_id = self.models[position].model_id
        return position if model_id is None else model_id

    @property
    def model_ids(self) -> tuple[int, ...]:
        """The stable indices of the listed models, in list order (an emptied slot leaves a gap)."""
        return tuple(self.id_at(position) for position in range(len(self.models)))

    def model_by_id(self, model_id: int) -> ModelDescriptor | None:
        """The model with this stable index (SPEC §9.4), or None when the board does not list it."""
        for position, model in enumerate(self.models):
            if self.id_at(position) == model_id:
                return model
        return None

    def encode_payload(self) -> bytes:
        tail = b""
        if self.capabilities is None and self.instr_per_tick:
            raise ValueError("INFO instr_per_tick is a 1.1 field and needs capabilities (SPEC §9.2), which is None")
        if self.capabilities is None and self.slots is not None:
            raise ValueError("INFO slots follow the 1.1 fields (SPEC §9.8.1) and need capabilities, which is None")
        if self.capabilities is not None:
            tail = struct.pack("<" + self._TAIL_1_1, self.capabilities, self.instr_per_tick)
        if self.slots is not None:
            tail += _encode_slots(self.slots)
        return (struct.pack("<" + self._FIXED, self.proto_major, self.proto_minor, self.rx_credit,
                            self.timing_source, self.cpu_hz, self.tick_hz, self.max_payload, self.active_model)
                + _str8(self.firmware) + _str8(self.board) + _encode_models(self.models) + tail)

    @classmethod
    def decode_payload(cls, payload: bytes) -> Info:
        r = _Reader(payload, "INFO")
        major, minor, credit, source, cpu_hz, tick_hz, max_payload, active = r.unpack(cls._FIXED)
        try:
            source = TimingSource(source)
        except ValueError as exc:
            raise ProtocolError(f"INFO: unknown timing_source {source}") from exc
        firmware, board, models = r.str8(), r.str8(), _read_models(r)
        tail: tuple = ()
        if r.left:  # a 1.1 device appended §9.2
            tail = r.unpack(cls._TAIL_1_1)
        if r.left:  # and a device with §9.8 its upload slots
            tail += (_read_slots(r),)
        return cls(major, minor, credit, source, cpu_hz, tick_hz, max_payload, active, firmware, board, models,
                   *tail)


@dataclass(frozen=True, slots=True)
class ListModels(_Empty):
    """Asks for the model list; answered by :class:`ModelList`."""

    TYPE: ClassVar[MsgType] = MsgType.LIST_MODELS


@dataclass(frozen=True, slots=True)
class ModelList(Message):
    """The device's models and the active one."""

    TYPE: ClassVar[MsgType] = MsgType.MODEL_LIST
    active_model: int
    models: tuple[ModelDescriptor, ...] = ()

    def encode_payload(self) -> bytes:
        return bytes([self.active_model]) + _encode_models(self.models)

    @classmethod
    def decode_payload(cls, payload: bytes) -> ModelList:
        r = _Reader(payload, "MODEL_LIST")
        return cls(r.u8(), _read_models(r))


@dataclass(frozen=True, slots=True)
class _OneByte(Message):
    """A message whose payload is a single u8 field."""

    def encode_payload(self) -> bytes:
        return bytes([getattr(self, self._FIELD)])

    @classmethod
    def decode_payload(cls, payload: bytes) -> Message:
        return cls(_Reader(payload, cls.TYPE.name).u8())


@dataclass(frozen=True, slots=True)
class SelectModel(_OneByte):
    """Selects the active model by index."""

    TYPE: ClassVar[MsgType] = MsgType.SELECT_MODEL
    _FIELD: ClassVar[str] = "model"
    model: int


@dataclass(frozen=True, slots=True)
class ModelSelected(_OneByte):
    """Confirms the active model."""

    TYPE: ClassVar[MsgType] = MsgType.MODEL_SELECTED
    _FIELD: ClassVar[str] = "active_model"
    active_model: int


@dataclass(frozen=True, slots=True)
class Infer(Message):
    """Runs one inference on ``input`` (the raw input tensor bytes)."""

    TYPE: ClassVar[MsgType] = MsgType.INFER
    model: int = ACTIVE_MODEL
    input: bytes = b""

    def encode_payload(self) -> bytes:
        return bytes([self.model, 0]) + bytes(self.input)

    @classmethod
    def decode_payload(cls, payload: bytes) -> Infer:
        r = _Reader(payload, cls.TYPE.name)  # also PROFILE's
        model, _reserved = r.unpack("BB")
        return cls(model, r.rest())


STAGES = ("t_rx", "t_pre", "t_infer", "t_encode")


@dataclass(frozen=True, slots=True)
class Result(Message):
    """Output tensor plus raw per-stage device timing (SPEC §5.7)."""

    TYPE: ClassVar[MsgType] = MsgType.RESULT
    model: int
    tick_hz: int
    t_rx: int
    t_pre: int
    t_infer: int
    t_encode: int
    output: bytes = b""

    _FIXED: ClassVar[str] = "BBIIIII"

    def encode_payload(self) -> bytes:
        return struct.pack("<" + self._FIXED, self.model, 0, self.tick_hz, self.t_rx, self.t_pre, self.t_infer,
                           self.t_encode) + bytes(self.output)

    @classmethod
    def decode_payload(cls, payload: bytes) -> Result:
        r = _Reader(payload, "RESULT")
        model, _reserved, tick_hz, t_rx, t_pre, t_infer, t_encode = r.unpack(cls._FIXED)
        return cls(model, tick_hz, t_rx, t_pre, t_infer, t_encode, r.rest())

    def timings_us(self) -> dict[str, float]:
        """Per-stage device time in microseconds (empty when the device gave no tick rate)."""
        if not self.tick_hz:
            return {}
        return {stage: getattr(self, stage) * 1e6 / self.tick_hz for stage in STAGES}


@dataclass(frozen=True, slots=True)
class Bench(Message):
    """Runs a model ``runs`` times on the device with no link traffic."""

    TYPE: ClassVar[MsgType] = MsgType.BENCH
    model: int = ACTIVE_MODEL
    runs: int = 100

    def encode_payload(self) -> bytes:
        if not 1 <= self.runs <= MAX_BENCH_RUNS:
            raise ValueError(f"BENCH runs must be 1..{MAX_BENCH_RUNS}, got {self.runs}")
        return struct.pack("<BI", self.model, self.runs)

    @classmethod
    def decode_payload(cls, payload: bytes) -> Bench:
        return cls(*_Reader(payload, "BENCH").unpack("BI"))


@dataclass(frozen=True, slots=True)
class BenchResult(Message):
    """min / max / total ticks of a BENCH run; mean is ``total / runs``."""

    TYPE: ClassVar[MsgType] = MsgType.BENCH_RESULT
    model: int
    runs: int
    tick_hz: int
    min: int
    max: int
    total: int

    _FIXED: ClassVar[str] = "BIIIIQ"

    @property
    def mean(self) -> float:
        """Mean ticks per run."""
        return self.total / self.runs if self.runs else 0.0

    def encode_payload(self) -> bytes:
        return struct.pack("<" + self._FIXED, self.model, self.runs, self.tick_hz, self.min, self.max, self.total)

    @classmethod
    def decode_payload(cls, payload: bytes) -> BenchResult:
        return cls(*_Reader(payload, "BENCH_RESULT").unpack(cls._FIXED))


@dataclass(frozen=True, slots=True)
class DescribeModel(Message):
    """Asks for one page of a model's full descriptor body (SPEC §9.5)."""

    TYPE: ClassVar[MsgType] = MsgType.DESCRIBE_MODEL
    model_id: int
    offset: int = 0
    max_bytes: int = 0  # 0: the device's page size

    _FIXED: ClassVar[str] = "BIH"

    def encode_payload(self) -> bytes:
        return struct.pack("<" + self._FIXED, self.model_id, self.offset, self.max_bytes)

    @classmethod
    def decode_payload(cls, payload: bytes) -> DescribeModel:
        return cls(*_Reader(payload, "DESCRIBE_MODEL").unpack(cls._FIXED))


@dataclass(frozen=True, slots=True)
class ModelDescription(Message):
    """One page (``chunk``) of a model's descriptor body, ``total`` bytes in all (SPEC §9.5)."""

    TYPE: ClassVar[MsgType] = MsgType.MODEL_DESCRIPTION
    model_id: int
    total: int
    offset: int
    chunk: bytes = b""

    _FIXED: ClassVar[str] = "BII"

    def encode_payload(self) -> bytes:
        return struct.pack("<" + self._FIXED, self.model_id, self.total, self.offset) + bytes(self.chunk)

    @classmethod
    def decode_payload(cls, payload: bytes) -> ModelDescription:
        r = _Reader(payload, "MODEL_DESCRIPTION")
        model_id, total, offset = r.unpack(cls._FIXED)
        chunk = r.rest()
        if offset + len(chunk) > total:
            raise ProtocolError(f"MODEL_DESCRIPTION: page {offset}+{len(chunk)} runs past the body's {total} bytes")
        return cls(model_id, total, offset, chunk)


@dataclass(frozen=True, slots=True)
class _Blob(Message):
    """A message whose payload is opaque bytes echoed back."""

    data: bytes = b""

    def encode_payload(self) -> bytes:
        return bytes(self.data)

    @classmethod
    def decode_payload(cls, payload: bytes) -> Message:
        return cls(bytes(payload))


@dataclass(frozen=True, slots=True)
class Ping(_Blob):
    """Liveness check; the device echoes ``data`` in a :class:`Pong`."""

    TYPE: ClassVar[MsgType] = MsgType.PING


@dataclass(frozen=True, slots=True)
class Pong(_Blob):
    """Echo of a :class:`Ping`."""

    TYPE: ClassVar[MsgType] = MsgType.PONG


@dataclass(frozen=True, slots=True)
class Stats(_Empty):
    """Asks for the device counters."""

    TYPE: ClassVar[MsgType] = MsgType.STATS


STAT_NAMES = ("frames_ok", "crc_errors", "framing_errors", "overflows", "errors_sent", "inferences",
              "rx_bytes", "tx_bytes", "uptime_ms",
              # 1.1 (SPEC §5.10): a 1.0 device stops at uptime_ms
              "rx_dropped_bytes", "tx_abandoned", "bench_runs", "unexpected_frames")


@dataclass(frozen=True, slots=True)
class StatsReply(Message):
    """Device counters in SPEC §5.10 order; a newer device may send more."""

    TYPE: ClassVar[MsgType] = MsgType.STATS_REPLY
    counters: tuple[int, ...] = field(default_factory=tuple)

    def encode_payload(self) -> bytes:
        return bytes([len(self.counters)]) + struct.pack(f"<{len(self.counters)}I", *self.counters)

    @classmethod
    def decode_payload(cls, payload: bytes) -> StatsReply:
        r = _Reader(payload, "STATS_REPLY")
        count = r.u8()
        return cls(tuple(r.unpack(f"{count}I")))

    def as_dict(self) -> dict[str, int]:
        """Counters by name (unknown extra counters as ``counter_N``)."""
        return {(STAT_NAMES[i] if i < len(STAT_NAMES) else f"counter_{i}"): v for i, v in enumerate(self.counters)}

    def __getattr__(self, name: str) -> int:
        if name in STAT_NAMES:
            index = STAT_NAMES.index(name)
            return self.counters[index] if index < len(self.counters) else 0
        raise AttributeError(name)


@dataclass(frozen=True, slots=True)
class Log(Message):
    """Text from the device (unsolicited, seq 0)."""

    TYPE: ClassVar[MsgType] = MsgType.LOG
    level: int = 1
    text: str = ""

    def encode_payload(self) -> bytes:
        return bytes([self.level]) + self.text.encode("utf-8")

    @classmethod
    def decode_payload(cls, payload: bytes) -> Log:
        r = _Reader(payload, "LOG")
        return cls(r.u8(), r.rest().decode("utf-8", errors="replace"))


@dataclass(frozen=True, slots=True)
class Error(Message):
    """The device's reply to a request it could not serve."""

    TYPE: ClassVar[MsgType] = MsgType.ERROR
    code: int
    text: str = ""

    def encode_payload(self) -> bytes:
        return struct.pack("<H", self.code) + self.text.encode("utf-8")[:MAX_ERROR_TEXT]

    @classmethod
    def decode_payload(cls, payload: bytes) -> Error:
        r = _Reader(payload, "ERROR")
        (code,) = r.unpack("H")
        try:
            code = ErrorCode(code)
        except ValueError:
            pass  # a newer device's code: keep the number
        return cls(code, r.rest().decode("utf-8", errors="replace"))

    def __str__(self) -> str:
        name = self.code.name if isinstance(self.code, ErrorCode) else f"code {self.code}"
        return f"{name}: {self.text}" if self.text else name


@dataclass(frozen=True, slots=True)
class Profile(Infer):
    """INFER that asks for the ticks of every step instead of the output (SPEC §9.6); same payload."""

    TYPE: ClassVar[MsgType] = MsgType.PROFILE


@dataclass(frozen=True, slots=True)
class ProfileResult(Message):
    """Ticks of each step of one inference, in step order (SPEC §9.6)."""

    TYPE: ClassVar[MsgType] = MsgType.PROFILE_RESULT
    model: int
    tick_hz: int
    ticks: tuple[int, ...] = ()

    def encode_payload(self) -> bytes:
        return struct.pack(f"<BBIH{len(self.ticks)}I", self.model, 0, self.tick_hz, len(self.ticks), *self.ticks)

    @classmethod
    def decode_payload(cls, payload: bytes) -> ProfileResult:
        r = _Reader(payload, "PROFILE_RESULT")
        model, _reserved, tick_hz, count = r.unpack("BBIH")
        ticks = r.unpack(f"{count}I")
        if r.rest():
            raise ProtocolError("PROFILE_RESULT has bytes after its step ticks")
        return cls(model, tick_hz, tuple(ticks))


@dataclass(frozen=True, slots=True)
class DumpTensor(Message):
    """Runs one inference and asks for bytes offset.. of step ``step``'s output (SPEC §9.7)."""

    TYPE: ClassVar[MsgType] = MsgType.DUMP_TENSOR
    model: int
    step: int
    offset: int
    input: bytes = b""

    def encode_payload(self) -> bytes:
        return bytes([self.model, 0]) + bytes(self.input) + struct.pack("<HI", self.step, self.offset)

    @classmethod
    def decode_payload(cls, payload: bytes) -> DumpTensor:
        r = _Reader(payload, "DUMP_TENSOR")
        model, _reserved = r.unpack("BB")
        rest = r.rest()
        if len(rest) < 6:
            raise ProtocolError("DUMP_TENSOR payload is truncated: needs step and offset after the input")
        step, offset = struct.unpack("<HI", rest[-6:])
        return cls(model, step, offset, rest[:-6])


@dataclass(frozen=True, slots=True)
class TensorChunk(Message):
    """Bytes offset..offset+len(data)-1 of a step's output tensor of `total` bytes (SPEC §9.7)."""

    TYPE: ClassVar[MsgType] = MsgType.TENSOR_CHUNK
    model: int
    step: int
    total: int
    offset: int
    data: bytes = b""

    def encode_payload(self) -> bytes:
        return struct.pack("<BBHII", self.model, 0, self.step, self.total, self.offset) + bytes(self.data)

    @classmethod
    def decode_payload(cls, payload: bytes) -> TensorChunk:
        r = _Reader(payload, "TENSOR_CHUNK")
        model, _reserved, step, total, offset = r.unpack("BBHII")
        return cls(model, step, total, offset, r.rest())


MESSAGE_CLASSES: dict[int, type[Message]] = {
    cls.TYPE: cls
    for cls in (Hello, Info, ListModels, ModelList, SelectModel, ModelSelected, Infer, Result, Bench,
                BenchResult, Ping, Pong, Stats, StatsReply, DescribeModel, ModelDescription, Log, Error, Profile,
                ProfileResult, DumpTensor, TensorChunk)
}


def decode_message(msg_type: int, payload: bytes) -> Message:
    """Decode a payload of the given type into its typed message; raises ProtocolError."""
    cls = MESSAGE_CLASSES.get(msg_type)
    if cls is None:
        raise ProtocolError(f"unknown message type {msg_type:#04x}")
    return cls.decode_payload(payload)
