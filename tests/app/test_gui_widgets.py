"""Widget behaviour both ways: model → view (set_*) and view → model (signals from user edits)."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from PySide6 import QtCore, QtGui, QtWidgets

from edgeloop.app.gui import theme
from edgeloop.app.gui.widgets import (
    QtDevicePanel,
    QtProbabilityBars,
    QtTimingPlots,
    _Ring,
    stable_range,
    repaint_now,
)
from edgeloop.app.gui.video_view import QtVideoView
from edgeloop.app.live.preprocess import Roi
from edgeloop.app.link.session import LinkState
from edgeloop.protocol import Info, TimingSource

pytestmark = pytest.mark.timeout(60)


def _info(kit, timing=TimingSource.HOST_CLOCK) -> Info:
    return Info(1, 0, 2, timing, 480_000_000, 480_000_000, 4096, 1, "fw 1.2", "nucleo-h743zi2",
                (kit.image_model("bottles-a"), kit.image_model("bottles-b", size=16, channels=3)))


def _drag(qtbot, view: QtVideoView, start: QtCore.QPointF, end: QtCore.QPointF) -> None:
    """Press, move in steps and release the left button, as a user's drag."""
    qtbot.mousePress(view, QtCore.Qt.LeftButton, pos=start.toPoint())
    for k in range(1, 5):
        step = start + (end - start) * (k / 4)
        event = QtGui.QMouseEvent(QtCore.QEvent.MouseMove, step, view.mapToGlobal(step), QtCore.Qt.NoButton,
                                  QtCore.Qt.LeftButton, QtCore.Qt.NoModifier)
        QtWidgets.QApplication.sendEvent(view, event)
    qtbot.mouseRelease(view, QtCore.Qt.LeftButton, pos=end.toPoint())


def _at(view: QtVideoView, fx: float, fy: float) -> QtCore.QPointF:
    """The screen point at fractions (fx, fy) of the shown image."""
    frame = view.image_rect()
    return QtCore.QPointF(frame.x() + fx * frame.width(), frame.y() + fy * frame.height())


def test_video_roi_model_to_view_and_back(qtbot) -> None:
    view = QtVideoView()
    qtbot.addWidget(view)
    view.resize(800, 400)
    view.set_frame(np.zeros((200, 400, 3), np.uint8))
    assert view.image_rect() == QtCore.QRectF(0, 0, 800, 400)  # aspect kept: 2:1 fills 800×400
    with qtbot.assertNotEmitted(view.roi_changed):
        view.set_roi(Roi(0.25, 0.1, 0.5, 0.8))
    assert view.roi_rect() == QtCore.QRectF(200, 40, 400, 320)
    # The user drags the box by its middle: it moves, keeps its size, and stops at the image's edge.
    with qtbot.waitSignal(view.roi_changed, timeout=2000) as sig:
        _drag(qtbot, view, _at(view, 0.5, 0.5), _at(view, 0.4, 0.6))
    assert (sig.args[0].x, sig.args[0].y, sig.args[0].w, sig.args[0].h) == pytest.approx((0.15, 0.2, 0.5, 0.8))
    with qtbot.waitSignal(view.roi_changed, timeout=2000) as sig:
        _drag(qtbot, view, _at(view, 0.5, 0.5), _at(view, 0.6, 0.9))
    assert (sig.args[0].x, sig.args[0].y) == pytest.approx((0.25, 0.2))  # y was at the bottom edge already
    # A corner handle resizes, the opposite corner stays put.
    with qtbot.waitSignal(view.roi_changed, timeout=2000) as sig:
        _drag(qtbot, view, _at(view, 0.75, 1.0), _at(view, 0.55, 0.6))
    roi = sig.args[0]
    assert (roi.x, roi.y, roi.w, roi.h) == pytest.approx((0.25, 0.2, 0.3, 0.4))
    assert view.roi == roi
    # Dragging on the image outside the box draws a new box; a mere click changes nothing.
    with qtbot.waitSignal(view.roi_changed, timeout=2000) as sig:
        _drag(qtbot, view, _at(view, 0.9, 0.1), _at(view, 0.7, 0.3))
    assert (sig.args[0].x, sig.args[0].y, sig.args[0].w, sig.args[0].h) == pytest.approx((0.7, 0.1, 0.2, 0.2))
    with qtbot.assertNotEmitted(view.roi_changed):
        _drag(qtbot, view, _at(view, 0.05, 0.9), _at(view, 0.05, 0.9))
    assert view.roi == sig.args[0]


def test_video_view_letterboxes_and_keeps_the_roi_on_the_image(qtbot) -> None:
    view = QtVideoView()
    qtbot.addWidget(view)
    view.resize(600, 600)
    assert view.image_rect().isEmpty()  # no frame yet: nothing to grab
    view.set_frame(np.zeros((300, 600, 3), np.uint8))
    assert view.image_rect() == QtCore.QRectF(0, 150, 600, 300)  # bars above and below
    with qtbot.assertNotEmitted(view.roi_changed):
        _drag(qtbot, view, QtCore.QPointF(300, 50), QtCore.QPointF(350, 100))  # on the bar, not the image
    view.set_roi(Roi(0.25, 0.25, 0.5, 0.5))
    with qtbot.waitSignal(view.roi_changed, timeout=2000) as sig:
        _drag(qtbot, view, _at(view, 0.25, 0.25), QtCore.QPointF(-200, -300))  # a corner dragged off the widget
    roi = sig.args[0]
    assert (roi.x, roi.y, roi.w, roi.h) == pytest.approx((0.0, 0.0, 0.75, 0.75))
    view.set_frame(np.zeros((96, 96, 3), np.uint8))  # another frame size: the ROI stays in fractions
    assert view.roi == roi
    frame = view.image_rect()
    assert view.roi_rect() == QtCore.QRectF(frame.x(), frame.y(), 0.75 * frame.width(), 0.75 * frame.height())


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
    bars.resize(300, 90)
    bars.set_probabilities(("no_bottle", "empty", "full"), (0.1, 0.2, 0.7))
    assert list(bars.values) == pytest.approx([0.1, 0.2, 0.7])
    assert bars.labels == ("no_bottle", "empty", "full") and bars.best == 2
    image = bars.grab().toImage()
    accent = QtGui.QColor(theme.ACCENT).rgb()
    centres = [int((i + 0.5) * image.height() / 3) for i in range(3)]
    rows = [sum(image.pixel(x, y) == accent for x in range(image.width())) for y in centres]
    assert rows[0] == rows[1] == 0 and rows[2] > 100  # only the winner's bar is highlighted, and it is long
    bars.set_probabilities(("no_bottle", "empty", "full"), (0.8, 0.1, 0.1))
    image = bars.grab().toImage()
    assert sum(image.pixel(x, centres[0]) == accent for x in range(image.width())) > rows[2]  # 0.8 beats 0.7


@pytest.mark.parametrize("source, label, forbidden", [
    (TimingSource.HOST_CLOCK, "host clock", "cycles"),
    (TimingSource.QEMU_ICOUNT, "emulated", "cycles"),
    (TimingSource.DWT_CYCLES, "measured", "host"),
])
def test_timing_plots_label_their_source(qtbot, source, label, forbidden) -> None:
    plots = QtTimingPlots()
    qtbot.addWidget(plots)
    plots.set_timing_source(source)
    titles = plots.p_us.titleLabel.text + plots.p_count.titleLabel.text
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
    frame = view.image_rect()
    assert view.roi_rect().x() == pytest.approx(frame.x() + frame.width() / 2)


def test_frame_item_shows_rgb_gray_and_rgba_pixels_in_its_rgb32_buffer(qtbot) -> None:
    view = QtVideoView()
    qtbot.addWidget(view)
    rgb = np.zeros((400, 500, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 10, 20, 30
    view.set_frame(rgb)
    shown = view.image.image
    assert shown.shape == (400, 500, 4)
    assert tuple(shown[7, 9]) == (30, 20, 10, 255)  # QImage.Format_RGB32 is B, G, R, X in memory
    view.set_frame(np.full((400, 500, 1), 77, np.uint8))
    assert tuple(view.image.image[0, 0]) == (77, 77, 77, 255)
    rgba = np.zeros((400, 500, 4), np.uint8)
    rgba[..., 0] = 200  # alpha 0 must not make the frame transparent
    view.set_frame(rgba)
    assert tuple(view.image.image[3, 3]) == (0, 0, 200, 255)
    before = view.image.image
    view.set_frame(rgba)
    assert view.image.image is before  # same size: the buffer is reused, not reallocated


def test_video_view_reports_which_frame_its_paint_showed(qtbot) -> None:
    view = QtVideoView()
    qtbot.addWidget(view)
    view.show()
    view.set_frame(np.full((96, 96, 3), 50, np.uint8))
    assert view.painted_frame == 0  # updated, not painted yet
    qtbot.waitUntil(lambda: view.painted_frame == 1, timeout=5000)  # the event loop paints it in time
    view.set_frame(np.full((96, 96, 3), 60, np.uint8))
    view.set_overlay("half", 0.93)
    before = time.monotonic()
    repaint_now(view)
    assert view.painted_frame == view.frame_number and view.painted_at >= before
    assert view.overlay.text == "half  93%" and not view.overlay.boundingRect().isEmpty()
    view.set_overlay("no_bottle", float("nan"))
    assert view.overlay.text == "no bottle"


def test_ring_keeps_the_newest_points_in_order_without_copies() -> None:
    ring = _Ring(4)
    assert len(ring) == 0 and ring.v.size == 0
    for i in range(6):
        ring.add(float(i), float(10 * i))
    ring.add(6.0, math.nan)  # not plottable: skipped
    assert list(ring.t) == [2, 3, 4, 5] and list(ring.v) == [20, 30, 40, 50]
    assert ring.t.base is not None  # a view of the ring's storage
    version = ring.version
    ring.resize(2)
    assert list(ring.v) == [40, 50] and ring.version > version
    ring.add(7.0, 70.0)
    assert list(ring.t) == [5, 7]


def test_stable_range_holds_the_data_and_moves_only_when_it_must() -> None:
    first = stable_range(None, 3.0, 9.0)
    assert first[0] <= 3.0 and first[1] >= 9.0 and first[0] >= 0.0  # positive data keep a zero floor
    assert stable_range(first, 4.0, 8.5) == first  # data still inside and filling it: no axis redraw
    grown = stable_range(first, 3.0, 40.0)
    assert grown[1] >= 40.0
    assert stable_range(grown, 3.0, 4.0) != grown  # data shrank to a sliver of the range: refit
    assert stable_range(None, 0.0, 0.0) == pytest.approx((0.0, 1.2))  # all zeros still get a usable axis
    assert stable_range(None, -5.0, 0.0)[0] <= -5.0


def test_timing_plots_redraw_only_plots_with_new_points(qtbot) -> None:
    plots = QtTimingPlots(history=50)
    qtbot.addWidget(plots)
    for i in range(20):
        plots.data["latency_ms"].add(i / 10, 5.0 + (i % 3))
    assert plots.stale(2) and not plots.stale(3)
    assert plots.redraw(2) and not plots.stale(2)
    x, y = plots.curves["latency_ms"].getData()
    assert x[-1] == 0.0 and x[0] == pytest.approx(-1.9) and list(y[-3:]) == [5.0 + (i % 3) for i in (17, 18, 19)]
    y_range = plots.p_latency.viewRange()[1]
    assert y_range[0] <= 5.0 and y_range[1] >= 7.0
    assert not plots.redraw(2) and not plots.redraw(3)  # nothing new: nothing to push
    plots.data["latency_ms"].add(2.0, 6.0)
    assert plots.redraw(2) and plots.p_latency.viewRange()[1] == y_range  # inside the range: axes untouched


class _LayoutRequests(QtCore.QObject):
    """Counts the layout requests a widget receives (each one re-lays out its whole subtree)."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def eventFilter(self, obj: QtCore.QObject, event: QtCore.QEvent) -> bool:  # noqa: N802 - Qt naming
        if event.type() == QtCore.QEvent.LayoutRequest:
            self.count += 1
        return False


def test_banner_text_changes_never_re_lay_out_the_window(qtbot) -> None:
    """A new class or confidence repaints the banner only: at 30 results/s a window re-layout costs milliseconds."""
    from edgeloop.app.gui.widgets import QtClassBanner

    window = QtWidgets.QWidget()
    qtbot.addWidget(window)
    banner = QtClassBanner()
    layout = QtWidgets.QVBoxLayout(window)
    layout.addWidget(banner)
    layout.addWidget(QtWidgets.QLabel("below"))
    window.resize(900, 200)
    window.show()
    qtbot.waitExposed(window)
    banner.set_result("full", 0.91)
    QtWidgets.QApplication.processEvents()
    requests = _LayoutRequests()
    window.installEventFilter(requests)
    for label, confidence in (("half", 0.5), ("nearly_empty_bottle", 1.0), ("x", 0.07), ("half", math.nan)):
        banner.set_result(label, confidence)
        QtWidgets.QApplication.processEvents()
        assert banner.text == label.replace("_", " ")
    banner.set_message("disconnected: pick a board and Connect")
    QtWidgets.QApplication.processEvents()
    assert requests.count == 0
    assert banner.testAttribute(QtCore.Qt.WA_OpaquePaintEvent)  # its repaints stop at its own rectangle
    # Every text stays readable: the class never runs under the confidence, and both fit the banner.
    banner.set_result("nearly_empty_bottle", 1.0)
    label, conf = banner.class_rect(), banner.confidence_rect()
    assert label.right() < conf.left() and conf.right() <= banner.width()
    big = QtGui.QFontMetrics(banner._class_font)
    assert label.width() >= big.horizontalAdvance("nearly empty bottle")
    assert conf.width() >= QtGui.QFontMetrics(banner._confidence_font).horizontalAdvance("100 % confidence")
    assert big.height() > 2 * QtGui.QFontMetrics(banner._confidence_font).height() * 0.8  # large type
    # And it shows them: the banner's pixels change with the class and carry the verdict colour.
    before = banner.grab().toImage()
    banner.set_result("x", 0.07)
    after = banner.grab().toImage()
    assert before != after
    bad = QtGui.QColor(theme.BAD).rgb()
    assert any(after.pixel(x, y) == bad for x in range(0, 60) for y in range(after.height()))
