"""The demo recorded as a video of the annotated live view (OpenCV: MPEG-4 in .mp4, MJPEG .avi fallback)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from PySide6 import QtWidgets

from edgeloop.app.gui.controller import QtLinkController
from edgeloop.app.live.sources import open_source
from edgeloop.app.live.video_writer import VideoRecorder

cv2 = pytest.importorskip("cv2")
pytestmark = pytest.mark.timeout(60)


def _read(path: Path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            return frames
        frames.append(frame)


def test_video_keeps_real_time_whatever_rate_pictures_come_at(tmp_path: Path) -> None:
    rec = VideoRecorder(tmp_path / "demo.mp4", fps=30)
    for i in range(10):  # 10 pictures 0.2 s apart: the file plays for 1.8 s + the last picture, at 30 fps
        rec.put(np.full((120, 161, 3), i * 25, np.uint8), 100.0 + i * 0.2)
    done = rec.close()
    assert done.path.suffix == ".mp4" and done.codec.startswith("MPEG-4")
    frames = _read(done.path)
    assert len(frames) == done.frames == 55
    assert frames[0].shape == (120, 160, 3)  # even width for the encoder
    assert frames[-1].mean() > frames[0].mean() + 150  # the pictures in their order


def test_window_records_its_live_view(qtbot, open_window, kit, tmp_path: Path) -> None:
    port = kit.ScriptedPort()
    controller = QtLinkController("scripted://", lambda: open_source("synthetic:bottles?fps=30"),
                                  opener=kit.opener_for(port))
    window = open_window(controller)
    window.screenshot_dir = tmp_path
    try:
        qtbot.waitUntil(lambda: window.display.displayed >= 2, timeout=20000)
        window.video_action.trigger()
        start = time.monotonic()
        qtbot.waitUntil(lambda: time.monotonic() - start > 1.5, timeout=5000)
        window.video_action.trigger()
        saved = [t for t in window.messages.texts() if t.startswith("video saved to")]
        assert saved, window.messages.texts()
        path = Path(saved[0].split(" to ", 1)[1].split(" (")[0])
        frames = _read(path)
        assert len(frames) >= 30, len(frames)
        assert frames[-1].std() > 10  # a picture, not a blank frame
        assert isinstance(window.video, QtWidgets.QWidget)
    finally:
        window.close()
