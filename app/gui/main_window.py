"""The demonstrator's main window: live view, class bars, timing plots and the device panel.

Records arrive as signals from `QtLinkController` (worker threads) and are
queued; a steady 30 fps display timer draws one record per tick, so video
plays smoothly even when results arrive in bursts. Plots take every record
and are redrawn in turn, one plot every other tick; link figures are sampled at 2 Hz.
"""

from __future__ import annotations

import collections
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from edgeloop.app.gui import theme
from edgeloop.app.gui.controller import QtLinkController
from edgeloop.app.gui.widgets import (
    QtClassBanner,
    QtDevicePanel,
    QtImuView,
    QtProbabilityBars,
    QtTimingPlots,
    QtVideoView,
    colour_for,
    screenshot,
)
from edgeloop.app.pipeline import ResultRecord
from edgeloop.app.preprocess import Roi
from edgeloop.app.session import LinkState
from edgeloop.protocol import Info

DISPLAY_FPS = 30
MAX_BACKLOG = 3  # records waiting for the display beyond this are skipped (counted as dropped)


@dataclass
class DisplayStats:
    """What the display did: for the status bar and bench/app_e2e.py."""

    received: int = 0
    displayed: int = 0
    dropped: int = 0  # records skipped because the display fell more than MAX_BACKLOG behind
    ticks: int = 0
    late_ticks: int = 0  # timer ticks that came over half a period late
    delivery_s: collections.deque = field(default_factory=lambda: collections.deque(maxlen=4096))
    render_s: collections.deque = field(default_factory=lambda: collections.deque(maxlen=4096))
    overhead_s: collections.deque = field(default_factory=lambda: collections.deque(maxlen=4096))


class QtMainWindow(QtWidgets.QMainWindow):
    """Live view of one board fed by one source."""

    def __init__(self, controller: QtLinkController, *, history: int = 300,
                 screenshot_dir: Path | None = None, title: str = "edgeloop") -> None:
        super().__init__()
        self.controller = controller
        self.screenshot_dir = screenshot_dir or Path.cwd()
        self.display = DisplayStats()
        self.info: Info | None = None
        self.last_record: ResultRecord | None = None
        self._backlog: collections.deque[ResultRecord] = collections.deque()
        self._tick_count = 0
        self._last_tick = 0.0
        self.setWindowTitle(title)
        self.resize(1400, 900)

        self.banner = QtClassBanner()
        self.video = QtVideoView()
        self.imu = QtImuView()
        self.views = QtWidgets.QStackedWidget()
        self.views.addWidget(self.video)
        self.views.addWidget(self.imu)
        self.bars = QtProbabilityBars()
        self.device = QtDevicePanel()
        self.plots = QtTimingPlots(history=history)

        right = QtWidgets.QVBoxLayout()
        bars_box = QtWidgets.QGroupBox("model output")
        QtWidgets.QVBoxLayout(bars_box).addWidget(self.bars)
        device_box = QtWidgets.QGroupBox("device")
        QtWidgets.QVBoxLayout(device_box).addWidget(self.device)
        right.addWidget(bars_box, 2)
        right.addWidget(device_box, 3)
        top = QtWidgets.QHBoxLayout()
        top.addWidget(self.views, 3)
        top.addLayout(right, 2)
        central = QtWidgets.QWidget()
        layout = QtWidgets.QVBoxLayout(central)
        layout.addWidget(self.banner)
        layout.addLayout(top, 5)
        layout.addWidget(self.plots, 3)
        self.setCentralWidget(central)

        toolbar = self.addToolBar("controls")
        toolbar.setMovable(False)
        self.pause_action = toolbar.addAction("Pause")
        self.pause_action.setCheckable(True)
        self.pause_action.setShortcut(QtGui.QKeySequence("Space"))
        self.pause_action.toggled.connect(self._on_pause_toggled)
        self.screenshot_action = toolbar.addAction("Screenshot")
        self.screenshot_action.setShortcut(QtGui.QKeySequence("Ctrl+S"))
        self.screenshot_action.triggered.connect(self._on_screenshot_clicked)
        self.reset_roi_action = toolbar.addAction("Full frame")
        self.reset_roi_action.setToolTip("reset the region of interest to the whole image")
        self.reset_roi_action.triggered.connect(self._on_reset_roi_clicked)
        self.fullscreen_action = toolbar.addAction("Full screen")
        self.fullscreen_action.setCheckable(True)
        self.fullscreen_action.setShortcut(QtGui.QKeySequence("F11"))
        self.fullscreen_action.toggled.connect(self._on_fullscreen_toggled)
        toolbar.addSeparator()
        toolbar.addWidget(QtWidgets.QLabel(" history "))
        toolbar.addWidget(self.plots.history_spin)
        self.status = QtWidgets.QLabel("starting")
        self.statusBar().addPermanentWidget(self.status, 1)

        controller.state_changed.connect(self._on_state_changed)
        controller.info_changed.connect(self._on_info_changed)
        controller.record_ready.connect(self._on_record_ready)
        controller.failed.connect(self._on_failed)
        controller.finished.connect(self._on_finished)
        controller.log_received.connect(self._on_log_received)
        self.video.roi_changed.connect(self._on_roi_changed)
        self.device.model_selected.connect(self._on_model_selected)
        self.device.reconnect_requested.connect(self._on_reconnect_requested)
        self.banner.set_message("connecting …")

        self.timer = QtCore.QTimer(self)
        self.timer.setTimerType(QtCore.Qt.PreciseTimer)
        self.timer.setInterval(round(1000 / DISPLAY_FPS))
        self.timer.timeout.connect(self._on_tick)

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        """Start the link in the background and the display timer."""
        # Workers (scene rendering, decoding) hold the GIL for up to the switch interval at a time;
        # 1 ms instead of Python's 5 ms keeps the display thread's latency low at a small CPU cost.
        sys.setswitchinterval(min(sys.getswitchinterval(), 0.001))
        self.controller.start()
        self._last_tick = time.monotonic()
        self.timer.start()

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:  # noqa: N802 - Qt naming
        self.timer.stop()
        self.controller.stop()
        super().closeEvent(event)

    def save_screenshot(self, path: Path | None = None) -> Path:
        """Grab the window into a PNG and return its path."""
        if path is None:
            self.screenshot_dir.mkdir(parents=True, exist_ok=True)
            path = self.screenshot_dir / time.strftime("edgeloop-%Y%m%d-%H%M%S.png")
        if not screenshot(self, str(path)):
            raise OSError(f"could not write the screenshot to {path}: check that the folder is writable")
        return path

    # -- slots: controller (GUI thread via queued signals) ------------------------------------
    def _on_state_changed(self, state: LinkState, detail: str) -> None:
        self.device.set_state(state, detail)
        if state is not LinkState.CONNECTED:
            self.banner.set_message(f"{state.value} …" if state is not LinkState.FAILED else "link failed")

    def _on_info_changed(self, info: Info) -> None:
        self.info = info
        self.device.set_info(info, self.controller.url)
        self.plots.set_timing_source(info.timing_source)

    def _on_record_ready(self, record: ResultRecord) -> None:
        ready_at = record.timestamp + record.latency_s
        self.display.received += 1
        self.display.delivery_s.append(max(0.0, time.monotonic() - ready_at))
        self.plots.add_record(record)
        self._backlog.append(record)
        if len(self._backlog) > MAX_BACKLOG:
            self.display.dropped += len(self._backlog) - 1
            newest = self._backlog.pop()
            self._backlog.clear()
            self._backlog.append(newest)

    def _on_failed(self, message: str) -> None:
        self.banner.set_message("no board" if self.info is None else "stopped")
        self.status.setText(message)
        self.statusBar().showMessage(message)

    def _on_finished(self, message: str) -> None:
        self.statusBar().showMessage(message)

    def _on_log_received(self, text: str) -> None:
        self.statusBar().showMessage(f"board: {text}", 5000)

    # -- slots: widgets (view → model) -------------------------------------------------------------
    def _on_roi_changed(self, roi: Roi) -> None:
        self.controller.set_roi(roi)

    def _on_model_selected(self, index: int) -> None:
        self.controller.select_model(index)

    def _on_reconnect_requested(self) -> None:
        self.controller.reconnect()

    def _on_pause_toggled(self, paused: bool) -> None:
        self.controller.set_paused(paused)
        self.pause_action.setText("Resume" if paused else "Pause")
        if paused:
            self.banner.set_message("paused")

    def _on_screenshot_clicked(self) -> None:
        try:
            path = self.save_screenshot()
        except OSError as exc:
            self.statusBar().showMessage(str(exc), 8000)
            return
        self.statusBar().showMessage(f"screenshot saved to {path}", 8000)

    def _on_reset_roi_clicked(self) -> None:
        self.video.set_roi(Roi())
        self.controller.set_roi(Roi())

    def _on_fullscreen_toggled(self, on: bool) -> None:
        self.showFullScreen() if on else self.showNormal()

    # -- display timer ----------------------------------------------------------------------------------
    def _on_tick(self) -> None:
        now = time.monotonic()
        if now - self._last_tick > 1.5 / DISPLAY_FPS:
            self.display.late_ticks += 1
        self._last_tick = now
        self.display.ticks += 1
        self._tick_count += 1
        if self._backlog and not self.pause_action.isChecked():
            record = self._backlog.popleft()
            self._show(record)
            render = time.monotonic() - now
            self.display.displayed += 1
            self.display.render_s.append(render)
            delivery = self.display.delivery_s[-1] if self.display.delivery_s else 0.0
            self.display.overhead_s.append(record.host_overhead_s + delivery + render)
        if self._tick_count % 2 == 0:  # one plot every other tick: each plot at 3 Hz, cost spread evenly
            self.plots.redraw(self._tick_count // 2)
        if self._tick_count % 15 == 0:
            self._show_link_stats(now)

    def _show(self, record: ResultRecord) -> None:
        self.last_record = record
        if record.model_index != self.device.model_combo.currentIndex():
            self.device.set_active_model(record.model_index)
        frame = record.frame
        if frame is not None and frame.ndim == 3 and frame.shape[2] in (1, 3, 4) and frame.shape[1] > 6:
            self.views.setCurrentWidget(self.video)
            self.video.set_frame(frame)
        elif record.view is not None and record.view.ndim == 2:
            self.views.setCurrentWidget(self.imu)
            model = self.info.models[record.model_index] if self.info else None
            self.imu.set_samples(np.asarray(record.view), float(model.sample_rate_hz) if model else 0.0)
        if not record.ok:
            self.banner.set_message("no reply")
            self.status.setText(record.error)
            return
        if not self.pause_action.isChecked():
            self.banner.set_result(record.label, record.confidence)
        self.video.set_overlay(record.label, record.confidence, colour_for(record.confidence))
        # Class probabilities, or the raw value of a regression output (drawn clipped to 0..1).
        self.bars.set_probabilities(record.labels, record.probabilities)

    def _show_link_stats(self, now: float) -> None:
        stats = self.controller.link_stats()
        self.plots.add_link_stats(now, stats)
        record = self.last_record
        device = ""
        if record is not None and record.ok:
            device = f"inference {record.t_infer_us:.0f} µs ({record.timing_label})   "
        self.status.setText(
            f"{device}{stats.fps:.1f} results/s   RTT {stats.rtt_last_ms:.1f} ms   "
            f"link ↑{stats.tx_bytes_per_s / 1e3:.1f} ↓{stats.rx_bytes_per_s / 1e3:.1f} kB/s   "
            f"errors {stats.errors}   retries {stats.retries}   dropped display frames {self.display.dropped}")


def run_gui(controller: QtLinkController, *, fullscreen: bool = False, history: int = 300,
            seconds: float | None = None, screenshot_path: Path | None = None, roi: Roi | None = None) -> int:
    """Create the application and window, run until closed (or `seconds`), and return the exit code."""
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(["edgeloop"])
    theme.apply_theme(app)
    window = QtMainWindow(controller, history=history)
    if roi is not None:
        window.video.set_roi(roi)
    window.showFullScreen() if fullscreen else window.show()
    window.start()
    if seconds is not None:
        def finish() -> None:
            if screenshot_path is not None:
                window.save_screenshot(screenshot_path)
            window.close()
        QtCore.QTimer.singleShot(int(seconds * 1000), finish)
    code = app.exec()
    return int(code)
