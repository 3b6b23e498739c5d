"""Torture: cuts at every byte offset, single-bit flips, garbage between frames, oversize frames.

Every corrupted frame is rejected and counted, and the next good frame always decodes.
"""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from edgeloop.protocol import Decoder, Frame, Infer, Ping, Stats, encode_message

GOOD = encode_message(Infer(0xFF, bytes(range(256)) * 2), 100)
NEXT = encode_message(Stats(), 101)


def _frames(events):
    return [e for e in events if isinstance(e, Frame)]


def _errors(events):
    return [e for e in events if not isinstance(e, Frame)]


def test_a_frame_cut_at_every_offset_is_rejected_and_the_next_decodes() -> None:
    for cut in range(1, len(GOOD) - 1):
        dec = Decoder()
        events = dec.feed(GOOD[:cut] + b"\x00" + NEXT)
        assert [f.seq for f in _frames(events)] == [101], cut
        assert len(_errors(events)) == 1
        assert dec.stats.crc_errors + dec.stats.framing_errors == 1


def test_a_dropped_byte_costs_exactly_one_frame() -> None:
    for drop in range(len(GOOD) - 1):
        dec = Decoder()
        events = dec.feed(GOOD[:drop] + GOOD[drop + 1 :] + NEXT)
        assert [f.seq for f in _frames(events)] == [101], drop


def test_every_single_bit_flip_is_detected() -> None:
    for index in range(len(GOOD) - 1):
        for bit in range(8):
            corrupted = bytearray(GOOD)
            corrupted[index] ^= 1 << bit
            dec = Decoder()
            events = dec.feed(bytes(corrupted) + NEXT)
            good = _frames(events)
            assert good and good[-1].seq == 101
            assert all(f.seq != 100 for f in good), (index, bit)
            assert _errors(events)


@settings(max_examples=200)
@given(st.lists(st.binary(max_size=64), min_size=1, max_size=8))
def test_garbage_between_frames_never_hides_a_good_frame(garbage: list[bytes]) -> None:
    stream, expected = b"", []
    for i, noise in enumerate(garbage):
        stream += noise + b"\x00" + encode_message(Ping(bytes([i]) * 3), i + 1)
        expected.append(i + 1)
    dec = Decoder()
    events = [e for chunk in (stream[i : i + 5] for i in range(0, len(stream), 5)) for e in dec.feed(chunk)]
    assert [f.seq for f in _frames(events)] == expected


def test_oversize_frames_are_dropped_counted_and_report_their_seq() -> None:
    dec = Decoder(max_payload=256)
    big = encode_message(Ping(bytes(1, ) * 5000), 0x4242)
    events = []
    for i in range(0, len(big), 97):  # arrives in pieces, as from a UART
        events += dec.feed(big[i : i + 97])
    events += dec.feed(NEXT)
    assert [e.kind for e in _errors(events)] == ["overflow"]
    assert _errors(events)[0].seq == 0x4242
    assert [f.seq for f in _frames(events)] == [101]
    assert dec.stats.overflows == 1


def test_random_corruption_soak() -> None:
    rng = random.Random(1234)
    dec = Decoder(max_payload=2048)
    sent = received = 0
    for seq in range(1, 400):
        frame = bytearray(encode_message(Ping(rng.randbytes(rng.randrange(0, 600))), seq))
        damaged = rng.random() < 0.3
        if damaged:
            frame[rng.randrange(len(frame) - 1)] ^= 1 << rng.randrange(8)
        else:
            sent += 1
        received += sum(1 for f in _frames(dec.feed(bytes(frame))) if f.seq == seq)
    assert received >= sent  # every undamaged frame arrives (a flip may also hit a dead bit: never a false frame)
    assert dec.stats.frames_ok == received
