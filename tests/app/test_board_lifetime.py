"""A virtual board never outlives the process that started it, whatever kills that process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

PARENT = """
import sys, threading, time
from edgeloop.app.link.boards import start_board
boards = []
# Started from a worker thread that ends at once: the board must survive the thread, not the process.
worker = threading.Thread(target=lambda: boards.append(start_board({target!r})))
worker.start(); worker.join()
print(boards[0].pid, flush=True)
time.sleep(60)
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in state  # a zombie has died; only its reaping is pending


@pytest.mark.parametrize("target", ["host", "qemu"])
def test_board_dies_when_its_parent_is_killed(target: str) -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT.format(target=target)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    try:
        line = parent.stdout.readline()
        assert line.strip().isdigit(), parent.stderr.read()
        board_pid = int(line)
        time.sleep(0.5)
        assert _alive(board_pid), "the board must outlive the worker thread that started it"
        parent.send_signal(signal.SIGKILL)  # no atexit, no finalizer, no signal handler runs
        parent.wait(timeout=10)
        deadline = time.monotonic() + 5
        while _alive(board_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        alive = _alive(board_pid)
        if alive:
            os.kill(board_pid, signal.SIGKILL)
        assert not alive, f"the {target} board (pid {board_pid}) kept running after its parent was killed"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
