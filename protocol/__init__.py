"""edgeloop.protocol: the edgeloop link protocol v1 (SPEC.md beside this file is normative).

Pure Python with no Qt, OpenCV or app imports, so any host tool can speak to
a board with it::

    from edgeloop.protocol import Decoder, Hello, encode_message
    port.write(b"\\x00" + encode_message(Hello(), seq=1))
    for event in Decoder().feed(port.read(256)):
        print(event)
"""

from edgeloop.protocol.codec import DecodeError, Decoder, DecoderStats, Frame, encode_message
from edgeloop.protocol.framing import (
    BOOTSTRAP_MAX_PAYLOAD,
    MAX_PAYLOAD_LIMIT,
    PROTOCOL_VERSION,
    CobsError,
    CrcError,
    PayloadTooLarge,
    ProtocolError,
    cobs_decode,
    cobs_encode,
    encode_frame,
    max_wire_size,
    parse_frame,
)
from edgeloop.protocol.messages import (
    ACTIVE_MODEL,
    STAGES,
    STAT_NAMES,
    MODEL_FLAG_ABRIDGED,
    MODEL_FLAG_UPLOADED,
    Bench,
    BenchResult,
    Capability,
    DescribeModel,
    DType,
    Error,
    ErrorCode,
    FeatureSet,
    Hello,
    Infer,
    Info,
    InputKind,
    ListModels,
    Log,
    Message,
    ModelDescriptor,
    ModelDescription,
    ModelList,
    ModelSelected,
    MsgType,
    NormMode,
    Ping,
    Pong,
    Result,
    SelectModel,
    Stats,
    StatsReply,
    TensorDesc,
    TimingSource,
    decode_message,
)

__all__ = [
    "ACTIVE_MODEL", "BOOTSTRAP_MAX_PAYLOAD", "MODEL_FLAG_ABRIDGED", "MODEL_FLAG_UPLOADED", "DescribeModel", "ModelDescription", "Capability", "FeatureSet", "NormMode", "MAX_PAYLOAD_LIMIT", "PROTOCOL_VERSION", "STAGES", "STAT_NAMES",
    "Bench", "BenchResult", "CobsError", "CrcError", "DType", "DecodeError", "Decoder", "DecoderStats", "Error",
    "ErrorCode", "Frame", "Hello", "Infer", "Info", "InputKind", "ListModels", "Log", "Message",
    "ModelDescriptor", "ModelList", "ModelSelected", "MsgType", "PayloadTooLarge", "Ping", "Pong",
    "ProtocolError", "Result", "SelectModel", "Stats", "StatsReply", "TensorDesc", "TimingSource",
    "cobs_decode", "cobs_encode", "decode_message", "encode_frame", "encode_message", "max_wire_size",
    "parse_frame",
]
