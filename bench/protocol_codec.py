"""Protocol codec throughput and wire efficiency.

Python: encode+decode MB/s of INFER frames with 4 KB and 27 KB tensors.
C (host): the firmware codec's encode+decode MB/s, from firmware/tests/bench_codec.c.
C (Cortex-M7 under QEMU): decoder instructions per byte, emulated (-icount), when the QEMU port exists.
Wire efficiency: tensor bytes / wire bytes of one INFER frame.

    python bench/protocol_codec.py [--json] [--seconds S]
"""

from __future__ import annotations

import argparse
import json
import os
import time

from edgeloop.protocol import Decoder, Frame, Infer, encode_message

SIZES = {"4KB": 4096, "27KB": 27 * 1024}


def _payloads(size: int) -> dict[str, bytes]:
    rng = bytes(os.urandom(size))
    # An image-like tensor: smooth gradient with int8 values around the zero point, so zeros occur.
    gradient = bytes(((i % 96) * 2 + (i // 96) % 64) & 0xFF for i in range(size))
    return {"random": rng, "image": gradient}


def _rate(fn, payload_len: int, seconds: float) -> float:
    runs, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        fn()
        runs += 1
    return runs * payload_len / elapsed / 1e6


def python_figures(seconds: float) -> dict[str, float]:
    """MB/s of the Python encoder and decoder for each size and data shape."""
    figures: dict[str, float] = {}
    for label, size in SIZES.items():
        for shape, tensor in _payloads(size).items():
            message = Infer(0xFF, tensor)
            wire = encode_message(message, 1)
            decoder = Decoder()

            def decode() -> None:
                (event,) = decoder.feed(wire)
                assert isinstance(event, Frame)

            figures[f"python_encode_MBps_{label}_{shape}"] = _rate(lambda: encode_message(message, 1), size, seconds)
            figures[f"python_decode_MBps_{label}_{shape}"] = _rate(decode, size, seconds)
    return figures


def wire_efficiency() -> dict[str, float]:
    """Tensor bytes per wire byte for one INFER frame of each size."""
    return {f"wire_efficiency_{label}": size / len(encode_message(Infer(0xFF, os.urandom(size)), 1))
            for label, size in SIZES.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print one JSON object of all figures last")
    parser.add_argument("--seconds", type=float, default=1.0, help="time per measurement")
    args = parser.parse_args()
    figures = {**python_figures(args.seconds), **wire_efficiency()}
    figures["target_python_decode_27KB_MBps"] = 100.0
    figures["target_wire_efficiency_4KB"] = 0.99
    for name, value in figures.items():
        print(f"{name:42s} {value:10.4f}" if value < 10 else f"{name:42s} {value:10.1f}")
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
