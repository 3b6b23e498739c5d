"""Ctrl-C and SIGTERM stop the live commands cleanly: logs complete, the GUI closed, no orphaned board.

Each command is started with SIGINT ignored, as a shell script's background
job is, so the tests also check that edgeloop takes SIGINT back.
"""

from __future__ import annotations

import csv
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

import edgeloop
from edgeloop.app.live.stop_signals import deferred_interrupts

pytestmark = pytest.mark.timeout(180)

STOPS = [signal.SIGTERM, signal.SIGINT]


def _start(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "edgeloop", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=edgeloop.PACKAGE_ROOT.parent,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))


def _read_until(proc: subprocess.Popen[str], pattern: str, timeout: float) -> list[str]:
    """stdout lines up to the first one matching `pattern` (fails with what was read otherwise)."""
    assert proc.stdout is not None
    lines: list[str] = []
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if re.search(pattern, line):
            return lines
    proc.kill()
    pytest.fail(f"no line matching {pattern!r}; stdout: {''.join(lines)}; stderr: {proc.stderr.read()}")


def _stop(proc: subprocess.Popen[str], stop: signal.Signals, timeout: float = 30) -> tuple[str, str]:
    proc.send_signal(stop)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"still running {timeout} s after {stop.name}; stderr: {err}")
    return out, err


def _gone(pid: int) -> bool:
    return not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


@pytest.mark.parametrize("stop", STOPS, ids=lambda s: s.name)
def test_an_interrupt_waits_for_the_end_of_a_deferred_block(stop: signal.Signals) -> None:
    before = {number: signal.getsignal(number) for number in STOPS}
    done = []
    with pytest.raises(KeyboardInterrupt):
        with deferred_interrupts():
            os.kill(os.getpid(), stop)
            time.sleep(0.05)  # the handler has run by now; the block goes on regardless
            done.append("rest of the block")
    assert done == ["rest of the block"]
    with deferred_interrupts():  # no signal: nothing raised
        pass
    assert {number: signal.getsignal(number) for number in STOPS} == before  # handlers restored


@pytest.mark.parametrize("stop", STOPS, ids=lambda s: s.name)
def test_run_logs_every_result_it_reports_when_stopped(stop: signal.Signals, host_board_factory,
                                                        tmp_path: Path) -> None:
    log = tmp_path / "results.csv"
    with host_board_factory(target="host", models=["mean96"]) as board:
        proc = _start("run", "--port", board.url, "--source", "synthetic:bottles?fps=20", "--model", "mean96",
                      "--log", str(log))
        try:
            _read_until(proc, r"^model mean96", timeout=60)
            time.sleep(2.0)  # a few dozen results
            out, err = _stop(proc, stop)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 130, err
        reported = re.search(r"(\d+) results, (\d+) failed", out)
        assert reported, out
        rows = list(csv.DictReader(log.open()))
        assert int(reported.group(1)) > 5 and len(rows) == int(reported.group(1)) + int(reported.group(2))
        assert f"results written to {log}" in out


@pytest.mark.slow
@pytest.mark.parametrize("stop", STOPS, ids=lambda s: s.name)
def test_demo_closes_the_window_and_stops_its_board(stop: signal.Signals) -> None:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    proc = _start("demo", "--models", "mean96", "--baud", "0", env=env)
    try:
        _read_until(proc, r"^board ready at socket://", timeout=120)
        boards = [child.pid for child in psutil.Process(proc.pid).children(recursive=True)]
        assert boards, "the demo started no board process"
        time.sleep(3.0)  # the window is up and results flow
        out, err = _stop(proc, stop)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert all(_gone(pid) for pid in boards), "the board outlived the demo"


def test_record_ends_like_a_limit_on_sigterm(tmp_path: Path) -> None:
    from edgeloop.app.sessions.library import load_session

    out = tmp_path / "s"
    proc = _start("record", "--source", "synthetic:bottles?fps=30&size=32", "--out", str(out),
                  "--labels", "x", "--label", "x", "--no-progress")
    try:
        end = time.monotonic() + 60
        while not (out / "manifest.jsonl").exists() or len((out / "manifest.jsonl").read_text().splitlines()) < 5:
            assert time.monotonic() < end and proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.1)
        out_text, err = _stop(proc, signal.SIGTERM)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err  # a stop request, not an interruption: the summary is printed
    session = load_session(out)
    assert session.status == "complete" and session.n_samples >= 5
    assert f"recorded {session.n_samples} images" in out_text
