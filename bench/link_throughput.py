"""Link throughput of the host virtual board: INFER frames/s against the UART bound, credit 1 vs credit >= 2.

It measures the product's own link code: requests go through `Session.map`
(credit-windowed, ordered), as in the pipeline and validation.

The host board paces its link to baud/10 bytes/s (8N1), like the ST-LINK UART
of a real board. For each baud rate and input size this streams INFER
requests of the mean64 (4,096-byte) and mean96 (9,216-byte) test models,
keeping `credit` requests in flight, and compares frames/s with
min(link bound, compute bound):

- link bound: (baud / 10) / wire bytes of one request (the reply is tiny and
  travels the other direction of the full-duplex link);
- compute bound: 1 / mean on-board time per request from BENCH (host clock).

On a PC the board computes in microseconds, so the link alone limits and
credit makes little difference. Each configuration therefore also runs with
the board's inference stretched to 30 ms (`--infer-us 30000`), an emulated
MCU compute time of the order of a small CNN on a Cortex-M7: then credit 1
gives 1/(transfer + compute), and credit >= 2 should reach
min(link bound, compute bound).

    python bench/link_throughput.py [--frames 40] [--json]

With --json the last line printed is one JSON object of all figures.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from edgeloop.app.link.boards import start_board
from edgeloop.app.link.session import Session
from edgeloop.protocol import Infer, Result, encode_message

MODELS = {4096: 1, 9216: 2}  # input bytes -> model index (sine, mean64, mean96)
BAUDS = (921_600, 2_000_000)
EMULATED_INFER_US = (0, 30_000)  # 0: the host's own compute time


def stream(session: Session, model: int, payload: bytes, frames: int, credit: int) -> float:
    """Send `frames` INFER requests through the product's Session.map, `credit` in flight; frames/s."""
    start = time.monotonic()
    for outcome in session.map([payload] * frames, lambda data: Infer(model=model, input=data), window=credit):
        if not outcome.ok:
            raise RuntimeError(f"INFER failed during the benchmark: {outcome.error}")
        assert isinstance(outcome.reply.message, Result)
    return frames / (time.monotonic() - start)


def measure(frames: int) -> dict[str, object]:
    """Run every configuration; return the figures."""
    rows = []
    for baud, infer_us in ((b, i) for b in BAUDS for i in EMULATED_INFER_US):
        with start_board("host", baud=baud, infer_us=infer_us) as board, Session(board.url, baudrate=baud) as session:
            info = session.connect()
            for size, model in MODELS.items():
                payload = np.random.default_rng(size).integers(-128, 128, size, dtype=np.int8).tobytes()
                wire = len(encode_message(Infer(model=model, input=payload), seq=1))
                bench = session.bench(runs=200, model=model)
                compute_fps = bench.tick_hz * bench.runs / max(bench.total, 1)
                link_fps = baud / 10 / wire
                stream(session, model, payload, 4, 1)  # warm up the path
                for credit in sorted({1, info.rx_credit}):
                    fps = stream(session, model, payload, frames, credit)
                    rows.append({
                        "baud": baud, "emulated_infer_us": infer_us, "input_bytes": size, "wire_bytes": wire,
                        "credit": credit,
                        "frames_per_s": round(fps, 2), "link_bound_fps": round(link_fps, 2),
                        "compute_bound_fps": round(compute_fps, 1),
                        "serial_bound_fps": round(1 / (1 / link_fps + 1 / compute_fps), 2),
                        "efficiency": round(fps / min(link_fps, compute_fps), 3),
                    })
    best = [r for r in rows if r["credit"] > 1]
    return {
        "bench": "link_throughput",
        "board": "host (host clock; link paced to baud/10 B/s)",
        "frames_per_config": frames,
        "results": rows,
        "min_efficiency_credit_ge_2": min(r["efficiency"] for r in best) if best else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=40, help="INFER requests per configuration (default 40)")
    parser.add_argument("--json", action="store_true", help="print one JSON object of the figures last")
    args = parser.parse_args()
    figures = measure(args.frames)
    for r in figures["results"]:
        print(f"baud {r['baud']:>9} infer {r['emulated_infer_us'] / 1000:4.0f} ms input {r['input_bytes']:>5} B "
              f"credit {r['credit']}: "
              f"{r['frames_per_s']:7.2f} frames/s  link bound {r['link_bound_fps']:7.2f}  "
              f"compute bound {r['compute_bound_fps']:9.1f}  1/(link+compute) {r['serial_bound_fps']:7.2f}  "
              f"efficiency {r['efficiency']:.3f}")
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
