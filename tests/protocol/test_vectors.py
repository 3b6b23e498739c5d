"""The Python codec passes every golden vector, and the committed JSON is what the codec generates."""

from __future__ import annotations

import pytest

from edgeloop.protocol import Decoder, Frame, decode_message, encode_frame
from edgeloop.protocol.vectors import build_vectors, c_header, load_vectors, message_fields

VECTORS = load_vectors()


def test_committed_vectors_match_the_codec() -> None:
    assert VECTORS == build_vectors(), "run `python -m edgeloop.protocol.vectors` and review the diff"


def test_vectors_cover_valid_and_invalid_cases() -> None:
    kinds = {ev["kind"] for vec in VECTORS for ev in vec["events"]}
    assert kinds == {"frame", "crc", "framing", "overflow"}
    assert sum(vec["name"].startswith("valid_") for vec in VECTORS) >= 16


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
@pytest.mark.parametrize("chunk", [None, 1, 7])
def test_decoder_reports_exactly_the_expected_events(vector: dict, chunk: int | None) -> None:
    wire = bytes.fromhex(vector["wire"])
    decoder = Decoder(max_payload=vector["max_payload"])
    pieces = [wire] if chunk is None else [wire[i : i + chunk] for i in range(0, len(wire), chunk)]
    events = [event for piece in pieces for event in decoder.feed(piece)]
    assert len(events) == len(vector["events"])
    for got, want in zip(events, vector["events"]):
        if want["kind"] == "frame" and want["version"] == 1:
            assert isinstance(got, Frame)
            assert (int(got.message.TYPE), got.seq) == (want["type"], want["seq"])
            assert got.message.encode_payload().hex() == want["payload"]
            if "message" in want:
                assert message_fields(got.message) == want["message"]
        elif want["kind"] == "frame":  # another protocol major: the host refuses it by name
            assert got.kind == "version" and got.seq == want["seq"]
        else:
            assert got.kind == want["kind"], got
            if "seq" in want:
                assert got.seq == want["seq"]


@pytest.mark.parametrize("vector", [v for v in VECTORS if v["name"].startswith("valid_")], ids=lambda v: v["name"])
def test_encoder_reproduces_valid_wire_bytes(vector: dict) -> None:
    (event,) = vector["events"]
    message = decode_message(event["type"], bytes.fromhex(event["payload"]))
    assert encode_frame(message.TYPE, event["seq"], message.encode_payload()).hex() == vector["wire"]


def test_c_header_lists_every_vector() -> None:
    header = c_header(VECTORS)
    assert f"el_golden_vector_count = {len(VECTORS)};" in header
    for vec in VECTORS:
        assert f'"{vec["name"]}"' in header


def test_c_header_carries_the_upload_conversation() -> None:
    """The firmware's test_upload.c replays protocol/vectors/upload.json from the generated header."""
    from edgeloop.protocol.vectors.upload import load_upload_vectors

    upload = load_upload_vectors()
    header = c_header(VECTORS, upload)
    assert f"el_golden_upload_step_count = {len(upload['steps'])};" in header
    assert f"el_golden_upload_container_bytes = {len(bytes.fromhex(upload['container']))};" in header
    for step in upload["steps"]:
        assert f'"{step["note"]}"' in header
    assert "el_golden_upload" not in c_header(VECTORS)
