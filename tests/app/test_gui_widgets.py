"""Widget behaviour both ways: model → view (set_*) and view → model (signals from user edits)."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6 import QtCore

from edgeloop.app.gui.widgets import QtDevicePanel, QtProbabilityBars, QtTimingPlots, QtVideoView
from edgeloop.app.preprocess import Roi
from edgeloop.app.session import LinkState
from edgeloop.protocol import Info, TimingSource

pytestmark = pytest.mark.timeout(60)


def _info(kit, timing=TimingSource.HOST_CLOCK) -> Info:
    return Info(1, 0, 2, timing, 480_000_000, 480_000_000, 4096, 1, "fw 1.2", "nucleo-h743zi2",
                (kit.image_model("bottles-a"), kit.image_model("bottles-b", size=16, channels=3)))


def test_video_roi_model_to_view_and_back(qtbot) -> None:
    view = QtVideoView()
    qtbot.addWidget(view)
    view.set_frame(np.zeros((200, 400, 3), np.uint8))
    with qtbot.assertNotEmitted(view.roi_changed):
        view.set_roi(Roi(0.25, 0.1, 0.5, 0.8))
    assert view.roi_item.pos().x() == pytest.approx(100) and view.roi_item.pos().y() == pytest.approx(20)
    assert view.roi_item.size().x() == pytest.approx(200) and view.roi_item.size().y() == pytest.approx(160)
    # The user drags the box: the widget reports fractions of the image.
    with qtbot.waitSignal(view.roi_changed, timeout=2000) as sig:
        view.roi_item.setPos((40, 60), finish=False)
        view.roi_item.setSize((120, 80), finish=True)
    roi = sig.args[0]
    assert (roi.x, roi.y, roi.w, roi.h) == pytest.approx((0.1, 0.3, 0.3, 0.4))
    assert view.roi == roi


def test_device_panel_shows_info_and_reports_model_choice(qtbot, kit) -> None:
    panel = QtDevicePanel()
    qtbot.addWidget(panel)
    with qtbot.assertNotEmitted(panel.model_selected):
        panel.set_info(_info(kit), "socket://x:1")
    assert panel.model_combo.count() == 2 and panel.model_combo.currentIndex() == 1
    assert panel.values["cpu"].text() == "480 MHz"
    assert panel.values["ram"].text() == "512 B" and "16×16×3" in panel.values["input"].text()
    assert "measured" not in panel.values["timing"].text()  # a host clock is not a measurement
    with qtbot.waitSignal(panel.model_selected, timeout=2000) as sig:
        panel.model_combo.activated.emit(0)
    assert sig.args == [0]
    panel.set_state(LinkState.RECONNECTING, "attempt 2")
    assert "reconnecting" in panel.state_label.text() and panel.state_detail.text() == "attempt 2"
    with qtbot.waitSignal(panel.reconnect_requested, timeout=2000):
        qtbot.mouseClick(panel.reconnect_button, QtCore.Qt.LeftButton)


def test_probability_bars_follow_values(qtbot) -> None:
    bars = QtProbabilityBars()
    qtbot.addWidget(bars)
    bars.set_probabilities(("no_bottle", "empty", "full"), (0.1, 0.2, 0.7))
    assert list(bars.bars.opts["width"]) == pytest.approx([0.1, 0.2, 0.7])
    ticks = bars.getAxis("left")._tickLevels[0]
    assert [name for _, name in ticks] == ["no bottle", "empty", "full"]


@pytest.mark.parametrize("source, label, forbidden", [
    (TimingSource.HOST_CLOCK, "host clock", "cycles"),
    (TimingSource.QEMU_ICOUNT, "emulated", "cycles"),
    (TimingSource.DWT_CYCLES, "measured", "host"),
])
def test_timing_plots_label_their_source(qtbot, source, label, forbidden) -> None:
    plots = QtTimingPlots()
    qtbot.addWidget(plots)
    plots.set_timing_source(source)
    titles = plots.p_us.titleLabel.text + plots.p_ticks.titleLabel.text
    assert label in titles and forbidden not in titles.lower()


def test_history_length_both_ways(qtbot) -> None:
    plots = QtTimingPlots(history=100)
    qtbot.addWidget(plots)
    for i in range(150):
        plots.data["latency_ms"].add(float(i), 1.0)
    assert len(plots.data["latency_ms"].v) == 100
    with qtbot.waitSignal(plots.history_changed, timeout=2000) as sig:
        plots.history_spin.setValue(50)
    assert sig.args == [50] and len(plots.data["latency_ms"].v) == 50
    with qtbot.assertNotEmitted(plots.history_changed):
        plots.set_history(400)
    assert plots.history_spin.value() == 400


def test_small_frames_are_upscaled_for_display_without_moving_the_roi(qtbot) -> None:
    view = QtVideoView()
    qtbot.addWidget(view)
    view.set_roi(Roi(0.5, 0.5, 0.5, 0.5))
    view.set_frame(np.full((96, 96, 3), 200, np.uint8))
    height, width = view.image.image.shape[:2]
    assert height >= QtVideoView.SMOOTH_BELOW and width == height
    assert view.roi_item.pos().x() == pytest.approx(width / 2)
