"""The qemu-mps2-an500 port: the real ARM image under qemu-system-arm.

Covers the bare-metal runner (output, exit status, faults, timeouts), the
SysTick calibration under ``-icount shift=0`` (40 instructions per tick,
identical counts run after run), and the firmware image answering the link
protocol end to end through :func:`edgeloop.app.link.qemu.start_qemu_board`.
"""

from __future__ import annotations

import gc
import re
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import serial

import edgeloop
from edgeloop.app.link import qemu
from edgeloop.app.link.firmware_build import FirmwareImage, build_firmware
from edgeloop.protocol import (
    Bench,
    BenchResult,
    Decoder,
    Frame,
    Hello,
    Infer,
    Info,
    Message,
    Ping,
    Pong,
    Result,
    Stats,
    StatsReply,
    TimingSource,
    encode_message,
)

pytestmark = [
    pytest.mark.qemu,
    pytest.mark.skipif(shutil.which("qemu-system-arm") is None,
                       reason="qemu-system-arm missing (Debian package qemu-system-arm)"),
    pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None,
                       reason="arm-none-eabi-gcc missing (Debian packages gcc-arm-none-eabi libnewlib-arm-none-eabi)"),
]

SELFTEST_DIR = edgeloop.FIRMWARE_DIR / "ports" / "qemu-mps2-an500" / "selftest"
REPLY_TIMEOUT_S = 10.0


# ---- bare-metal runner ----

@pytest.fixture(scope="module")
def selftest_elf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("selftest")
    return qemu.build_bare_metal([SELFTEST_DIR / "port_selftest.c"], out, name="port_selftest")


def _exit_image(tmp_path: Path, define: str) -> Path:
    return qemu.build_bare_metal([SELFTEST_DIR / "exit_or_fault.c"], tmp_path, name="exit_or_fault",
                                 extra_cflags=[define])


def test_port_selftest_passes_and_is_deterministic(selftest_elf: Path) -> None:
    first = qemu.run_bare_metal(selftest_elf, timeout=60)
    second = qemu.run_bare_metal(selftest_elf, timeout=60)
    first.check()
    assert "FAIL" not in first.output
    assert "done 0" in first.output
    assert "board qemu-mps2-an500 timing 1 tick_hz 25000000 cpu_hz 25000000" in first.output
    # -icount shift=0 makes every tick count reproducible: the whole transcript is identical.
    assert first.output == second.output


def test_systick_counts_one_tick_per_40_instructions(selftest_elf: Path) -> None:
    result = qemu.run_bare_metal(selftest_elf, timeout=60).check()
    calib = {int(n): int(t) for n, t in re.findall(r"^calib (\d+) (\d+)$", result.output, re.MULTILINE)}
    assert sorted(calib) == [2_000, 20_000, 200_000, 2_000_000], result.output
    # The slope between the two long loops cancels the fixed cost of reading the counter.
    slope = (2_000_000 - 200_000) / (calib[2_000_000] - calib[200_000])
    assert slope == pytest.approx(qemu.INSTRUCTIONS_PER_TICK, rel=1e-3)
    for instructions, ticks in calib.items():
        # +-2 ticks: counter read overhead and the SysTick interrupts inside the loop.
        assert abs(ticks * qemu.INSTRUCTIONS_PER_TICK - instructions) <= 2 * qemu.INSTRUCTIONS_PER_TICK
    # The port's own measurement (reported as INFO instr_per_tick) agrees with this independent one.
    (port_says,) = re.findall(r"^instr_per_tick (\d+)$", result.output, re.MULTILINE)
    assert int(port_says) == round(slope)


def test_exit_status_and_uart_output_come_back(tmp_path: Path) -> None:
    result = qemu.run_bare_metal(_exit_image(tmp_path, "-DEXIT_STATUS=5"), timeout=30)
    assert result.status == 5 and not result.timed_out and not result.ok
    assert result.output == "image says hello\n"
    with pytest.raises(qemu.BareMetalFailure, match="exited with status 5"):
        result.check()


def test_fault_ends_the_run_with_the_exception_number(tmp_path: Path) -> None:
    result = qemu.run_bare_metal(_exit_image(tmp_path, "-DDIVIDE_BY_ZERO"), timeout=30)
    assert result.status == 0x80 | 3  # HardFault (the divide-by-zero UsageFault escalates)
    assert "fault, exception 0x003, CFSR 0x02000000" in result.console  # CFSR.DIVBYZERO


def test_hanging_image_is_killed_at_the_timeout(tmp_path: Path) -> None:
    elf = _exit_image(tmp_path, "-DHANG")
    start = time.monotonic()
    result = qemu.run_bare_metal(elf, timeout=1.5)
    assert result.timed_out and result.status is None
    assert result.output == "image says hello\n"
    assert time.monotonic() - start < 15
    with pytest.raises(qemu.BareMetalFailure, match="timed out"):
        result.check()


def test_bad_images_and_missing_qemu_get_clear_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        qemu.run_bare_metal(tmp_path / "missing.elf", timeout=5)
    text = tmp_path / "image.bin"
    text.write_bytes(b"\x00\x10\x00\x20" * 8)
    with pytest.raises(qemu.QemuError, match="not an ELF file"):
        qemu.run_bare_metal(text, timeout=5)
    with pytest.raises(ValueError, match="timeout must be positive"):
        qemu.run_bare_metal(text, timeout=0)
    with pytest.raises(qemu.QemuNotFoundError, match="qemu-system-arm is not an executable"):
        qemu.start_qemu_board(text, qemu=tmp_path / "qemu-system-arm")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(qemu.QemuNotFoundError, match="apt-get install qemu-system-arm"):
        qemu.find_qemu()


def test_build_errors_carry_the_compiler_output(tmp_path: Path) -> None:
    broken = tmp_path / "broken.c"
    broken.write_text("int main(void) { return undefined_symbol; }\n", encoding="utf-8")
    with pytest.raises(qemu.BareMetalBuildError, match="undefined_symbol"):
        qemu.build_bare_metal([broken], tmp_path / "out")
    with pytest.raises(ValueError, match="not found"):
        qemu.build_bare_metal([tmp_path / "nope.c"], tmp_path / "out")
    with pytest.raises(ValueError, match="at least one C source"):
        qemu.build_bare_metal([], tmp_path / "out")


# ---- the firmware image over the link ----

@pytest.fixture(scope="module")
def firmware() -> FirmwareImage:
    return build_firmware("qemu-mps2-an500", models=["sine", "mean64"])


@pytest.fixture()
def board(firmware: FirmwareImage) -> Iterator[qemu.QemuBoard]:
    with qemu.start_qemu_board(firmware.elf) as running:
        yield running
    assert not running.running


class _Link:
    """Minimal protocol client: one request at a time, or a burst of them."""

    def __init__(self, url: str) -> None:
        self.port = serial.serial_for_url(url, timeout=0.05)
        self.decoder = Decoder(max_payload=65535)
        self.seq = 0
        self.backlog: list[Frame] = []  # frames decoded beyond what the last replies() asked for
        self.port.write(b"\x00")

    def send(self, message: Message) -> int:
        self.seq += 1
        self.port.write(encode_message(message, seq=self.seq, max_payload=65535))
        return self.seq

    def replies(self, count: int) -> list[Frame]:
        deadline = time.monotonic() + REPLY_TIMEOUT_S
        while len(self.backlog) < count:
            assert time.monotonic() < deadline, f"only {len(self.backlog)} of {count} replies arrived"
            for event in self.decoder.feed(self.port.read(4096)):
                assert isinstance(event, Frame), f"device sent a bad frame: {event}"
                self.backlog.append(event)
        frames, self.backlog = self.backlog[:count], self.backlog[count:]
        return frames

    def request(self, message: Message) -> Message:
        seq = self.send(message)
        (frame,) = self.replies(1)
        assert frame.seq == seq
        return frame.message

    def close(self) -> None:
        self.port.close()


def test_image_boots_and_describes_itself(board: qemu.QemuBoard) -> None:
    link = _Link(board.url)
    try:
        info = link.request(Hello())
    finally:
        link.close()
    assert isinstance(info, Info)
    assert info.board == "qemu-mps2-an500"
    assert info.timing_source == TimingSource.QEMU_ICOUNT
    assert TimingSource(info.timing_source).label == "emulated"
    assert info.tick_hz == qemu.SYSTICK_HZ and info.cpu_hz == qemu.SYSTICK_HZ
    assert info.rx_credit >= 2 and info.max_payload >= 4096
    assert [m.name for m in info.models] == ["sine", "mean64"]


def test_infer_bench_ping_and_stats_end_to_end(board: qemu.QemuBoard) -> None:
    link = _Link(board.url)
    try:
        link.request(Hello())
        payload = bytes(range(256)) * 3
        assert link.request(Ping(payload)) == Pong(payload)

        image = np.random.default_rng(7).integers(-128, 128, size=4096, dtype=np.int8)
        result = link.request(Infer(model=1, input=image.tobytes()))
        assert isinstance(result, Result) and result.model == 1
        total = int(image.astype(np.int64).sum())
        expected = int(np.sign(total) * ((2 * abs(total) + 4096) // (2 * 4096)))
        assert np.frombuffer(result.output, dtype=np.int8).tolist() == [expected]
        assert result.tick_hz == qemu.SYSTICK_HZ and result.t_infer > 0 and result.t_rx > 0

        bench = link.request(Bench(model=1, runs=20))
        assert isinstance(bench, BenchResult) and bench.runs == 20
        # Emulated instruction counts do not jitter: runs differ only by where the 40-instruction
        # tick boundaries fall, plus a SysTick interrupt landing inside a run (about one tick).
        assert bench.max - bench.min <= 2
        assert abs(result.t_infer - bench.min) <= 2
        assert bench.min * 20 <= bench.total <= bench.max * 20

        stats = link.request(Stats())
        assert isinstance(stats, StatsReply)
        assert stats.frames_ok == 5 and stats.crc_errors == 0 and stats.overflows == 0
        assert stats.inferences == 1 and stats.bench_runs == 20  # SPEC 1.1 §5.10: INFER and BENCH apart
    finally:
        link.close()


def test_credit_window_pipelines_and_garbage_is_survived(board: qemu.QemuBoard) -> None:
    link = _Link(board.url)
    try:
        info = link.request(Hello())
        assert isinstance(info, Info)
        images = [np.full(4096, value, dtype=np.int8) for value in (-100, 3, 90)][: info.rx_credit]
        seqs = [link.send(Infer(model=1, input=img.tobytes())) for img in images]  # a full credit window at once
        frames = link.replies(len(seqs))
        assert [f.seq for f in frames] == seqs
        assert [np.frombuffer(f.message.output, dtype=np.int8)[0] for f in frames] == [
            int(img[0]) for img in images]

        # Line noise, then a frame with a bad CRC: dropped and counted, and the device keeps serving.
        link.port.write(b"\x13\x37\xff\x00")
        corrupt = bytearray(encode_message(Ping(b"x" * 40), seq=999, max_payload=65535))
        corrupt[10] ^= 0x01
        link.port.write(bytes(corrupt))
        assert link.request(Ping(b"still alive")) == Pong(b"still alive")
        stats = link.request(Stats())
        assert isinstance(stats, StatsReply)
        assert stats.crc_errors + stats.framing_errors >= 2 and stats.crc_errors >= 1
    finally:
        link.close()


@pytest.mark.slow
def test_bytes_lost_to_a_full_receive_ring_are_counted() -> None:
    # QEMU's UART delivers bytes slower than a 64 KB ring fills during any short BENCH, so the
    # ring is shrunk to 1 KB here: junk sent while the core computes must overflow it.
    small_ring = build_firmware("qemu-mps2-an500", models=["sine", "mean64"],
                                extra_cflags=["-DEL_PORT_RX_RING_BYTES=1024u"])
    with qemu.start_qemu_board(small_ring.elf) as running:
        link = _Link(running.url)
        try:
            link.request(Hello())
            before = link.request(Stats())
            bench_seq = link.send(Bench(model=1, runs=20_000))  # ~8 M ticks of compute
            time.sleep(0.05)
            link.port.write(b"\x01" * 20_000 + b"\x00")
            (bench,) = link.replies(1)
            assert bench.seq == bench_seq and isinstance(bench.message, BenchResult)
            link.port.write(b"\x00")  # the junk's delimiter may have been among the lost bytes
            after = link.request(Stats())
            assert isinstance(before, StatsReply) and isinstance(after, StatsReply)
            lost = after.rx_dropped_bytes - before.rx_dropped_bytes
            received = after.rx_bytes - before.rx_bytes
            assert lost > 1000, (before, after)
            # Every junk byte was either received or counted as lost (plus the requests' own bytes).
            assert received + lost >= 20_000
            assert link.request(Ping(b"ok")) == Pong(b"ok")
        finally:
            link.close()


def test_board_accepts_a_second_connection(board: qemu.QemuBoard) -> None:
    first = _Link(board.url)
    assert isinstance(first.request(Hello()), Info)
    first.close()
    second = _Link(board.url)
    try:
        assert second.request(Ping(b"again")) == Pong(b"again")
    finally:
        second.close()
    assert board.running


def test_stop_ends_qemu_and_frees_the_port(firmware: FirmwareImage) -> None:
    running = qemu.start_qemu_board(firmware.elf)
    assert running.running and running.url == f"socket://127.0.0.1:{running.port}"
    running.stop()
    assert not running.running
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", running.port), timeout=1).close()


def test_a_dropped_handle_does_not_leave_qemu_running(firmware: FirmwareImage) -> None:
    running = qemu.start_qemu_board(firmware.elf)
    process = running.process
    del running
    gc.collect()
    assert process.wait(timeout=10) is not None
