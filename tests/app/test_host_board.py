"""Session, pipeline, runner and CLI against the host virtual board (the firmware core as a Linux process)."""

from __future__ import annotations

import csv
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import edgeloop
from edgeloop.app.live.pipeline import Pipeline
from edgeloop.app.live.runner import run_headless
from edgeloop.app.link.session import LinkState, RequestTimeout, Session
from edgeloop.app.live.sources import open_source
from edgeloop.protocol import Ping, TimingSource

pytestmark = pytest.mark.timeout(120)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pid(board) -> int:
    assert board.pid is not None and board.running, "the host board handle exposes no running process"
    return board.pid


def test_pipeline_on_host_board_matches_local_reference(host_board_factory) -> None:
    with host_board_factory(target="host", models=["mean64", "sine"]) as board, Session(board.url) as session:
        info = session.connect()
        assert info.timing_source == TimingSource.HOST_CLOCK and info.rx_credit >= 1
        pipe = Pipeline(open_source("synthetic:bottles?fps=0&frames=12"), session, model="mean64")
        records = list(pipe.records(timeout=60))
        assert len(records) == 12 and all(r.ok for r in records)
        assert [r.capture_index for r in sorted(records, key=lambda r: r.seq)] == list(range(12))
        for record in records:
            # mean64 outputs the mean of its int8 input, in the input's own quantization.
            expected = np.frombuffer(pipe._preprocessor.encode(record.view), np.int8).astype(float)
            value = float(record.label.split("=")[1])
            assert value == pytest.approx((expected.mean() + 128) / 255, abs=2 / 255)
            assert record.ticks["t_infer"] > 0 and record.timing_label == "host clock"
            assert record.timings_us["t_infer"] == pytest.approx(record.ticks["t_infer"] / 1e3)
            assert 0 < record.rtt_s < record.latency_s + 1e-3 and record.host_overhead_s < record.latency_s


def test_request_times_out_while_board_is_frozen_then_recovers(host_board_factory) -> None:
    with host_board_factory(target="host") as board, Session(board.url, base_timeout=0.3, retries=1) as session:
        session.connect()
        os.kill(_pid(board), signal.SIGSTOP)
        try:
            with pytest.raises(RequestTimeout, match="after 2 attempts"):
                session.request(Ping(b"x")).result(timeout=10)
        finally:
            os.kill(_pid(board), signal.SIGCONT)
        assert session.ping() < 1.0
        stats = session.stats()
        # One retry of the frozen request; the thawed board may also answer BUSY to the new ping while
        # it still holds the two retired ones, which costs another retry, not a failure.
        assert stats.timeouts == 1 and stats.retries >= 1
        # It answers the retired requests once it thaws: counted as late, never delivered.
        assert stats.late_replies == 2 and stats.unmatched_replies == 0


@pytest.mark.slow
def test_reconnect_after_board_process_is_killed_and_restarted(host_board_factory) -> None:
    port = _free_port()
    states: list[LinkState] = []
    board = host_board_factory(target="host", tcp_port=port)
    session = Session(board.url, max_backoff=0.5, on_state=lambda s, d: states.append(s))
    try:
        session.connect()
        assert session.ping() < 1.0
        os.kill(_pid(board), signal.SIGKILL)
        board.stop()
        deadline = time.monotonic() + 10
        while session.state is not LinkState.RECONNECTING and time.monotonic() < deadline:
            try:
                session.request(Ping(b"?"), credit_timeout=0.2).exception(timeout=5)
            except (OSError, TimeoutError):
                pass
            time.sleep(0.05)
        assert session.state is LinkState.RECONNECTING
        board = host_board_factory(target="host", tcp_port=port)
        deadline = time.monotonic() + 15
        while session.state is not LinkState.CONNECTED and time.monotonic() < deadline:
            time.sleep(0.05)
        assert session.state is LinkState.CONNECTED and session.stats().reconnects == 1
        assert session.ping() < 1.0
        assert states[:2] == [LinkState.CONNECTING, LinkState.CONNECTED] and LinkState.RECONNECTING in states
    finally:
        session.close()
        board.stop()


def test_runner_logs_every_result_to_csv(host_board_factory, tmp_path: Path) -> None:
    log = tmp_path / "results.csv"
    with host_board_factory(target="host", models=["mean64"]) as board, Session(board.url) as session:
        session.connect()
        pipe = Pipeline(open_source("synthetic:bottles?fps=0"), session)
        lines = []

        class Out:
            def write(self, text: str) -> None:
                lines.append(text)

            def flush(self) -> None:
                pass

        summary = run_headless(pipe, log_path=log, frames=8, out=Out())
    assert summary.results == 8 and summary.failures == 0
    printed = [line for line in "".join(lines).splitlines() if line.strip()]
    assert len(printed) == 8 and "host clock" in printed[0] and "µs" in printed[0]
    rows = list(csv.DictReader(log.open()))
    assert len(rows) == 8
    assert {row["timing_source"] for row in rows} == {"host clock"}
    assert all(int(row["t_infer_ticks"]) > 0 and float(row["rtt_ms"]) > 0 for row in rows)
    assert rows[0]["truth"] == "full" and rows[0]["label"].startswith("mean = ")


def _cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgeloop", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=edgeloop.PACKAGE_ROOT.parent)


def test_cli_run_against_host_board(host_board_factory, tmp_path: Path) -> None:
    with host_board_factory(target="host", models=["mean96", "sine"]) as board:
        result = _cli("run", "--port", board.url, "--source", "synthetic:bottles?fps=0", "--model", "mean96",
                      "--frames", "4", "--log", str(tmp_path / "r.csv"))
        assert result.returncode == 0, result.stderr
        assert "device timings are host clock" in result.stdout and "4 results, 0 failed" in result.stdout
        wrong = _cli("run", "--port", board.url, "--source", "synthetic:imu", "--model", "mean96", "--frames", "1")
        assert wrong.returncode == 2 and "takes image input but source" in wrong.stderr
        # A recorded session replays as a source, ground truth included.
        from edgeloop.app.sessions.recording import LabelSet, Recorder

        with open_source("synthetic:bottles?fps=0&frames=5&drain=0.1") as scene, \
                Recorder(tmp_path / "s1", LabelSet(), kind="image", label_from_source=True) as rec:
            truth = [c.meta["label"] for c in scene if rec.add_capture(c)]
        replay = _cli("run", "--port", board.url, "--source", f"session:{tmp_path / 's1'}?speed=0",
                      "--model", "mean96", "--log", str(tmp_path / "s.csv"))
        assert replay.returncode == 0, replay.stderr
        assert "5 results, 0 failed" in replay.stdout
        assert [row["truth"] for row in csv.DictReader((tmp_path / "s.csv").open())] == truth


def test_cli_errors_are_one_clear_line() -> None:
    missing = _cli("run", "--port", "/dev/ttyEDGELOOP_NONE", "--source", "synthetic:bottles", "--frames", "1")
    assert missing.returncode == 2 and "edgeloop: error: serial port /dev/ttyEDGELOOP_NONE not found" in missing.stderr
    loop = _cli("run", "--port", "loop://", "--source", "synthetic:bottles", "--frames", "1")
    assert loop.returncode == 2 and "does not speak the edgeloop protocol" in loop.stderr
    ports = _cli("ports")
    assert ports.returncode == 0 and ports.stdout.strip()


@pytest.mark.slow
def test_demo_without_display_runs_headless_and_bounded() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    result = _cli("demo", "--frames", "3", "--baud", "0", env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "no display" in result.stderr and "running headless" in result.stderr
    assert "3 results, 0 failed" in result.stdout and "not MCU cycles" in result.stdout


def test_runner_reports_a_link_outage_and_logs_rows_in_capture_order(host_board_factory, tmp_path: Path) -> None:
    import threading
    from datetime import datetime

    log = tmp_path / "trial.csv"
    lines: list[str] = []

    class Out:
        def write(self, text: str) -> None:
            lines.append(text)

        def flush(self) -> None:
            pass

    with host_board_factory(target="host", models=["mean64"]) as board, \
            Session(board.url, base_timeout=0.2, retries=1, max_backoff=0.3, hello_timeout=0.5) as session:
        session.connect()
        pipe = Pipeline(open_source("synthetic:bottles?fps=30"), session)
        freeze = threading.Timer(1.0, os.kill, (_pid(board), signal.SIGSTOP))
        thaw = threading.Timer(3.5, os.kill, (_pid(board), signal.SIGCONT))
        freeze.start()
        thaw.start()
        try:
            summary = run_headless(pipe, log_path=log, seconds=7.0, out=Out())
        finally:
            thaw.cancel()
            os.kill(_pid(board), signal.SIGCONT)
    printed = "".join(lines)
    assert "link lost:" in printed and "link restored:" in printed, printed[-2000:]
    rows = list(csv.DictReader(log.open()))
    events = [r["event"] for r in rows if r["event"]]
    assert events[0].startswith("link lost:") and events[-1].startswith("link restored:"), events
    results = [r for r in rows if not r["event"]]
    assert [int(r["capture_index"]) for r in results] == sorted(int(r["capture_index"]) for r in results)
    failed = [r for r in results if r["error"]]
    assert failed and summary.failures == len(failed) and summary.link_events == len(events)
    sent = [r for r in failed if int(r["attempts"]) > 0]
    assert sent and all(int(r["seq"]) > 0 for r in sent), "a failed row names its last attempt's seq"
    stamps = [datetime.fromisoformat(r["utc"].replace("Z", "+00:00")) for r in rows]
    assert all(s.tzinfo is not None for s in stamps) and abs(stamps[0].timestamp() - time.time()) < 60
    assert [s for s, r in zip(stamps, rows) if not r["event"]] == sorted(
        s for s, r in zip(stamps, rows) if not r["event"])
    assert results[-1]["error"] == "", "results flow again after the reconnect"


def _wide_norm_model(folder: Path, count: int = 9000) -> Path:
    """A model whose per-element norms (count x 8 bytes) overflow a descriptor's u16 length."""
    values = ", ".join(f"{0.5 * i:.1f}f, {1 + i % 7}.0f" for i in range(count))
    (folder / "widenorm.h").write_text(
        "#ifndef WIDENORM_H\n#define WIDENORM_H\n#include \"nn_model.h\"\n#define WIDENORM_ARENA_BYTES 0u\n"
        "extern const nn_model_t nn_model_widenorm;\n#endif\n")
    source = folder / "widenorm.c"
    source.write_text(
        "#include \"widenorm.h\"\n"
        f"static const float norms[{2 * count}] = {{{values}}};\n"
        "static const char *const labels[1] = {\"first\"};\n"
        "static nn_status_t invoke(const void *in, void *out, void *arena)\n"
        "{ (void)arena; *(int8_t *)out = *(const int8_t *)in; return NN_OK; }\n"
        "const nn_model_t nn_model_widenorm = {.name = \"widenorm\", .macc = 1, .flash_bytes = 1,\n"
        "    .input_kind = NN_INPUT_TENSOR,\n"
        f"    .input = {{NN_DTYPE_INT8, 2, {{1, {count}}}, 0.1f, 0, {count}}},\n"
        "    .output = {NN_DTYPE_INT8, 2, {1, 1}, 0.1f, 0, 1}, .label_count = 1, .labels = labels,\n"
        f"    .invoke = invoke, .input_norm_count = {count}, .input_norm = norms}};\n")
    return source


def test_a_descriptor_over_64_kb_is_abridged_and_read_whole_with_describe_model(host_board_factory,
                                                                               tmp_path: Path) -> None:
    import serial

    from edgeloop.protocol import Decoder, Hello, Info, encode_message

    with host_board_factory(target="host", models=["sine", _wide_norm_model(tmp_path)]) as board:
        with serial.serial_for_url(board.url, timeout=0.1) as port:  # what INFO itself carries
            port.write(b"\x00" + encode_message(Hello(), seq=1))
            decoder, info = Decoder(), None
            deadline = time.monotonic() + 10
            while info is None and time.monotonic() < deadline:
                info = next((e.message for e in decoder.feed(port.read(65536)) if hasattr(e, "message")), None)
        assert isinstance(info, Info)
        raw = info.models[1]
        assert raw.abridged and raw.input_norm == () and raw.labels == () and not info.models[0].abridged
        with Session(board.url) as session:
            full = session.connect().models[1]
    assert not full.abridged and full.labels == ("first",) and len(full.input_norm) == 9000
    assert full.input_norm[8999] == (0.5 * 8999, 1.0 + 8999 % 7)
    assert (full.name, full.input.dims, full.model_id) == (raw.name, raw.input.dims, raw.model_id)
