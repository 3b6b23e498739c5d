"""Golden byte vectors of protocol v1, valid and invalid, in a language-neutral JSON form.

``vectors.json`` beside this file is the committed copy; :func:`build_vectors`
regenerates it from the codec and a test checks the two agree. The same
vectors become a C header for the firmware tests::

    python -m edgeloop.protocol.vectors --c-header build/el_golden_vectors.h

Each vector has a ``name``, a ``description``, the decoder's ``max_payload``,
the ``wire`` bytes (hex) and the ``events`` a conforming receiver reports, in
order. Event kinds are frame-level: ``frame`` (with version, type, seq,
payload hex, and for known message types the decoded ``message`` fields),
``crc``, ``framing`` and ``overflow`` (with the best-effort ``seq``).
"""

from __future__ import annotations

import dataclasses
import enum
import json
import struct
import zlib
from pathlib import Path
from typing import Any

from edgeloop.protocol import messages as m
from edgeloop.protocol.framing import HEADER, cobs_encode, encode_frame

VECTORS_PATH = Path(__file__).with_name("vectors.json")
_HASH = bytes(range(32))
_SEED_PAYLOAD = bytes((i * 37 + 11) & 0xFF for i in range(1024))  # deterministic, contains zeros


def _jsonable(value: Any) -> Any:
    if isinstance(value, enum.IntEnum):
        return int(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, float):
        return struct.unpack("<f", struct.pack("<f", value))[0]
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if dataclasses.is_dataclass(value):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return value


def message_fields(message: m.Message) -> dict[str, Any]:
    """JSON-able fields of a message (bytes as hex, enums as numbers)."""
    return _jsonable(message)


def _frame_event(message: m.Message, seq: int) -> dict[str, Any]:
    return {"kind": "frame", "version": 1, "type": int(message.TYPE), "seq": seq,
            "payload": message.encode_payload().hex(), "message": message_fields(message)}


def _raw_frame(version: int, msg_type: int, seq: int, payload: bytes, *, crc_xor: int = 0) -> bytes:
    body = HEADER.pack(version, msg_type, 0, 0, seq) + payload
    body += struct.pack("<I", zlib.crc32(body) ^ crc_xor)
    return cobs_encode(body) + b"\x00"


def _sample_models() -> tuple[m.ModelDescriptor, ...]:
    bottles = m.ModelDescriptor(
        name="bottles_demo", hash=_HASH, macc=1_234_567, flash_bytes=48_000, ram_bytes=30_000,
        input_kind=m.InputKind.IMAGE,
        input=m.TensorDesc(m.DType.INT8, (1, 64, 64, 1), 0.003921568859368563, -128),
        output=m.TensorDesc(m.DType.INT8, (1, 6), 0.00390625, -128),
        labels=("empty", "low", "half", "high", "full", "no_bottle"))
    fall = m.ModelDescriptor(
        name="fall", hash=bytes(reversed(_HASH)), macc=2_000, flash_bytes=3_000, ram_bytes=512,
        input_kind=m.InputKind.IMU_FEATURES,
        input=m.TensorDesc(m.DType.INT8, (1, 54), 0.05, 3),
        output=m.TensorDesc(m.DType.INT8, (1, 2), 0.00390625, -128),
        labels=("adl", "fall"), sample_rate_hz=200, window=128, hop=64,
        input_norm=tuple((0.25 * i, 1.0 + 0.5 * i) for i in range(54)))
    return bottles, fall


def _sample_models_1_1() -> tuple[m.ModelDescriptor, ...]:
    """The same models as a 1.1 device describes them (SPEC §9.3), plus a time-series model."""
    bottles, fall = _sample_models()
    bottles = dataclasses.replace(bottles, model_id=0)
    fall = dataclasses.replace(fall, model_id=1, feature_set=m.FeatureSet.EDGELOOP_STATS9,
                               sample_rate_mhz=200_000)
    gait = m.ModelDescriptor(
        name="gait", hash=bytes(32), macc=9_000, flash_bytes=6_000, ram_bytes=2_048,
        input_kind=m.InputKind.TIMESERIES_WINDOW,
        input=m.TensorDesc(m.DType.INT8, (1, 100, 3), 0.1, 0),
        output=m.TensorDesc(m.DType.INT8, (1, 3), 0.00390625, -128),
        labels=("walk", "run", "stairs"), sample_rate_hz=50, window=100, hop=50,
        input_norm=((0.0, 9.81), (0.5, 9.81), (-9.81, 9.81)), model_id=5, model_flags=m.MODEL_FLAG_UPLOADED,
        sample_rate_mhz=50_500, norm_mode=m.NormMode.PER_CHANNEL)
    return bottles, fall, gait


def _valid_messages() -> list[tuple[str, m.Message]]:
    models = _sample_models()
    return [
        ("hello", m.Hello(1)),
        ("info", m.Info(1, 0, 2, m.TimingSource.DWT_CYCLES, 480_000_000, 480_000_000, 16384, 0,
                        "0.1.0", "nucleo-h743zi2", models)),
        ("info_1_1", m.Info(1, 1, 4, m.TimingSource.QEMU_ICOUNT, 25_000_000, 25_000_000, 32768, 1,
                            "0.2.0", "qemu-mps2-an500", _sample_models_1_1(),
                            capabilities=m.Capability.DESCRIBE, instr_per_tick=40)),
        ("list_models", m.ListModels()),
        ("model_list", m.ModelList(1, models)),
        ("model_list_1_1", m.ModelList(5, _sample_models_1_1())),
        ("select_model", m.SelectModel(1)),
        ("model_selected", m.ModelSelected(1)),
        ("infer", m.Infer(m.ACTIVE_MODEL, _SEED_PAYLOAD[:64])),
        ("result", m.Result(0, 25_000_000, 1200, 0, 98_765, 42, bytes([0x80, 0x7F, 0x00, 0x10, 0xF0, 0x01]))),
        ("bench", m.Bench(0, 1000)),
        ("bench_result", m.BenchResult(0, 1000, 480_000_000, 90_000, 95_000, 91_234_567_890)),
        ("ping", m.Ping(b"edgeloop\x00ping")),
        ("pong", m.Pong(b"edgeloop\x00ping")),
        ("stats", m.Stats()),
        ("stats_reply", m.StatsReply((10, 1, 2, 3, 4, 5, 6000, 7000, 123456))),
        ("stats_reply_1_1", m.StatsReply((10, 1, 2, 3, 4, 5, 6000, 7000, 123456, 77, 1, 2000, 3))),
        ("describe_model", m.DescribeModel(1, 512, 256)),
        ("model_description", m.ModelDescription(1, 700, 512, _SEED_PAYLOAD[512:700])),
        ("model_list_abridged", m.ModelList(0, (models[0], dataclasses.replace(models[1], model_id=1).abridge()))),
        ("error_frame_too_large_seq_0", m.Error(m.ErrorCode.FRAME_TOO_LARGE, "frame exceeds max_payload 256 bytes "
                                                "(claimed seq 93, unverified): send smaller requests")),
        ("log", m.Log(1, "model bottles_demo selected")),
        ("error", m.Error(m.ErrorCode.BAD_INPUT_SIZE, "input is 100 bytes, model bottles_demo needs 4096")),
    ]


def build_vectors() -> list[dict[str, Any]]:
    """Generate every golden vector from the codec (deterministic)."""
    vectors: list[dict[str, Any]] = []

    def add(name: str, description: str, wire: bytes, events: list[dict[str, Any]],
            max_payload: int = 65535) -> None:
        vectors.append({"name": name, "description": description, "max_payload": max_payload,
                        "wire": wire.hex(), "events": events})

    for seq, (name, message) in enumerate(_valid_messages(), start=1):
        if name.endswith("seq_0"):
            seq = 0  # a device message that answers no request (SPEC §3, §6)
        add(f"valid_{name}", f"a well-formed {message.TYPE.name} frame", encode_frame(message.TYPE, seq,
            message.encode_payload()), [_frame_event(message, seq)])

    for size in (253, 254, 255, 508, 1024):
        msg = m.Ping(_SEED_PAYLOAD[:size].replace(b"\x00", b"\x5a"))
        add(f"valid_ping_{size}_nonzero", f"PING of {size} non-zero bytes: COBS block boundaries",
            encode_frame(msg.TYPE, 0x1234, msg.encode_payload()), [_frame_event(msg, 0x1234)])
    zeros = m.Ping(bytes(300))
    add("valid_ping_all_zero", "PING of 300 zero bytes: one COBS block per byte",
        encode_frame(zeros.TYPE, 0xFFFF, zeros.encode_payload()), [_frame_event(zeros, 0xFFFF)])
    at_limit = m.Ping(_SEED_PAYLOAD[:256])
    add("valid_payload_at_limit", "payload exactly max_payload (256) is accepted",
        encode_frame(at_limit.TYPE, 9, at_limit.encode_payload()), [_frame_event(at_limit, 9)], 256)

    hello, stats = m.Hello(1), m.Stats()
    good = encode_frame(hello.TYPE, 1, hello.encode_payload())
    other = encode_frame(stats.TYPE, 2, b"")
    add("stream_two_frames", "two frames back to back", good + other,
        [_frame_event(hello, 1), _frame_event(stats, 2)])
    add("stream_empty_frames_ignored", "runs of 0x00 between frames are ignored",
        b"\x00\x00" + good + b"\x00\x00\x00" + other, [_frame_event(hello, 1), _frame_event(stats, 2)])

    body_flip = bytearray(_raw_frame(1, m.MsgType.PING, 3, b"abcdef", crc_xor=0x00000100))
    add("invalid_crc", "CRC does not match; the next good frame still decodes",
        bytes(body_flip) + other, [{"kind": "crc"}, _frame_event(stats, 2)])
    add("invalid_short_frame", "decoded frame of 5 bytes, shorter than header + CRC",
        cobs_encode(b"\x01\x06\x00\x00\x05") + b"\x00" + other, [{"kind": "framing"}, _frame_event(stats, 2)])
    add("invalid_cobs_overrun", "COBS code points past the delimiter",
        b"\x09\x01\x02\x03\x00" + other, [{"kind": "framing"}, _frame_event(stats, 2)])
    add("invalid_garbage_then_frame", "line noise before a good frame",
        b"\x13\x37\xfe\xff\x42\x00" + good, [{"kind": "framing"}, _frame_event(hello, 1)])
    oversize = m.Ping(_SEED_PAYLOAD[:300])
    add("invalid_oversize", "payload of 300 bytes against max_payload 256: dropped, seq reported",
        encode_frame(oversize.TYPE, 77, oversize.encode_payload()) + other,
        [{"kind": "overflow", "seq": 77}, _frame_event(stats, 2)], 256)
    add("invalid_truncated_frame", "a frame that lost its tail merges into a bad frame; the next one decodes",
        good[: len(good) // 2] + b"\x00" + other, [{"kind": "framing"}, _frame_event(stats, 2)])
    add("stream_lost_delimiter_joins_two_frames", "the 0x00 closing a frame is lost: it joins the next frame "
        "and both are dropped (SPEC §2)", good[:-1] + other + good, [{"kind": "crc"}, _frame_event(hello, 1)])
    add("stream_leading_delimiter_repairs_the_loss", "0x00 before and after every frame (SPEC §2, 1.1): the "
        "next frame's leading 0x00 closes a frame whose own 0x00 was lost, so nothing is lost",
        b"\x00" + good[:-1] + b"\x00" + other + b"\x00" + good,
        [_frame_event(hello, 1), _frame_event(stats, 2), _frame_event(hello, 1)])
    v2 = _raw_frame(2, m.MsgType.HELLO, 5, b"\x02")
    add("version_2_frame", "a CRC-valid frame of protocol version 2: frame-level valid, the device answers "
        "ERROR UNSUPPORTED_VERSION", v2, [{"kind": "frame", "version": 2, "type": int(m.MsgType.HELLO),
                                           "seq": 5, "payload": "02"}])
    return vectors


def load_vectors() -> list[dict[str, Any]]:
    """The committed vectors from ``vectors.json``."""
    return json.loads(VECTORS_PATH.read_text(encoding="utf-8"))["vectors"]


def write_json(path: Path = VECTORS_PATH) -> None:
    """Write the vectors as JSON."""
    doc = {"protocol_version": 1, "spec": "protocol/SPEC.md", "vectors": build_vectors()}
    path.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")


def _c_bytes(name: str, data: bytes) -> str:
    body = ", ".join(f"0x{b:02x}" for b in data) or "0"
    return f"static const uint8_t {name}[] = {{{body}}};\n"


def _c_upload(upload: dict[str, Any]) -> str:
    """The upload conversation (protocol/vectors/upload.json, SPEC §9.8) as C: el_golden_upload_steps."""
    out = ["/* Upload golden vectors (protocol/vectors/upload.json): one conversation with a fresh board whose\n"
           " * slots are models first_slot_model_id..; reply_type 0xFF is an ERROR of `code`; head != 0: the\n"
           " * reply starts with `reply` and the core appends the model descriptor (UPLOAD_COMMITTED). */\n",
           "typedef struct {\n    const char *note;\n    uint8_t active_model;\n    uint8_t request_type;\n"
           "    const uint8_t *request;\n    size_t request_len;\n    uint8_t reply_type;\n    uint16_t code;\n"
           "    int head;\n    const uint8_t *reply;\n    size_t reply_len;\n} el_golden_upload_step_t;\n\n"]
    container = bytes.fromhex(upload["container"])
    words = [int.from_bytes(container[i:i + 4], "little") for i in range(0, len(container), 4)]
    out.append(f"/* The container, as words: a slot holds it 4-byte aligned. */\n"
               f"static const uint32_t el_golden_upload_container[] = {{{', '.join(f'{w}u' for w in words)}}};\n"
               f"static const size_t el_golden_upload_container_bytes = {len(container)};\n"
               f"static const uint8_t el_golden_upload_first_id = {upload['first_slot_model_id']};\n")
    rows = []
    for i, step in enumerate(upload["steps"]):
        reply = bytes.fromhex(step.get("payload", step.get("head", "")))
        out.append(_c_bytes(f"el_gu{i}_request", bytes.fromhex(step["request"])))
        out.append(_c_bytes(f"el_gu{i}_reply", reply))
        note = step["note"].replace("\\", "\\\\").replace('"', '\\"')
        rows.append(f"    {{\"{note}\", {step['active_model']}, {step['request_type']}, el_gu{i}_request, "
                    f"{len(bytes.fromhex(step['request']))}, {step['reply_type']}, {step.get('code', 0)}, "
                    f"{int('head' in step)}, el_gu{i}_reply, {len(reply)}}},\n")
    out.append(f"\nstatic const el_golden_upload_step_t el_golden_upload_steps[] = {{\n{''.join(rows)}}};\n")
    out.append(f"static const size_t el_golden_upload_step_count = {len(upload['steps'])};\n\n")
    return "".join(out)


def c_header(vectors: list[dict[str, Any]], upload: dict[str, Any] | None = None) -> str:
    """Render the vectors (and the upload conversation, when given) as a self-contained C header for the
    firmware tests."""
    out = ["/* Generated by `python -m edgeloop.protocol.vectors --c-header`; do not edit. */\n",
           "#ifndef EL_GOLDEN_VECTORS_H\n#define EL_GOLDEN_VECTORS_H\n#include <stddef.h>\n#include <stdint.h>\n\n",
           "/* kind: \"frame\", \"crc\", \"framing\" or \"overflow\"; has_seq says whether seq is meaningful. */\n",
           "typedef struct {\n    const char *kind;\n    uint8_t version;\n    uint8_t type;\n    int has_seq;\n"
           "    uint16_t seq;\n    const uint8_t *payload;\n    size_t payload_len;\n} el_golden_event_t;\n\n",
           "typedef struct {\n    const char *name;\n    uint32_t max_payload;\n    const uint8_t *wire;\n"
           "    size_t wire_len;\n    const el_golden_event_t *events;\n    size_t event_count;\n"
           "} el_golden_vector_t;\n\n"]
    table = []
    for i, vec in enumerate(vectors):
        wire = bytes.fromhex(vec["wire"])
        out.append(_c_bytes(f"el_gv{i}_wire", wire))
        events = []
        for j, ev in enumerate(vec["events"]):
            payload = bytes.fromhex(ev.get("payload", ""))
            out.append(_c_bytes(f"el_gv{i}_e{j}_payload", payload))
            events.append(f"    {{\"{ev['kind']}\", {ev.get('version', 0)}, {ev.get('type', 0)}, "
                          f"{int('seq' in ev)}, {ev.get('seq', 0)}, el_gv{i}_e{j}_payload, {len(payload)}}},\n")
        out.append(f"static const el_golden_event_t el_gv{i}_events[] = {{\n{''.join(events) or '    {0}'}}};\n")
        table.append(f"    {{\"{vec['name']}\", {vec['max_payload']}, el_gv{i}_wire, {len(wire)}, "
                     f"el_gv{i}_events, {len(vec['events'])}}},\n")
    out.append(f"\nstatic const el_golden_vector_t el_golden_vectors[] = {{\n{''.join(table)}}};\n")
    out.append(f"static const size_t el_golden_vector_count = {len(vectors)};\n\n")
    if upload is not None:
        out.append(_c_upload(upload))
    out.append("#endif\n")
    return "".join(out)
