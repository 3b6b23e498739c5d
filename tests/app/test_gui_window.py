"""The main window wired end to end: source → pipeline → session → board → signals → widgets."""

from __future__ import annotations

import math
import sys
import threading
from types import SimpleNamespace

import numpy as np
import pytest
from PySide6 import QtGui

from edgeloop.app.gui.controller import QtLinkController
from edgeloop.app.gui.main_window import QtMainWindow
from edgeloop.app.live.preprocess import Roi
from edgeloop.app.link.session import LinkState
from edgeloop.app.live.sources import ImageFrame, open_source

pytestmark = pytest.mark.timeout(120)


def _window(qtbot, controller: QtLinkController) -> QtMainWindow:
    window = QtMainWindow(controller, history=100)
    qtbot.addWidget(window)
    window.show()
    window.start()
    return window


def test_window_against_scripted_board_both_ways(qtbot, kit) -> None:
    models = (kit.image_model("brightness"), kit.image_model("brightness-rgb", size=12, channels=3))
    port = kit.ScriptedPort(models)
    controller = QtLinkController("scripted://", lambda: open_source("synthetic:bottles?fps=30&drain=4"),
                                  opener=kit.opener_for(port))
    window = _window(qtbot, controller)
    try:
        qtbot.waitUntil(lambda: window.display.displayed >= 5, timeout=20000)
        record = window.last_record
        assert record is not None and record.ok and record.label in kit.LABELS
        assert window.banner.text == record.label
        assert window.device.state_label.text().endswith("connected")
        assert window.device.model_combo.count() == 2
        assert list(window.bars.values) == pytest.approx(record.probabilities)
        assert len(window.plots.data["infer_us"].v) >= 5  # device timings reached the plots
        # The scripted board reports t_infer = 250000 + 10 × seq host-ns ticks.
        assert record.timings_us["t_infer"] == pytest.approx((250_000 + 10 * record.seq) / 1e3)
        assert "host clock" in window.plots.p_us.titleLabel.text
        # Each drawn frame is timed up to the paint that showed it; every record reached the plots.
        d = window.display
        assert len(d.overhead_s) == d.displayed - d.unpainted > 0
        assert all(total >= render > 0 for total, render in zip(d.overhead_s, d.render_s))
        assert window.video.painted_frame == window.video.frame_number == d.displayed
        assert len(window.plots.data["latency_ms"]) == min(d.received, 100)

        # view → model: pick the second model in the device panel; results then come from it.
        window.device.model_combo.activated.emit(1)
        qtbot.waitUntil(lambda: window.last_record is not None and window.last_record.model_index == 1,
                        timeout=10000)
        assert port.active == 1 and window.device.model_combo.currentIndex() == 1

        # view → model: the ROI the user draws reaches the preprocessor.
        window.video.roi_changed.emit(Roi(0.5, 0.0, 0.5, 1.0))
        qtbot.waitUntil(lambda: controller.pipeline.roi == Roi(0.5, 0.0, 0.5, 1.0), timeout=2000)

        # Pause stops new results from being shown.
        window.pause_action.setChecked(True)
        shown = window.display.displayed
        qtbot.wait(400)
        assert window.display.displayed == shown and window.banner.text == "paused"
        window.pause_action.setChecked(False)
        qtbot.waitUntil(lambda: window.display.displayed > shown + 3, timeout=10000)
    finally:
        window.close()


def test_window_shows_reconnecting_and_recovers(qtbot, kit) -> None:
    port = kit.ScriptedPort()
    controller = QtLinkController("scripted://", lambda: open_source("synthetic:bottles?fps=20"),
                                  opener=kit.opener_for(port))
    window = _window(qtbot, controller)
    try:
        qtbot.waitUntil(lambda: window.display.displayed >= 3, timeout=20000)
        port.fail_reads = True  # the board is unplugged
        qtbot.waitUntil(lambda: controller.session.stats().reconnects >= 1, timeout=10000)
        shown = window.display.displayed
        qtbot.waitUntil(lambda: window.display.displayed > shown + 3, timeout=10000)
        assert window.device.state_label.text().endswith("connected")
    finally:
        window.close()


def test_window_reports_a_port_that_is_not_a_board(qtbot) -> None:
    controller = QtLinkController("loop://", lambda: open_source("synthetic:bottles"))
    controller.session.hello_timeout = 0.5
    window = _window(qtbot, controller)
    try:
        def shown() -> list:
            return [row for row in window.messages.rows if "does not speak the edgeloop protocol" in row.label.text()]

        qtbot.waitUntil(lambda: bool(shown()), timeout=10000)
        assert window.banner.text == "no board"
        assert "failed" in window.device.state_label.text()
        # The error is on screen, in red, until dismissed; the console keeps it.
        row = shown()[0]
        assert row.error and row.isVisible() and window.messages.isVisible()
        assert any("does not speak" in line for line in window.console.lines())
        qtbot.wait(200)
        assert shown(), "an error stays until the user dismisses it"
        for row in shown():
            row.dismissed.emit(row)
        assert not shown()
    finally:
        window.close()


@pytest.mark.slow
def test_window_with_host_virtual_board(qtbot, host_board_factory, tmp_path) -> None:
    board = host_board_factory(target="host", models=["mean96", "sine"])
    try:
        controller = QtLinkController(board.url, lambda: open_source("synthetic:bottles?fps=30"))
        window = _window(qtbot, controller)
        try:
            qtbot.waitUntil(lambda: window.display.displayed >= 10, timeout=30000)
            record = window.last_record
            assert record.ok and record.model_name == "mean96" and record.label.startswith("mean = ")
            assert math.isnan(record.confidence)  # one output: a value, not a class
            assert record.ticks["t_infer"] > 0 and record.timing_label == "host clock"
            assert window.device.values["board"].text() == "host"
            assert window.device.values["cpu"].text().startswith("n/a")
            assert controller.session.state is LinkState.CONNECTED
            qtbot.wait(600)  # let the plots and the link figures refresh
            assert len(window.plots.data["fps"].v) >= 1 and window.plots.data["fps"].v[-1] > 0
            window.resize(1280, 720)  # the offscreen platform's screen is 800×800, and the window fits its screen
            qtbot.wait(100)
            path = window.save_screenshot(tmp_path / "window.png")
            image = QtGui.QImage(str(path))
            assert image.width() >= 800 and image.height() >= 600
        finally:
            window.close()
    finally:
        board.stop()


def test_qt_binding_keeps_none_alive() -> None:
    """Guards the binding pin: PySide6 6.12.0 drops a reference to None on every void QPainter call,
    so any painting GUI crashes within seconds on Python 3.11 (pin PySide6-Essentials != 6.12.0)."""
    image = QtGui.QImage(8, 8, QtGui.QImage.Format_RGB32)
    painter = QtGui.QPainter(image)
    try:
        before = sys.getrefcount(None)
        for _ in range(2000):
            painter.save()
            painter.restore()
        after = sys.getrefcount(None)
    finally:
        painter.end()
    assert after > before - 1000, f"QPainter calls leaked {before - after} references to None"


def test_controller_wakes_the_gui_once_per_burst_and_loses_no_record(qtbot) -> None:
    controller = QtLinkController("loop://", lambda: open_source("synthetic:bottles"))
    taken: list[list] = []
    controller.records_ready.connect(lambda: taken.append(controller.take_records()))
    records = [SimpleNamespace(seq=i, timestamp=float(i)) for i in range(5)]
    sender = threading.Thread(target=lambda: [controller._on_record(r) for r in records])  # the reader thread's call
    sender.start()
    sender.join(timeout=5)
    qtbot.waitUntil(lambda: sum(map(len, taken)) == 5, timeout=2000)
    qtbot.wait(50)  # no further wake-ups are queued behind the first
    assert taken == [records]
    controller._on_record(records[0])
    qtbot.waitUntil(lambda: len(taken) == 2, timeout=2000)  # an emptied inbox wakes the GUI again
    assert taken[1] == [records[0]]


def test_controller_previews_captures_only_while_results_lag(qtbot) -> None:
    controller = QtLinkController("loop://", lambda: open_source("synthetic:bottles"))
    woken: list[ImageFrame | None] = []
    controller.preview_ready.connect(lambda: woken.append(controller.take_preview()))
    frames = [ImageFrame(np.full((8, 8, 3), i, np.uint8), float(i), i) for i in range(8)]

    def in_capture_thread(*calls) -> None:
        worker = threading.Thread(target=lambda: [call() for call in calls])
        worker.start()
        worker.join(timeout=5)

    # Results keep up (each capture answered before the next): no preview wake-ups at all.
    in_capture_thread(*[step for f in frames[:3] for step in
                        (lambda f=f: controller._on_capture(f),
                         lambda f=f: controller._on_record(SimpleNamespace(seq=f.index, timestamp=f.timestamp)))])
    qtbot.wait(50)
    assert woken == []
    # The link falls behind: the next captures wake the GUI once, and it takes the newest of them.
    in_capture_thread(*[lambda f=f: controller._on_capture(f) for f in frames[3:6]])
    qtbot.waitUntil(lambda: len(woken) == 1, timeout=2000)
    qtbot.wait(50)
    assert woken == [frames[5]]
    in_capture_thread(lambda: controller._on_capture(frames[6]))  # still behind: taken, so it wakes again
    qtbot.waitUntil(lambda: len(woken) == 2, timeout=2000)
    assert woken[1] is frames[6] and controller.take_preview() is None


@pytest.mark.slow
def test_window_shows_live_video_while_a_slow_board_answers(qtbot, host_board_factory) -> None:
    board = host_board_factory(target="host", models=["mean96"], infer_us=150_000)  # about 6 results/s
    try:
        controller = QtLinkController(board.url, lambda: open_source("synthetic:bottles?fps=30"))
        window = _window(qtbot, controller)
        shown: list[float] = []
        original = window.video.set_frame
        window.video.set_frame = lambda image: (shown.append(window._frame_t), original(image))
        try:
            qtbot.waitUntil(lambda: window.display.displayed >= 6, timeout=30000)
            pictures, results = window.video.frame_number, window.display.displayed
            # The video moves at the camera's rate (the message says how many captures the source made).
            captures = controller.pipeline.stats.captures
            assert pictures >= 2.5 * results, (pictures, results, captures, window.display.previews)
            assert window.display.previews > 0 and window.video.painted_frame >= window.video.frame_number - 1
            assert shown == sorted(shown) and len(set(shown)) == len(shown)  # never back to an older frame
            assert window.video.overlay.text.startswith("mean = ")  # results still label the live picture
        finally:
            window.close()
    finally:
        board.stop()
