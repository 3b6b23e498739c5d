"""Firmware builds, the host virtual board process, and the `board` / `firmware` CLI commands."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest
import serial

from edgeloop.app.link import firmware_build
from edgeloop.app.link.boards import BoardStartError, start_board
from edgeloop.app.cli import main as cli_main
from edgeloop.app.commands import firmware as firmware_cmd
from edgeloop.app.link.firmware_build import FirmwareBuildError, ToolchainMissingError, build_firmware, resolve_model
from edgeloop.protocol import Decoder, Hello, Info, Ping, Pong, encode_message


def _hello(url: str) -> Info:
    with serial.serial_for_url(url, timeout=0.1) as port:
        port.write(b"\x00" + encode_message(Hello(), seq=1))
        return _reply(port, 1)


def _reply(port: serial.SerialBase, seq: int, timeout: float = 10.0):
    dec = Decoder()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for ev in dec.feed(port.read(max(1, port.in_waiting))):
            if getattr(ev, "seq", None) == seq:
                return ev.message
    raise AssertionError(f"no reply to seq {seq}")


@pytest.mark.slow
def test_build_is_cached_and_keyed_by_models(tmp_path: Path) -> None:
    first = build_firmware("host", ["sine"], build_root=tmp_path)
    stamp = first.elf.stat().st_mtime_ns
    again = build_firmware("host", ["sine"], build_root=tmp_path)
    assert again.elf == first.elf and again.elf.stat().st_mtime_ns == stamp, "nothing changed: no rebuild"
    other = build_firmware("host", ["sine", "mean64"], build_root=tmp_path)
    assert other.build_dir != first.build_dir and other.elf.is_file()
    assert [m.stem for m in other.models] == ["sine", "mean64"]


def test_build_errors_name_the_problem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(FirmwareBuildError, match="unknown board 'esp32'"):
        build_firmware("esp32", build_root=tmp_path)
    with pytest.raises(FirmwareBuildError, match="unknown model 'nosuch'.*sine"):
        resolve_model("nosuch")
    (tmp_path / "lonely.c").write_text("int x;\n")
    with pytest.raises(FirmwareBuildError, match="lonely.h is missing"):
        resolve_model(tmp_path / "lonely.c")
    (tmp_path / "bad.c").write_text("this is not C\n")
    (tmp_path / "bad.h").write_text("#define BAD_ARENA_BYTES 0u\n")
    with pytest.raises(FirmwareBuildError, match="building the host firmware failed"):
        build_firmware("host", [tmp_path / "bad.c"], build_root=tmp_path / "b")
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "make").symlink_to(shutil.which("make"))  # make is there, the ARM compiler is not
    monkeypatch.setenv("PATH", str(tools))
    with pytest.raises(ToolchainMissingError, match="gcc-arm-none-eabi"):
        build_firmware("qemu-mps2-an500", build_root=tmp_path)


def test_model_folder_resolves_to_its_source(tmp_path: Path) -> None:
    model = firmware_build.TEST_MODELS_DIR / "mean64.c"
    assert resolve_model(model) == model.resolve()
    assert resolve_model("sine") == (firmware_build.ZOO_DIR / "sine" / "c" / "sine.c").resolve()
    (tmp_path / "m.c").write_text("")
    (tmp_path / "m.h").write_text("")
    assert resolve_model(tmp_path) == (tmp_path / "m.c").resolve()


@pytest.mark.slow
def test_host_board_ready_line_reconnect_and_clean_exit() -> None:
    board = start_board("host", models=["sine"])
    try:
        assert board.url.startswith("socket://127.0.0.1:") and board.running
        info = _hello(board.url)
        assert info.board == "host" and [m.name for m in info.models] == ["sine"]
        # A client that leaves a request half-sent does not disturb the next client.
        with serial.serial_for_url(board.url, timeout=0.1) as port:
            port.write(encode_message(Ping(b"half"), seq=9)[:5])
        assert _hello(board.url).board == "host"
    finally:
        proc = board._process
        assert proc is not None
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0, "SIGTERM ends the board cleanly"
        board.stop()


def test_host_board_serves_a_pty() -> None:
    with start_board("host", models=["sine"], pty=True) as board:
        assert board.pty.startswith("/dev/")
        assert _hello(board.pty).board == "host"


def test_baud_paces_the_link_like_a_uart() -> None:
    baud, size = 115200, 3000
    with start_board("host", models=["sine"], baud=baud) as board, \
            serial.serial_for_url(board.url, timeout=0.1) as port:
        port.write(b"\x00" + encode_message(Hello(), seq=1))
        _reply(port, 1)
        start = time.monotonic()
        port.write(encode_message(Ping(bytes(range(1, 201)) * (size // 200)), seq=2))
        assert _reply(port, 2) == Pong(bytes(range(1, 201)) * (size // 200))
        elapsed = time.monotonic() - start
    line_time = 2 * (size + 12) / (baud / 10)  # request and reply at 10 bits per byte
    assert elapsed >= 0.9 * line_time, f"{elapsed:.3f} s for {line_time:.3f} s of line time"


def test_bad_board_options_are_reported() -> None:
    with pytest.raises(BoardStartError, match="64-byte minimum"):
        start_board("host", models=["sine"], rx_ring=10)
    with pytest.raises(ValueError, match="host board only"):
        start_board("qemu", baud=9600)
    with pytest.raises(ValueError, match="unknown board target"):
        start_board("esp32")


def test_cli_board_rejects_qemu_baud(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["board", "--target", "qemu", "--baud", "9600"]) == 2
    assert "host board only" in capsys.readouterr().err


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_cli_board_runs_until_interrupted(stop: signal.Signals) -> None:
    import sys

    # Started with SIGINT ignored, as a script's background job is: Ctrl-C must still stop it.
    proc = subprocess.Popen([sys.executable, "-m", "edgeloop", "board", "--models", "sine"],
                            stdout=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        line = proc.stdout.readline()
        assert line.startswith("board host ready: socket://127.0.0.1:"), line
        url = line.split()[3]
        assert _hello(url).board == "host"
        board_pid = psutil.Process(proc.pid).children()[0].pid
        proc.send_signal(stop)
        assert proc.wait(timeout=10) == 0
        assert not psutil.pid_exists(board_pid) or psutil.Process(board_pid).status() == psutil.STATUS_ZOMBIE
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_flash_finds_the_stlink_drive_and_copies(tmp_path: Path) -> None:
    drive = tmp_path / "media" / "user" / "NOD_H743ZI2"
    drive.mkdir(parents=True)
    (drive / "DETAILS.TXT").write_text("Version: V3J7M2\nBuild:   Mar 20 2023\n")
    assert firmware_cmd.find_stlink_drive((str(tmp_path / "media"),)) == drive
    image = tmp_path / "edgeloop.bin"
    image.write_bytes(b"\x00\x01firmware")
    original = firmware_cmd.find_stlink_drive
    try:
        firmware_cmd.find_stlink_drive = lambda: drive  # type: ignore[assignment]
        assert "copied" in firmware_cmd.flash(tmp_path / "edgeloop.elf", image, "drag")
    finally:
        firmware_cmd.find_stlink_drive = original  # type: ignore[assignment]
    assert (drive / "edgeloop.bin").read_bytes() == image.read_bytes()


def test_flash_without_any_tool_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    (tmp_path / "fw.elf").write_bytes(b"\x7fELF")
    (tmp_path / "fw.bin").write_bytes(b"bin")
    assert cli_main(["firmware", "flash", "--method", "st-flash", "--image", str(tmp_path / "fw.elf")]) == 2
    assert "stlink-tools" in capsys.readouterr().err
    assert cli_main(["firmware", "flash", "--method", "drag", "--image", str(tmp_path / "fw.elf")]) == 2
    assert "NOD_H743ZI2" in capsys.readouterr().err


def test_infer_us_stretches_device_time_and_bench_sees_it() -> None:
    from edgeloop.protocol import Bench, BenchResult, Infer, Result

    with start_board("host", ["sine"], infer_us=20_000) as board, \
            serial.serial_for_url(board.url, timeout=0.1) as port:
        port.write(b"\x00" + encode_message(Infer(0, b"\x05"), seq=2))
        result = _reply(port, 2)
        assert isinstance(result, Result)
        assert 20_000 <= result.timings_us()["t_infer"] < 1_000_000
        port.write(encode_message(Bench(0, 3), seq=3))
        bench = _reply(port, 3)
        assert isinstance(bench, BenchResult) and bench.min >= 20_000_000  # ns ticks on the host board
    with pytest.raises(ValueError, match="infer_us must be 0..1000000"):
        start_board("host", ["sine"], infer_us=2_000_000)
    with pytest.raises(ValueError, match="host board only"):
        start_board("qemu", ["sine"], infer_us=10)


def test_a_bare_model_name_wins_over_a_same_named_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "sine").mkdir()
    monkeypatch.chdir(tmp_path)
    assert resolve_model("sine").name == "sine.c" and resolve_model("sine").parent != tmp_path / "sine"
