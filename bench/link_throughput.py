"""Link throughput of the host virtual board: INFER frames/s against the UART bound, credit 1 vs credit >= 2.

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
import serial

from edgeloop.app.link.boards import start_board
from edgeloop.protocol import Bench, BenchResult, Decoder, Error, Hello, Infer, Info, Result, encode_message

MODELS = {4096: 1, 9216: 2}  # input bytes -> model index (sine, mean64, mean96)
BAUDS = (921_600, 2_000_000)
EMULATED_INFER_US = (0, 30_000)  # 0: the host's own compute time


class _Client:
    def __init__(self, url: str) -> None:
        self.port = serial.serial_for_url(url, timeout=0.01)
        self.decoder = Decoder()
        self.replies: dict[int, object] = {}
        self.seq = 0
        self.port.write(b"\x00")

    def send(self, message: object) -> int:
        self.seq = self.seq % 65535 + 1
        self.port.write(encode_message(message, seq=self.seq))
        return self.seq

    def recv(self, seq: int, timeout: float = 30.0) -> object:
        deadline = time.monotonic() + timeout
        while seq not in self.replies:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no reply to seq {seq} in {timeout} s")
            for ev in self.decoder.feed(self.port.read(max(1, self.port.in_waiting))):
                if hasattr(ev, "message"):
                    self.replies[ev.seq] = ev.message
        reply = self.replies.pop(seq)
        if isinstance(reply, Error):
            raise RuntimeError(f"the board answered ERROR {reply.code}: {reply.text}")
        return reply


def stream(client: _Client, model: int, payload: bytes, frames: int, credit: int) -> float:
    """Send `frames` INFER requests with at most `credit` in flight; return frames per second."""
    in_flight: list[int] = []
    start = time.monotonic()
    for _ in range(frames):
        if len(in_flight) == credit:
            assert isinstance(client.recv(in_flight.pop(0)), Result)
        in_flight.append(client.send(Infer(model=model, input=payload)))
    for seq in in_flight:
        assert isinstance(client.recv(seq), Result)
    return frames / (time.monotonic() - start)


def measure(frames: int) -> dict[str, object]:
    """Run every configuration; return the figures."""
    rows = []
    for baud, infer_us in ((b, i) for b in BAUDS for i in EMULATED_INFER_US):
        with start_board("host", baud=baud, infer_us=infer_us) as board:
            client = _Client(board.url)
            info = client.recv(client.send(Hello()))
            assert isinstance(info, Info)
            for size, model in MODELS.items():
                payload = np.random.default_rng(size).integers(-128, 128, size, dtype=np.int8).tobytes()
                wire = len(encode_message(Infer(model=model, input=payload), seq=1))
                bench = client.recv(client.send(Bench(model=model, runs=200)))
                assert isinstance(bench, BenchResult)
                compute_fps = bench.tick_hz * bench.runs / max(bench.total, 1)
                link_fps = baud / 10 / wire
                stream(client, model, payload, 4, 1)  # warm up the path
                for credit in sorted({1, info.rx_credit}):
                    fps = stream(client, model, payload, frames, credit)
                    rows.append({
                        "baud": baud, "emulated_infer_us": infer_us, "input_bytes": size, "wire_bytes": wire,
                        "credit": credit,
                        "frames_per_s": round(fps, 2), "link_bound_fps": round(link_fps, 2),
                        "compute_bound_fps": round(compute_fps, 1),
                        "serial_bound_fps": round(1 / (1 / link_fps + 1 / compute_fps), 2),
                        "efficiency": round(fps / min(link_fps, compute_fps), 3),
                    })
            client.port.close()
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
