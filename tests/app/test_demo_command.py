"""`edgeloop demo` without a display: says what it starts and how to stop; `--board qemu` runs the ARM image."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import edgeloop

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]


def _demo(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    return subprocess.run([sys.executable, "-m", "edgeloop", "demo", *args], capture_output=True, text=True,
                          timeout=380, env=env, cwd=edgeloop.PACKAGE_ROOT.parent)


def test_headless_demo_says_how_to_stop_and_builds_only_once() -> None:
    first = _demo("--baud", "0", "--frames", "3")
    assert first.returncode == 0, first.stderr
    second = _demo("--baud", "0", "--frames", "3")
    assert second.returncode == 0, second.stderr
    assert "Ctrl-C stops the demo" in second.stdout and "3 results, 0 failed" in second.stdout
    assert "building" not in second.stdout, "the cached board image is not built again"


@pytest.mark.qemu
def test_demo_on_the_qemu_board_runs_the_arm_image() -> None:
    result = _demo("--board", "qemu", "--frames", "2")
    assert result.returncode == 0, result.stderr
    assert "starting the qemu virtual board" in result.stdout
    assert "timings are emulated instructions (QEMU)" in result.stdout and "2 results, 0 failed" in result.stdout
    assert "= " in result.stdout and "emulated instructions (emulated)" in result.stdout


def test_gui_without_a_board_opens_its_board_picker(tmp_path) -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "EDGELOOP_SETTINGS": str(tmp_path / "s.ini")}
    shot = tmp_path / "w.png"
    result = subprocess.run([sys.executable, "-m", "edgeloop", "gui", "--seconds", "1.5", "--screenshot", str(shot)],
                            capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr  # no ST-LINK plugged in here: not an error, the window asks
    assert shot.is_file()
