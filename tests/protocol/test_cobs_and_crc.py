"""COBS is checked against the `cobs` package as an independent oracle; CRC against zlib's definition."""

from __future__ import annotations

import struct
import zlib

import pytest
from cobs import cobs as oracle
from hypothesis import given
from hypothesis import strategies as st

from edgeloop.protocol import CobsError, cobs_decode, cobs_encode, encode_frame, max_wire_size, parse_frame

EDGE_SIZES = [0, 1, 2, 253, 254, 255, 256, 507, 508, 509, 762, 4096]


@pytest.mark.parametrize("size", EDGE_SIZES)
@pytest.mark.parametrize("fill", [b"\x00", b"\x11", b"\x00\x11\x22"])
def test_cobs_matches_oracle_on_block_edges(size: int, fill: bytes) -> None:
    data = (fill * size)[:size]
    assert cobs_encode(data) == oracle.encode(data)
    assert cobs_decode(oracle.encode(data)) == data


@given(st.binary(max_size=3000))
def test_cobs_round_trip_and_oracle(data: bytes) -> None:
    encoded = cobs_encode(data)
    assert 0 not in encoded
    assert encoded == oracle.encode(data)
    assert cobs_decode(encoded) == data
    assert len(encoded) <= len(data) + max(1, -(-len(data) // 254))


@given(st.binary(min_size=1, max_size=600).filter(lambda b: 0 not in b))
def test_cobs_decode_agrees_with_oracle_or_both_reject(encoded: bytes) -> None:
    try:
        expected = oracle.decode(encoded)
    except oracle.DecodeError:
        with pytest.raises(CobsError):
            cobs_decode(encoded)
    else:
        assert cobs_decode(encoded) == expected


def test_cobs_decode_rejects_zero_bytes() -> None:
    with pytest.raises(CobsError, match="zero byte"):
        cobs_decode(b"\x03\x01\x00")


def test_crc_is_zlib_crc32_little_endian_over_header_and_payload() -> None:
    wire = encode_frame(0x06, 0x0102, b"abc")
    decoded = cobs_decode(wire[:-1])
    assert decoded[:6] == bytes([1, 0x06, 0, 0, 0x02, 0x01])
    assert struct.unpack("<I", decoded[-4:])[0] == zlib.crc32(decoded[:-4])
    assert parse_frame(decoded).payload == b"abc"


def test_max_wire_size_bounds_every_frame() -> None:
    for size in (0, 244, 245, 10_000):
        assert len(encode_frame(0x06, 1, b"\x01" * size)) - 1 <= max_wire_size(size)
