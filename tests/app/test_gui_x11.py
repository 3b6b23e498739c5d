"""The demonstrator on a real X server (Xvfb + Qt's xcb platform), not the offscreen platform.

Each test starts its own Xvfb on a free display at a laptop or desktop
resolution, runs `edgeloop demo` there for a few seconds, grabs the root
window with ImageMagick's `import` while the demo runs, and checks that the
window opened (the xcb plugin loaded), fits its screen and shows a picture.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PySide6 import QtGui

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180),
              pytest.mark.skipif(not (shutil.which("Xvfb") and shutil.which("import")),
                                 reason="needs Xvfb and ImageMagick (make test installs xvfb; see Makefile)")]

EDGELOOP = [sys.executable, "-m", "edgeloop"]


def _free_display() -> int:
    for number in range(90, 200):
        if not Path(f"/tmp/.X{number}-lock").exists() and not Path(f"/tmp/.X11-unix/X{number}").exists():
            return number
    raise RuntimeError("no free X display number between :90 and :199")


@pytest.fixture
def xvfb(request) -> Iterator[str]:
    """An X server of the size the test is parametrized with ("1280x720"); yields its DISPLAY."""
    size = request.param
    number = _free_display()
    server = subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", f"{size}x24", "-nolisten", "tcp"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    display = f":{number}"
    try:
        deadline = time.monotonic() + 10
        while not Path(f"/tmp/.X11-unix/X{number}").exists():
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Xvfb {display} did not start: {server.stderr.read().decode()[-500:]}")
            time.sleep(0.05)
        yield display
    finally:
        server.terminate()
        server.wait(timeout=10)


def _pixels(path: Path) -> np.ndarray:
    image = QtGui.QImage(str(path)).convertToFormat(QtGui.QImage.Format_RGB888)
    assert not image.isNull(), f"{path} is not an image"
    bits = image.constBits()
    row = image.bytesPerLine()
    rows = np.frombuffer(bits, np.uint8, image.height() * row).reshape(image.height(), row)
    return rows[:, :image.width() * 3].reshape(image.height(), image.width(), 3).copy()  # own the pixels


def _grab_root(display: str, out: Path) -> None:
    subprocess.run(["import", "-display", display, "-window", "root", str(out)], check=True, timeout=30,
                   capture_output=True)


@pytest.mark.parametrize("xvfb", ["1280x720", "1920x1080"], indirect=True)
def test_demo_on_a_real_x_display(qapp, xvfb: str, tmp_path: Path) -> None:
    env = {**os.environ, "DISPLAY": xvfb, "QT_QPA_PLATFORM": "xcb", "EDGELOOP_SETTINGS": str(tmp_path / "s.ini")}
    env.pop("WAYLAND_DISPLAY", None)
    shot = tmp_path / "window.png"
    demo = subprocess.Popen([*EDGELOOP, "demo", "--seconds", "9", "--screenshot", str(shot),
                             "--sessions", str(tmp_path / "sessions")],
                            env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        root = tmp_path / "root.png"
        time.sleep(7)  # built, started, connected and streaming by now (the board image is cached)
        assert demo.poll() is None, f"the demo ended early: {demo.communicate()[1][-3000:]}"
        _grab_root(xvfb, root)
        out, err = demo.communicate(timeout=60)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    assert demo.returncode == 0, err[-3000:]
    keep = os.environ.get("EDGELOOP_SCREENSHOT_DIR")  # docs/ regenerates docs/screenshot-WxH.png this way
    if keep:
        size = "x".join(str(v) for v in _pixels(root).shape[1::-1])
        shutil.copy(shot, Path(keep) / f"screenshot-{size}.png")
    screen = _pixels(root)
    screen_h, screen_w = screen.shape[:2]
    window = _pixels(shot)
    # The window opened on the X server and fits its screen.
    assert window.shape[0] <= screen_h and window.shape[1] <= screen_w
    # The X server shows the window, not a black screen: mostly painted, in many colours.
    painted = (screen.max(axis=2) > 10).mean()
    colours = len(np.unique(screen.reshape(-1, 3)[::7], axis=0))
    assert painted > 0.5 and colours > 50, f"root window {painted:.0%} painted, {colours} colours"
