"""Typed messages: property-based round trips, forward compatibility and clear errors."""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgeloop.protocol import (
    Bench, BenchResult, Capability, Decoder, DType, Error, ErrorCode, Frame, Hello, Infer, Info, InputKind, ListModels, Log,
    ModelDescriptor, ModelList, ModelSelected, PayloadTooLarge, Ping, Pong, ProtocolError, Result, SelectModel,
    Stats, StatsReply, TensorDesc, TimingSource, decode_message, encode_message,
)

u8, u16, u32 = (st.integers(0, 2**n - 1) for n in (8, 16, 32))
text8 = st.text(max_size=40).filter(lambda s: len(s.encode()) <= 255)
f32 = st.floats(width=32, allow_nan=False, allow_infinity=False)

tensors = st.builds(TensorDesc, st.sampled_from(list(DType)), st.lists(st.integers(1, 2000), min_size=1,
                    max_size=4).map(tuple), f32, st.integers(-(2**31), 2**31 - 1))
models_1_0 = st.builds(ModelDescriptor, text8, st.binary(min_size=32, max_size=32), u32, u32, u32,
                       st.sampled_from(list(InputKind)), tensors, tensors, st.lists(text8, max_size=8).map(tuple),
                       u16, u16, u16, st.lists(st.tuples(f32, f32), max_size=6).map(tuple))
models_1_1 = st.builds(lambda d, *tail: dataclasses.replace(d, **dict(zip(TAIL_1_1, tail))),
                       models_1_0, u8, u8, u8, u32, u8)
models = st.one_of(models_1_0, models_1_1)
TAIL_1_1 = ("model_id", "model_flags", "feature_set", "sample_rate_mhz", "norm_mode")
messages = st.one_of(
    st.builds(Hello, u8),
    st.builds(Info, u8, u8, u8, st.sampled_from(list(TimingSource)), u32, u32, u32, u8, text8, text8,
              st.lists(models, max_size=3).map(tuple)).flatmap(
        lambda info: st.one_of(st.just(info), st.builds(lambda c, i: dataclasses.replace(
            info, capabilities=c, instr_per_tick=i), u32, u16))),
    st.builds(ListModels),
    st.builds(ModelList, u8, st.lists(models, max_size=3).map(tuple)),
    st.builds(SelectModel, u8), st.builds(ModelSelected, u8),
    st.builds(Infer, u8, st.binary(max_size=2000)),
    st.builds(Result, u8, u32, u32, u32, u32, u32, st.binary(max_size=200)),
    st.builds(Bench, u8, st.integers(1, 100_000)),
    st.builds(BenchResult, u8, u32, u32, u32, u32, st.integers(0, 2**64 - 1)),
    st.builds(Ping, st.binary(max_size=300)), st.builds(Pong, st.binary(max_size=300)),
    st.builds(Stats), st.builds(StatsReply, st.lists(u32, max_size=20).map(tuple)),
    st.builds(Log, u8, st.text(max_size=100)),
    st.builds(Error, st.sampled_from(list(ErrorCode)), st.text(max_size=30)),
)


@given(messages, u16)
def test_every_message_round_trips_through_the_wire(message, seq: int) -> None:
    events = Decoder().feed(encode_message(message, seq))
    assert len(events) == 1 and isinstance(events[0], Frame)
    assert events[0].seq == seq
    assert events[0].message == message


@given(messages, st.binary(min_size=1, max_size=16))
def test_trailing_bytes_from_a_newer_peer_are_ignored(message, extra: bytes) -> None:
    if isinstance(message, (Infer, Result, Ping, Pong, Log, Error)):
        return  # these end in an open-ended field, which absorbs the extra bytes by design
    # A newer peer sends every field this host knows (1.1) before its own: extend the message to 1.1 first.
    if isinstance(message, Info):
        message = dataclasses.replace(message, capabilities=message.capabilities or 0)
    assert decode_message(message.TYPE, message.encode_payload() + extra) == message


def test_a_1_0_info_and_descriptor_parse_with_1_1_defaults() -> None:
    from edgeloop.protocol.vectors import load_vectors

    (event,) = next(v for v in load_vectors() if v["name"] == "valid_info")["events"]
    info = decode_message(event["type"], bytes.fromhex(event["payload"]))
    assert info.proto_minor == 0 and info.capabilities is None and info.instr_per_tick == 0
    assert not info.has(Capability.DESCRIBE)
    assert [m.model_id for m in info.models] == [None, None]
    assert info.model_by_id(1) is info.models[1]  # a 1.0 device's index is the list position
    assert info.models[1].sample_rate == 200.0 and info.models[1].feature_set == 0


def test_1_1_fields_round_trip_and_address_models_by_stable_id() -> None:
    from edgeloop.protocol.vectors import load_vectors

    (event,) = next(v for v in load_vectors() if v["name"] == "valid_info_1_1")["events"]
    info = decode_message(event["type"], bytes.fromhex(event["payload"]))
    assert info.capabilities == Capability.DESCRIBE and info.has(Capability.DESCRIBE) and info.instr_per_tick == 40
    gait = info.model_by_id(5)
    assert gait is info.models[2] and info.model_by_id(2) is None  # ids may skip (SPEC §9.4)
    assert gait.input_kind == InputKind.TIMESERIES_WINDOW and gait.uploaded
    assert gait.sample_rate == pytest.approx(50.5) and gait.norm_mode == 1


def test_1_1_fields_without_their_leading_field_are_refused() -> None:
    info = Info(1, 1, 2, TimingSource.QEMU_ICOUNT, 0, 1, 256, 0, "f", "b", (), None, 40)
    with pytest.raises(ValueError, match="capabilities"):
        info.encode_payload()
    model = ModelDescriptor("m", bytes(32), 1, 1, 1, InputKind.TENSOR, TensorDesc(DType.INT8, (1,)),
                            TensorDesc(DType.INT8, (1,)), feature_set=1)
    with pytest.raises(ValueError, match="model_id"):
        model.encode()


def test_truncated_payloads_raise_a_clear_error() -> None:
    info = Info(1, 0, 2, TimingSource.HOST_CLOCK, 0, 1_000_000_000, 4096, 0, "1.0", "host", ())
    payload = info.encode_payload()
    for cut in range(len(payload)):
        with pytest.raises(ProtocolError, match="INFO"):
            decode_message(info.TYPE, payload[:cut])


def test_decoder_reports_a_malformed_payload_with_its_seq() -> None:
    from edgeloop.protocol import encode_frame

    (event,) = Decoder().feed(encode_frame(0x81, 42, b"\x01\x00"))
    assert event.kind == "payload" and event.seq == 42 and "truncated" in event.detail


def test_unknown_type_is_a_payload_error_not_a_crash() -> None:
    from edgeloop.protocol import encode_frame

    (event,) = Decoder().feed(encode_frame(0x42, 3, b""))
    assert event.kind == "payload" and "unknown message type 0x42" in event.detail


def test_encoder_refuses_oversize_payloads_naming_the_limit() -> None:
    with pytest.raises(PayloadTooLarge, match="4097 bytes exceeds the limit of 4096"):
        encode_message(Infer(input=bytes(4095)), 1, max_payload=4096)
    encode_message(Infer(input=bytes(4094)), 1, max_payload=4096)


def test_result_timings_convert_ticks_with_their_rate() -> None:
    result = Result(0, 480_000_000, 480, 0, 4_800_000, 48, b"")
    assert result.timings_us() == {"t_rx": 1.0, "t_pre": 0.0, "t_infer": 10_000.0, "t_encode": 0.1}
    assert Result(0, 0, 1, 1, 1, 1).timings_us() == {}


def test_timing_sources_carry_honest_labels() -> None:
    assert TimingSource.DWT_CYCLES.label == "measured"
    assert TimingSource.QEMU_ICOUNT.label == "emulated"
    assert TimingSource.HOST_CLOCK.label == "host clock"


def test_stats_reply_names_counters_and_tolerates_more() -> None:
    reply = StatsReply(tuple(range(15)))
    assert reply.crc_errors == 1 and reply.uptime_ms == 8 and reply.bench_runs == 11
    assert reply.as_dict()["counter_14"] == 14 and reply.as_dict()["unexpected_frames"] == 12
    assert StatsReply(tuple(range(9))).rx_dropped_bytes == 0  # a 1.0 device: the 1.1 counters read 0
    assert StatsReply((5,)).overflows == 0


def test_tensor_sizes_and_bench_mean() -> None:
    tensor = TensorDesc(DType.FLOAT32, (1, 3, 4))
    assert (tensor.size, tensor.nbytes) == (12, 48)
    assert math.isclose(BenchResult(0, 4, 1, 1, 5, 10).mean, 2.5)
    with pytest.raises(ValueError, match="runs"):
        Bench(0, 0).encode_payload()


def test_input_standardisation_round_trips() -> None:
    tensor = TensorDesc(DType.INT8, (1, 3), 0.1, 0)
    model = ModelDescriptor("imu", bytes(32), 1, 2, 3, InputKind.IMU_FEATURES, tensor, tensor, ("a",),
                            100, 64, 32, ((1.0, 2.0), (0.0, 1.0), (-1.0, 0.5)))
    info = Info(1, 0, 2, TimingSource.HOST_CLOCK, 0, 1, 4096, 0, "fw", "host", (model,))
    (event,) = Decoder().feed(encode_message(info, 1))
    assert event.message.models[0].input_norm == model.input_norm  # applied by app/live/preprocess.standardize
