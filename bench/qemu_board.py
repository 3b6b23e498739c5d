"""The ARM firmware under QEMU (mps2-an500): start-up, link rate and emulated instruction counts.

Figures (host wall clock unless named "instructions", which are emulated counts under -icount shift=0,
1 tick = 40 instructions; none of these is a measured MCU cycle count):
  boot_to_info_s            start_qemu_board() until the INFO reply
  infer_rps_serial_4KB      mean64 INFER round trips per second, one request in flight
  infer_rps_pipelined_4KB   the same with rx_credit requests in flight
  link_MBps_pipelined       request + reply wire bytes per second while pipelined
  instructions_<model>      BENCH minimum per inference, in emulated instructions, for mean64 and
                            every bundled zoo model
  bare_metal_run_s          run_bare_metal() of the port self-test (start, run, exit)

    python bench/qemu_board.py [--json] [--seconds S]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import serial

import edgeloop
from edgeloop.app.link import qemu
from edgeloop.app.link.firmware_build import build_firmware, zoo_models
from edgeloop.app.live import timing
from edgeloop.protocol import Bench, BenchResult, Decoder, Frame, Hello, Infer, Info, Message, encode_message

MODELS = ("mean64", *zoo_models())  # mean64 (index 0) carries the 4 KB link figures


class _Client:
    def __init__(self, url: str) -> None:
        self.port = serial.serial_for_url(url, timeout=0.02)
        self.decoder = Decoder(max_payload=65535)
        self.seq = 0
        self.wire_bytes = 0
        self.backlog: list[Frame] = []  # frames decoded beyond what the last receive() asked for
        self.port.write(b"\x00")

    def send(self, message: Message) -> None:
        self.seq = self.seq % 65535 + 1
        wire = encode_message(message, seq=self.seq, max_payload=65535)
        self.wire_bytes += len(wire)
        self.port.write(wire)

    def receive(self, count: int, timeout: float = 30.0) -> list[Frame]:
        deadline = time.monotonic() + timeout
        while len(self.backlog) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.backlog)} of {count} replies")
            for event in self.decoder.feed(self.port.read(8192)):
                if not isinstance(event, Frame):
                    raise RuntimeError(f"bad frame from the board: {event}")
                self.wire_bytes += event.wire_size
                self.backlog.append(event)
        frames, self.backlog = self.backlog[:count], self.backlog[count:]
        return frames


def _infer_rate(client: _Client, in_flight: int, seconds: float) -> tuple[float, float]:
    request = Infer(model=0, input=bytes(4096))
    client.wire_bytes = 0
    done, start = 0, time.perf_counter()
    for _ in range(in_flight):
        client.send(request)
    while time.perf_counter() - start < seconds:
        client.receive(1)
        done += 1
        client.send(request)
    client.receive(in_flight)
    elapsed = time.perf_counter() - start
    return done / elapsed, client.wire_bytes / elapsed / 1e6


def measure(seconds: float) -> dict[str, float]:
    """Run every figure once and return them by name."""
    image = build_firmware("qemu-mps2-an500", models=list(MODELS))
    figures: dict[str, float] = {}
    start = time.perf_counter()
    with qemu.start_qemu_board(image.elf) as board:
        client = _Client(board.url)
        client.send(Hello())
        (frame,) = client.receive(1)
        figures["boot_to_info_s"] = time.perf_counter() - start
        info = frame.message
        assert isinstance(info, Info)
        figures["infer_rps_serial_4KB"], _ = _infer_rate(client, 1, seconds)
        figures["infer_rps_pipelined_4KB"], figures["link_MBps_pipelined"] = _infer_rate(
            client, info.rx_credit, seconds)
        for index, name in enumerate(MODELS):
            client.send(Bench(model=index, runs=100))
            (reply,) = client.receive(1)
            assert isinstance(reply.message, BenchResult)
            figures[f"instructions_{name}"] = timing.emulated_instructions(reply.message.min,
                                                                          timing.instructions_per_tick(info))
        client.port.close()

    selftest = edgeloop.FIRMWARE_DIR / "ports" / "qemu-mps2-an500" / "selftest" / "port_selftest.c"
    with tempfile.TemporaryDirectory() as out:
        elf = qemu.build_bare_metal([selftest], out)
        start = time.perf_counter()
        qemu.run_bare_metal(elf, timeout=60).check()
        figures["bare_metal_run_s"] = time.perf_counter() - start
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object last")
    parser.add_argument("--seconds", type=float, default=3.0, help="duration of each rate measurement")
    args = parser.parse_args()
    figures = measure(args.seconds)
    for name, value in figures.items():
        print(f"{name:28s} {value:,.4g}")
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
