"""The demonstrator's main window: live view, class bars, timing plots, the device panel and the workflow.

Results reach the GUI thread through the controller's inbox (one wake-up,
however many records wait). Each result is drawn as soon as it arrives: the
widgets are updated and the window is painted there and then, so a result
never waits for a display tick or behind a repaint of the plots. Frames are
drawn at most DISPLAY_FPS_MAX per second (a burst is shown in order, up to
MAX_BACKLOG behind; older ones are skipped and counted as dropped). The
slower work — one timing plot (each at most PLOT_HZ) and the link figures
(every LINK_STATS_S) — runs right after a frame is painted, in the gap before
the next result, or from a 10 Hz timer while no results flow.

The video moves at the source's rate even when results come slower: an
image capture that no result has shown PREVIEW_GRACE_MS after it was taken
is painted on its own (the controller's preview), and results then update
the caption, banner and bars over the live picture. Over a UART, where a
96×96 frame takes ~0.1 s, results come 10 times a second while the picture
still moves at 30 fps. When results keep up, they show their frames
themselves and no preview is painted: no second paint per frame competes
with the link's threads. The view never steps back to an older frame.

The workflow lives in two docks, hidden until toggled from the toolbar so the
live view stays clean at full screen: *Record* (label set, keys 1–9 while
the window has focus, record/pause, snapshot; it records the live result
stream through `edgeloop.app.sessions.recording` in a writer thread) and *Sessions*
(browse, replay a session as the live source, merge, and "Train from
selected"). *Validate…* runs a validation against the connected board in a
worker thread, with the live stream paused meanwhile, and points to the HTML
report. *Deploy…* uploads a model to the board over the link, and "Train
from selected" trains (in a child process), deploys and validates: both run
`edgeloop.app.validate.loop` through `QtLoopJobs`, whose strip in the status
bar shows the step and offers Cancel; the live view keeps showing the active
model's results during an upload.
"""

from __future__ import annotations

import collections
import contextlib
import math
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from edgeloop.app.gui import theme
from edgeloop.app.gui.connect_panel import QtBoardPicker, QtSourcePicker
from edgeloop.app.gui.controller import QtLinkController
from edgeloop.app.gui.messages import QtConsole, QtMessageArea
from edgeloop.app.gui.timeline import QtPredictionTimeline
from edgeloop.app.gui.loop_jobs import QtLoopJobs
from edgeloop.app.gui.docks import QtRecordDock, QtSessionsDock, model_fields, replay_factory
from edgeloop.app.gui.per_layer_dialog import QtPerLayerDialog
from edgeloop.app.gui.validate_dialog import QtValidateDialog
from edgeloop.app.gui.video_view import QtVideoView
from edgeloop.app.gui.widgets import (
    QtClassBanner,
    QtDevicePanel,
    QtImuView,
    QtProbabilityBars,
    QtTimingPlots,
    colour_for,
    grab_rgb,
    paint_dirty_now,
    repaint_now,
    screenshot,
)
from edgeloop.app.live.display_stats import DisplayStats
from edgeloop.app.live.pipeline import ResultRecord
from edgeloop import EdgeloopError, ResourceError
from edgeloop.app.live import model_facts
from edgeloop.app.live.video_writer import VideoRecorder
from edgeloop.app.live.preprocess import Roi
from edgeloop.app.live.source_choice import matching_source, mismatch_hint, source_fits
from edgeloop.app.live.sources import open_source
from edgeloop.app.link.session import LinkState
from edgeloop.app.live.stop_signals import on_stop_signals
from edgeloop.app.validate.loop import Deployed, RetrainPlan, needs_calibration
from edgeloop.app.validate.validator import board_fields
from edgeloop.models.decision import DecisionRule
from edgeloop.protocol import Info, ModelDescriptor, TimingSource

DISPLAY_FPS_MAX = 60  # frames are drawn as results arrive, but no more often than a screen refreshes
MAX_BACKLOG = 3  # records waiting for the display beyond this are skipped (counted as dropped)
PLOT_HZ = 10  # each timing plot takes in new points at most this often
LINK_STATS_S = 0.5  # link figures (status bar, fps and throughput plots) are sampled this often
PREVIEW_GRACE_MS = 20  # a capture no result has shown by then is painted as a preview
IDLE_TICK_MS = 100  # plots and link figures while no results arrive (paused, reconnecting)
VIDEO_FPS = 30  # frame rate of recorded demo videos (pictures are repeated or skipped to keep real time)
SIDE_MIN_WIDTH = 320  # the side column (board, source, model output, device): readable at 1280×720


class QtMainWindow(QtWidgets.QMainWindow):
    """Live view of one board fed by one source."""

    def __init__(self, controller: QtLinkController, *, history: int = 300,
                 screenshot_dir: Path | None = None, sessions_dir: Path | None = None,
                 reports_dir: Path | None = None, title: str = "edgeloop",
                 settings: QtCore.QSettings | None = None, trained_dir: Path | None = None) -> None:
        """`sessions_dir`: where recordings go and the session browser looks (default ./sessions);
        `reports_dir`: where validation reports go (default ./validation); `trained_dir`: where "Train from
        selected" puts its models (default ./trained); `settings`: where the last
        board, source, model and geometry are remembered (default: the user's edgeloop settings, or the
        INI file named by $EDGELOOP_SETTINGS)."""
        super().__init__()
        self.controller = controller
        self.settings = settings or open_settings()
        self.screenshot_dir = screenshot_dir or Path.cwd()
        self.reports_dir = reports_dir or Path.cwd() / "validation"
        self.trained_dir = trained_dir or Path.cwd() / "trained"
        self.validate_dialog: QtValidateDialog | None = None
        self.per_layer_dialog: QtPerLayerDialog | None = None
        self._paused_for_profile = False
        self._paused_for_validation = False
        self._live_factory = controller.source_factory
        self._live_spec = controller.source_spec  # what "Live source" goes back to
        self._source_spec = controller.source_spec  # spec of the source feeding the board, when known
        self.display = DisplayStats()
        self.info: Info | None = None
        self.last_record: ResultRecord | None = None
        self._backlog: collections.deque[tuple[ResultRecord, float]] = collections.deque()  # (record, taken at)
        self._last_frame_at = -math.inf  # when the last frame was drawn (its paint completed)
        self._frame_t = -math.inf  # capture time of the picture on screen: it only moves forward
        self._last_link_stats = -math.inf
        # One slot per timing plot, then the prediction timeline: each redraws at most PLOT_HZ.
        self._plot_drawn_at = [-math.inf] * (len(QtTimingPlots.PLOT_SERIES) + 1)
        self._timeline_model = ""  # the model whose classes and rule the timeline follows
        self._next_plot = 0
        self._connected = False
        self.setWindowTitle(title)

        self.messages = QtMessageArea()
        self.console = QtConsole()
        self.banner = QtClassBanner()
        self.video = QtVideoView()
        self.imu = QtImuView()
        self.views = QtWidgets.QStackedWidget()
        self.views.addWidget(self.video)
        self.views.addWidget(self.imu)
        self.views.setMinimumSize(320, 200)
        self.bars = QtProbabilityBars()
        self.device = QtDevicePanel()
        self.board_picker = QtBoardPicker()
        self.source_picker = QtSourcePicker(sessions_dir)
        self.plots = QtTimingPlots(history=history)
        self.timeline = QtPredictionTimeline(history=history)
        self.plots.history_changed.connect(self.timeline.set_history)

        # Side column: board, source, model output, device facts. It scrolls rather than squeezes its rows.
        side = QtWidgets.QWidget()
        side_layout = QtWidgets.QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 4, 0)
        # What the audience looks at first; the set-up controls (board, source) below the device facts.
        for title_, widget in (("model output", self.bars), ("board", self.board_picker),
                               ("source", self.source_picker), ("device", self.device)):
            box = QtWidgets.QGroupBox(title_)
            QtWidgets.QVBoxLayout(box).addWidget(widget)
            side_layout.addWidget(box)
        side_layout.addStretch(1)
        self.side_scroll = QtWidgets.QScrollArea()
        self.side_scroll.setWidget(side)
        self.side_scroll.setWidgetResizable(True)
        self.side_scroll.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarAlwaysOff)
        self.side_scroll.setFrameShape(QtWidgets.QFrame.NoFrame)
        self.side_scroll.setMinimumWidth(SIDE_MIN_WIDTH)

        self.top_split = _splitter(QtCore.Qt.Horizontal, (self.views, 3), (self.side_scroll, 1))
        self.main_split = _splitter(QtCore.Qt.Vertical, (self.top_split, 4), (self.timeline, 1), (self.plots, 1))
        central = QtWidgets.QWidget()
        layout = QtWidgets.QVBoxLayout(central)
        layout.setContentsMargins(6, 2, 6, 2)
        layout.addWidget(self.messages)
        layout.addWidget(self.banner)
        layout.addWidget(self.main_split, 1)
        self.setCentralWidget(central)

        toolbar = self.addToolBar("controls")
        toolbar.setObjectName("controls")
        toolbar.setMovable(False)
        self.pause_action = QtGui.QAction("Pause", self)
        self.pause_action.setCheckable(True)
        self.pause_action.setShortcut(QtGui.QKeySequence("Space"))
        self.pause_action.toggled.connect(self._on_pause_toggled)
        toolbar.addAction(self.pause_action)
        # The button is as wide as its widest text: Pause → Resume does not shift the toolbar.
        pause_button = toolbar.widgetForAction(self.pause_action)
        metrics = pause_button.fontMetrics()
        pause_button.setMinimumWidth(max(metrics.horizontalAdvance(t) for t in ("Pause", "Resume")) + 24)
        self.screenshot_action = toolbar.addAction("Screenshot")
        self.screenshot_action.setShortcut(QtGui.QKeySequence("Ctrl+S"))
        self.screenshot_action.triggered.connect(self._on_screenshot_clicked)
        self.video_action = toolbar.addAction("Record video")
        self.video_action.setCheckable(True)
        self.video_action.setShortcut(QtGui.QKeySequence("Ctrl+Shift+V"))
        self.video_action.setToolTip("record the live view with its class overlay as a video (.mp4) next to the "
                                     "screenshots; press again to stop")
        self.video_action.toggled.connect(self._on_video_toggled)
        self.video_recorder: VideoRecorder | None = None
        self.reset_roi_action = toolbar.addAction("Full frame")
        self.reset_roi_action.setToolTip("reset the region of interest to the whole image")
        self.reset_roi_action.triggered.connect(self._on_reset_roi_clicked)
        self.fullscreen_action = toolbar.addAction("Full screen")
        self.fullscreen_action.setCheckable(True)
        self.fullscreen_action.setShortcut(QtGui.QKeySequence("F11"))
        self.fullscreen_action.toggled.connect(self._on_fullscreen_toggled)
        toolbar.addSeparator()

        # Workflow docks: hidden by default, toggled from the toolbar (and View menu of the dock area).
        sessions_dir = sessions_dir or Path.cwd() / "sessions"
        self.record_dock = QtRecordDock(sessions_dir, hotkey_parent=self, parent=self)
        self.sessions_dock = QtSessionsDock(sessions_dir, parent=self)
        for dock in (self.record_dock, self.sessions_dock):
            self.addDockWidget(QtCore.Qt.RightDockWidgetArea, dock)
            dock.hide()
        self.tabifyDockWidget(self.record_dock, self.sessions_dock)
        self.console_dock = QtWidgets.QDockWidget("Console", self)
        self.console_dock.setObjectName("console_dock")
        self.console_dock.setWidget(self.console)
        self.addDockWidget(QtCore.Qt.BottomDockWidgetArea, self.console_dock)
        self.console_dock.hide()
        self.record_action = self._dock_action(self.record_dock, "Record", "Ctrl+R",
                                               "label set, record/pause, snapshot (keys 1–9 pick the label)")
        self.sessions_action = self._dock_action(self.sessions_dock, "Sessions", "Ctrl+E",
                                                 "recorded sessions: replay one as the live source, merge")
        self.console_action = self._dock_action(self.console_dock, "Console", "Ctrl+L",
                                                "the board's log messages and link events")
        self.validate_action = QtGui.QAction("Validate…", self)
        self.validate_action.setToolTip("validate a model on the connected board against its .tflite")
        self.validate_action.setEnabled(False)
        self.validate_action.triggered.connect(self._on_validate_triggered)
        self.deploy_action = QtGui.QAction("Deploy…", self)
        self.deploy_action.setToolTip("upload a model to the connected board and make it active, with no reflash "
                                      "and no restart: a container (.elmc), an int8 .tflite, or a model to import "
                                      "(.onnx, .keras, float .tflite)")
        self.deploy_action.setEnabled(False)
        self.deploy_action.triggered.connect(self._on_deploy_triggered)
        for action in (self.record_action, self.sessions_action, self.validate_action, self.deploy_action,
                       self.console_action):
            toolbar.addAction(action)
        toolbar.addSeparator()
        toolbar.addWidget(QtWidgets.QLabel(" history "))
        toolbar.addWidget(self.plots.history_spin)
        self.status = QtWidgets.QLabel("starting")
        self.status.setMinimumWidth(10)  # long link figures are cut, they never widen the window
        self.statusBar().addWidget(self.status, 1)
        self.jobs = QtLoopJobs()  # Deploy… and Train from selected: progress and Cancel
        self.statusBar().addPermanentWidget(self.jobs)
        for qt_signal, slot in ((self.jobs.deployed, self._on_model_deployed),
                                (self.jobs.stage_changed, self._on_job_stage),
                                (self.jobs.succeeded, self._on_job_succeeded),
                                (self.jobs.failed, self._on_job_failed),
                                (self.jobs.cancelled, self._on_job_cancelled),
                                (self.jobs.ended, self._on_job_ended)):
            qt_signal.connect(slot)
        self.rec_indicator = QtWidgets.QLabel("")
        self.rec_indicator.setStyleSheet(f"color: {theme.BAD}; font-weight: 700;")
        self.statusBar().addPermanentWidget(self.rec_indicator)

        controller.state_changed.connect(self._on_state_changed)
        controller.info_changed.connect(self._on_info_changed)
        controller.records_ready.connect(self._on_records_ready)
        controller.preview_ready.connect(self._on_preview_ready)
        controller.failed.connect(self._on_failed)
        controller.finished.connect(self._on_finished)
        controller.log_received.connect(self._on_log_received)
        controller.board_started.connect(self._on_board_started)
        self.messages.message_shown.connect(self._on_message_shown)
        self.video.roi_changed.connect(self._on_roi_changed)
        self.device.model_selected.connect(self._on_model_selected)
        self.device.reconnect_requested.connect(self._on_reconnect_requested)
        self.device.per_layer_requested.connect(self._on_per_layer_requested)
        self.board_picker.connect_requested.connect(self._on_connect_requested)
        self.board_picker.disconnect_requested.connect(self._on_disconnect_requested)
        self.source_picker.source_requested.connect(self._on_source_requested)
        controller.source_changed.connect(self._on_source_changed)
        # The recorder sees every result and capture in the worker threads, never via the GUI thread.
        controller.add_record_listener(self.record_dock.offer_result)
        controller.add_capture_listener(self.record_dock.offer_capture)
        record, panel, sessions = self.record_dock, self.record_dock.panel, self.sessions_dock
        for qt_signal, slot in ((record.start_requested, self._on_record_start_requested),
                             (record.session_closed, self._on_session_closed),
                             (record.root_changed, sessions.set_root),
                             (panel.recording_changed, self._on_recording_changed),
                             (panel.sample_recorded, self._on_recording_changed),
                             (panel.label_changed, self._on_recording_changed),
                             (panel.recording_failed, self._on_recording_failed),
                             (sessions.replay_requested, self._on_replay_requested),
                             (sessions.train_requested, self.train_from_sessions),
                             (sessions.live_requested, self._on_live_requested)):
            qt_signal.connect(slot)
        self.banner.set_message("connecting …" if controller.url else "pick a board and Connect")
        self._restore_settings()

        self.timer = QtCore.QTimer(self)  # housekeeping while no results arrive
        self.timer.setInterval(IDLE_TICK_MS)
        self.timer.timeout.connect(self._on_idle_tick)
        self._frame_timer = QtCore.QTimer(self)  # draws a held-back frame once the frame-rate cap allows
        self._frame_timer.setSingleShot(True)
        self._frame_timer.setTimerType(QtCore.Qt.PreciseTimer)
        self._frame_timer.timeout.connect(self._draw_next)
        self._preview_timer = QtCore.QTimer(self)  # gives a result the first chance to show its frame
        self._preview_timer.setSingleShot(True)
        self._preview_timer.setTimerType(QtCore.Qt.PreciseTimer)
        self._preview_timer.timeout.connect(self._show_preview)

    def _dock_action(self, dock: QtWidgets.QDockWidget, text: str, shortcut: str, tip: str) -> QtGui.QAction:
        """A toolbar action that shows a dock and brings its tab to the front, or hides it when in front."""
        action = QtGui.QAction(text, self)
        action.setCheckable(True)
        action.setShortcut(QtGui.QKeySequence(shortcut))
        action.setToolTip(tip)

        def toggled(on: bool) -> None:
            if on:
                dock.show()
                dock.raise_()  # tabbed with another dock: its tab comes to the front
            else:
                dock.hide()

        action.toggled.connect(toggled)
        dock.visibilityChanged.connect(lambda visible: _set_checked(action, dock.isVisible()))
        return action

    def fit_to_screen(self, screen: QtGui.QScreen | None = None) -> None:
        """Open at a size that fits the screen the window is on: at most 1400×900, never over 92 % of it."""
        screen = screen or self.screen() or QtGui.QGuiApplication.primaryScreen()
        if screen is None:
            self.resize(1400, 900)
            return
        area = screen.availableGeometry()
        width = min(1400, int(area.width() * 0.92))
        height = min(900, int(area.height() * 0.92))
        self.resize(width, height)
        self.move(area.x() + (area.width() - width) // 2, area.y() + (area.height() - height) // 2)

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        """Start the link in the background (when the window has a board to go to) and the housekeeping timer."""
        # Workers (scene rendering, decoding) hold the GIL for up to the switch interval at a time;
        # 1 ms instead of Python's 5 ms keeps the display thread's latency low at a small CPU cost.
        sys.setswitchinterval(min(sys.getswitchinterval(), 0.001))
        if self.controller.url:
            self.board_picker.set_connected(True)
            self.controller.start()
        else:
            self.messages.info("no board given: pick a serial port or a virtual board under 'board' and Connect",
                               seconds=30)
            self.side_scroll.ensureWidgetVisible(self.board_picker)
        self.timer.start()

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:  # noqa: N802 - Qt naming
        self.timer.stop()
        self._frame_timer.stop()
        self._preview_timer.stop()
        self.jobs.shutdown()  # a training child is killed; an upload in flight never activates half a model
        if self.validate_dialog is not None:
            self.validate_dialog.wait()  # a running validation still writes its report
            self.validate_dialog.close()
        if self.per_layer_dialog is not None:
            self.per_layer_dialog.wait()  # the profile's requests use the session about to close
            self.per_layer_dialog.close()
        self._save_settings()  # while the pipeline still says which model runs
        self.controller.stop()
        self.record_dock.shutdown()  # after the link stopped: nothing more arrives to record
        if self.video_recorder is not None:
            self.video_action.setChecked(False)  # finishes the file
        super().closeEvent(event)

    def save_screenshot(self, path: Path | None = None) -> Path:
        """Grab the window into a PNG and return its path."""
        if path is None:
            self.screenshot_dir.mkdir(parents=True, exist_ok=True)
            path = self.screenshot_dir / time.strftime("edgeloop-%Y%m%d-%H%M%S.png")
        if not screenshot(self, str(path)):
            raise ResourceError(f"could not write the screenshot to {path}: check that the folder is writable")
        return path

    # -- slots: controller (GUI thread via queued signals) ------------------------------------
    def _on_state_changed(self, state: LinkState, detail: str) -> None:
        self.device.set_state(state, detail)
        self.console.add("link", f"{state.value}{': ' + detail if detail else ''}")
        was_connected, self._connected = self._connected, state is LinkState.CONNECTED
        if was_connected and not self._connected:
            self.plots.mark_gap(time.monotonic())  # an outage: what was captured before it waited it out
        elif self._connected and self.last_record is not None:
            self.plots.mark_gap()  # back after an outage: no line across it
        if state is LinkState.CONNECTED:
            self.messages.clear_errors()  # what went wrong before is over
        if state is LinkState.DISCONNECTED:
            self.board_picker.set_connected(False)
            self.side_scroll.ensureWidgetVisible(self.board_picker)
            self.banner.set_message("disconnected: pick a board and Connect")
        elif state is not LinkState.CONNECTED:
            self.banner.set_message(f"{state.value} …" if state is not LinkState.FAILED else "link failed")
        if state is LinkState.FAILED and detail:
            self.messages.error(f"link failed: {detail}")

    def _on_info_changed(self, info: Info) -> None:
        self.info = info
        self.console.add("link", f"board {info.board}, firmware {info.firmware}, "
                                 f"models: {', '.join(m.name for m in info.models) or 'none'}")
        self.device.set_info(info, self.controller.url)
        self.plots.set_timing_source(info.timing_source)
        self.validate_action.setEnabled(bool(info.models))
        self.deploy_action.setEnabled(True)  # a board without upload slots says so when asked
        model = self.controller.model
        index = info.active_model
        if isinstance(model, str) and not model.isdigit():
            names = [m.name for m in info.models]
            index = names.index(model) if model in names else index
        elif model is not None:
            index = int(model)
        if 0 <= index < len(info.models):
            self.record_dock.suggest_labels(info.models[index].labels)

    def _on_records_ready(self) -> None:
        taken_at = time.monotonic()
        for record in self.controller.take_records():
            self.display.received += 1
            self.plots.add_record(record)  # every record reaches the plots and the timeline, drawn or not
            if record.ok and record.model_name != self._timeline_model:
                self._follow_model(record)
            self.timeline.add_record(record)
            self._backlog.append((record, taken_at))
        if len(self._backlog) > MAX_BACKLOG:
            self.display.dropped += len(self._backlog) - 1
            newest = self._backlog.pop()
            self._backlog.clear()
            self._backlog.append(newest)
        self._draw_next()

    def _follow_model(self, record: ResultRecord) -> None:
        """The timeline follows the model results now come from: its classes and its decision rule."""
        self._timeline_model = record.model_name
        model = self.info.models[record.model_index] if self.info and record.model_index < len(self.info.models) else None
        rule = model_facts.decision_rule(model) if model is not None else DecisionRule()
        self.timeline.set_model(tuple(record.labels), rule)

    def _on_preview_ready(self) -> None:
        if not self._preview_timer.isActive():
            self._preview_timer.start(PREVIEW_GRACE_MS)

    def _show_preview(self) -> None:
        """Paint the newest capture unless a result showed it (or a newer one) meanwhile.

        Previews are at least PREVIEW_GRACE_MS apart (one grace timer at a time),
        so they never come faster than DISPLAY_FPS_MAX.
        """
        capture = self.controller.take_preview()
        if capture is None or self.pause_action.isChecked():
            return
        if self._show_frame(capture.data, capture.timestamp):
            self.display.previews += 1
            repaint_now(self.video)
            self._record_view(self.video)

    def _show_frame(self, image: np.ndarray, captured_at: float) -> bool:
        """Put an image on the video view unless a newer one is there already; returns whether it did."""
        if captured_at <= self._frame_t:
            return False
        self._frame_t = captured_at
        self.views.setCurrentWidget(self.video)
        self.video.set_frame(image)
        return True

    def _on_failed(self, message: str) -> None:
        self.banner.set_message("no board" if self.info is None else "stopped")
        self.messages.error(message)

    def _on_finished(self, message: str) -> None:
        self.messages.info(message)

    def _on_source_changed(self, name: str) -> None:
        self._frame_t = -math.inf  # a replayed session may carry older capture times
        self.plots.mark_gap()
        self.timeline.reset()  # the accuracy is of this source's stream
        replaying = self.controller.source_factory is not self._live_factory
        self.sessions_dock.set_playing(f"now feeding the board: {name}", replaying)
        self.source_picker.show_current(name)
        self.console.add("info", f"source: {name}")

    def _on_board_started(self, target: str, url: str) -> None:
        self.console.add("link", f"started the {target} virtual board at {url}")

    def _on_message_shown(self, text: str, error: bool) -> None:
        self.console.add("error" if error else "info", text)

    # -- slots: workflow docks -------------------------------------------------------------------------
    def _on_record_start_requested(self) -> None:
        pipeline = self.controller.pipeline
        if pipeline is None or self.info is None:
            self._tell("connect to a board first: recording stores the board's predictions with each sample")
            return
        source = {"name": pipeline.source.name, **({"spec": self._source_spec} if self._source_spec else {})}
        try:
            recorder = self.record_dock.begin_session(
                kind=pipeline.source.kind, source=source, board=board_fields(self.info, self.controller.url),
                model=model_fields(pipeline.model))
        except EdgeloopError as exc:
            self.record_dock.panel.status.setText(str(exc))
            self.messages.error(f"cannot start a session: {exc}")
            return
        self._tell(f"session {recorder.out_dir} open (paused): Record starts, keys 1–9 pick the label")

    def _on_session_closed(self, path: Path) -> None:
        self.sessions_dock.browser.refresh()
        self._tell(f"session saved to {path}")

    def _on_recording_changed(self, *_: object) -> None:
        rec = self.record_dock.panel.recorder
        if rec is None:
            self.rec_indicator.setText("")
            return
        state = "● REC" if not rec.paused else "❚❚ paused"
        label = self.record_dock.panel.labels.current or "—"
        self.rec_indicator.setText(f"{state}  {label}  {rec.samples}")

    def _on_recording_failed(self, message: str) -> None:
        self.rec_indicator.setText("● REC failed")
        self.messages.error(message)

    def _on_replay_requested(self, path: Path, loop: bool) -> None:
        self._source_spec = f"session:{path}"
        self.controller.set_source(replay_factory(path, loop))
        self.banner.set_message(f"replaying {path.name} …")

    def _on_live_requested(self) -> None:
        self._source_spec = self._live_spec
        self.controller.set_source(self._live_factory)

    # -- slots: board and source pickers ---------------------------------------------------------------
    def _on_connect_requested(self, kind: str, value: str, baud: int) -> None:
        if not value:
            self.messages.error("type a serial port or URL (/dev/ttyACM0, socket://127.0.0.1:PORT) or pick one")
            return
        self.info = None
        self.board_picker.set_connected(True)
        self.settings.setValue("board/kind", kind)
        self.settings.setValue("board/value", value)
        self.settings.setValue("board/baud", baud)
        if kind == "virtual":
            self.banner.set_message(f"starting the {value} virtual board …")
            self.controller.start_virtual(value)
        else:
            self.banner.set_message(f"connecting to {value} …")
            self.controller.connect_to(value, baud or None)

    def _on_disconnect_requested(self) -> None:
        self.controller.disconnect()

    def _on_source_requested(self, spec: str) -> None:
        model = self._current_model()
        try:
            source = open_source(spec)  # a bad spec fails here, with its message
        except EdgeloopError as exc:
            self.messages.error(f"cannot open {spec}: {exc}")
            return
        kind = source.kind
        source.close()
        if model is not None and not source_fits(kind, model):
            self.messages.error(mismatch_hint(kind, model) + " (or pick a model that takes it)")
            return
        self._source_spec = self._live_spec = spec
        self._live_factory = lambda: open_source(spec)
        self.settings.setValue("source/spec", spec)
        self.controller.set_source(self._live_factory)

    def _on_validate_triggered(self) -> None:
        session = self.controller.session
        if session.info is None:
            self._tell("connect to a board first")
            return
        if self.validate_dialog is not None and self.validate_dialog.running:
            self.validate_dialog.show()  # closed during its run: it was only hidden
            self.validate_dialog.raise_()
            return
        pipeline = self.controller.pipeline
        index = pipeline.model_index if pipeline is not None else session.info.active_model
        dialog = QtValidateDialog(session, model_index=index, parent=self, reports_dir=self.reports_dir,
                                  sessions_dir=self.record_dock.root)
        dialog.started.connect(self._on_validation_started)
        dialog.finished_report.connect(self._on_validation_report)
        dialog.failed.connect(self._on_validation_failed)
        self.validate_dialog = dialog
        dialog.show()

    def _on_validation_started(self) -> None:
        self.plots.mark_gap(time.monotonic())
        # The validation needs the board's whole credit window: hold the live stream meanwhile.
        pipeline = self.controller.pipeline
        if pipeline is not None and not pipeline.paused:
            self.controller.set_paused(True)
            self._paused_for_validation = True
        self.banner.set_message("validating …")

    def _validation_ended(self) -> None:
        self.plots.mark_gap(time.monotonic())
        if self._paused_for_validation:
            self._paused_for_validation = False
            self.controller.set_paused(self.pause_action.isChecked())

    def _on_validation_report(self, html_path: str) -> None:
        self._validation_ended()
        self._tell(f"validation report: {html_path}")

    def _on_validation_failed(self, message: str) -> None:
        self._validation_ended()
        self.messages.error(f"validation failed: {message}")

    # -- slots: deploy and retrain (the work is edgeloop.app.validate.loop, run by self.jobs) ----------------
    def _on_deploy_triggered(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(
            self, "Deploy a model to the board", str(self.settings.value("deploy/folder", "")),
            "Models (*.elmc *.tflite *.onnx *.keras *.h5);;All files (*)")
        if not path:
            return
        self.settings.setValue("deploy/folder", str(Path(path).parent))
        calib = None
        try:
            float_model = needs_calibration(Path(path))
        except EdgeloopError as exc:
            self.messages.error(f"cannot deploy {path}: {exc}")
            return
        if float_model:  # quantizing it for the board needs samples shaped like its input
            folder = QtWidgets.QFileDialog.getExistingDirectory(
                self, f"Calibration data for {Path(path).name} (an image set, a recorded session, IMU CSVs)",
                str(self.record_dock.root))
            if not folder:
                return
            calib = Path(folder)
        self.deploy_file(Path(path), calib=calib)

    def _can_start_job(self) -> bool:
        if self.controller.session.info is None:
            self.messages.error("connect to a board first: deploying uploads over its link")
            return False
        if self.jobs.running:
            self.messages.error("a deploy or training job is running: wait for it or Cancel it (status bar)")
            return False
        return True

    def deploy_file(self, path: Path, calib: Path | None = None) -> None:
        """Compile `path` if needed (a float model quantized with `calib` data), upload it to the connected
        board and make it active, in the background."""
        if self._can_start_job():
            self.jobs.deploy(self.controller.session, Path(path), calib=calib)

    def train_from_sessions(self, sessions: list[Path]) -> None:
        """Train on `sessions` in a child process, deploy the model and validate it on the board."""
        if not sessions:
            self.messages.error("select the sessions to train on first (Sessions panel; Ctrl+click selects several)")
            return
        if not self._can_start_job():
            return
        try:
            options = self.sessions_dock.train_arguments()
            name = time.strftime("retrained_%m%d_%H%M%S")  # short enough for the model list
            plan = RetrainPlan(list(sessions), self.trained_dir / name, self.reports_dir, options)
            plan.task()  # mixed or unreadable sessions are refused now, not after a child started
        except EdgeloopError as exc:
            self.messages.error(f"cannot train: {exc}")
            return
        self.sessions_dock.set_training(True)
        self.jobs.retrain(self.controller.session, plan)
        self._tell(f"training on {len(sessions)} session(s) in a separate process into {plan.out}; "
                   "the live view goes on meanwhile")

    def _on_model_deployed(self, done: Deployed) -> None:
        """A model is active on the board: list it, select it (with a source that can feed it)."""
        self.controller.announce_info(done.info)
        self._on_model_selected(done.position)

    def _on_job_stage(self, stage: str) -> None:
        if stage == "validate":
            self._on_validation_started()  # the validation needs the board's credit window: hold the live stream
            self.banner.set_message("paused: validating the new model")

    def _on_job_succeeded(self, text: str) -> None:
        self.messages.info(text, seconds=20)

    def _on_job_failed(self, text: str) -> None:
        self.messages.error(text)

    def _on_job_cancelled(self, text: str) -> None:
        self._tell(text)

    def _on_job_ended(self) -> None:
        self._validation_ended()
        self.sessions_dock.set_training(False)

    def _on_per_layer_requested(self) -> None:
        """Profile the active model's steps in a worker thread and show them as bars (SPEC §9.6)."""
        session = self.controller.session
        if session.info is None or not session.info.models:
            self._tell("connect to a board with a model first")
            return
        if self.per_layer_dialog is not None and self.per_layer_dialog.running:
            self.per_layer_dialog.show()
            self.per_layer_dialog.raise_()
            return
        pipeline = self.controller.pipeline
        index = pipeline.model_index if pipeline is not None else session.info.active_model
        # The profile needs the board's credit: hold the live stream meanwhile, as validation does.
        if pipeline is not None and not pipeline.paused:
            self.controller.set_paused(True)
            self._paused_for_profile = True
        dialog = QtPerLayerDialog(session, index, model_dirs=pipeline.model_dirs if pipeline is not None else (),
                                  parent=self)
        dialog.profiled.connect(self._on_profile_ended)
        dialog.failed.connect(self._on_profile_failed)
        self.per_layer_dialog = dialog
        dialog.show()

    def _on_profile_ended(self, _profile: dict | None = None) -> None:
        if self._paused_for_profile:
            self._paused_for_profile = False
            self.controller.set_paused(self.pause_action.isChecked())

    def _on_profile_failed(self, message: str) -> None:
        self._on_profile_ended()
        self.messages.error(f"per layer: {message}")

    def _tell(self, message: str) -> None:
        self.messages.info(message)

    def _on_log_received(self, text: str) -> None:
        self.console.add("board", text)

    # -- slots: widgets (view → model) -------------------------------------------------------------
    def _on_roi_changed(self, roi: Roi) -> None:
        self.controller.set_roi(roi)

    def _current_model(self) -> ModelDescriptor | None:
        pipeline = self.controller.pipeline
        if pipeline is not None:
            return pipeline.model
        if self.info is not None and 0 <= self.info.active_model < len(self.info.models):
            return self.info.models[self.info.active_model]
        return None

    def _on_model_selected(self, index: int) -> None:
        """Switch the board's model; one that the running source cannot feed brings a source that can."""
        if self.info is None or not 0 <= index < len(self.info.models):
            return
        model = self.info.models[index]
        self.settings.setValue("model/name", model.name)
        kind = self.controller.source_kind
        if source_fits(kind, model):
            self.controller.select_model(index)
            return
        choice = matching_source(model)
        current = self._current_model()
        if choice is None:
            if current is not None:
                self.device.set_active_model(self.info.models.index(current))
            self.messages.error(mismatch_hint(kind, model))
            return
        self._source_spec = self._live_spec = choice.spec
        self._live_factory = lambda: open_source(choice.spec)
        self.controller.set_source(self._live_factory, model=index)
        self.messages.info(f"{model.name} needs a different input: the source is now {choice.description} "
                           f"(pick another under 'source')")

    def _on_reconnect_requested(self) -> None:
        self.controller.reconnect()

    def _on_pause_toggled(self, paused: bool) -> None:
        self.plots.mark_gap(time.monotonic())
        self.controller.set_paused(paused)
        self.pause_action.setText("Resume" if paused else "Pause")
        if paused:
            self.banner.set_message("paused")
        else:
            self._draw_next()

    def _on_screenshot_clicked(self) -> None:
        try:
            path = self.save_screenshot()
        except EdgeloopError as exc:
            self.messages.error(str(exc))
            return
        self.messages.info(f"screenshot saved to {path}")

    def _on_video_toggled(self, on: bool) -> None:
        if on:
            path = self.screenshot_dir / time.strftime("edgeloop-%Y%m%d-%H%M%S.mp4")
            try:
                self.video_recorder = VideoRecorder(path, fps=VIDEO_FPS)
            except EdgeloopError as exc:
                self.messages.error(str(exc))
                _set_checked(self.video_action, False)
                return
            self.video_action.setText("Stop video")
            self.messages.info(f"recording the live view to {path}")
            return
        recorder, self.video_recorder = self.video_recorder, None
        self.video_action.setText("Record video")
        if recorder is None:
            return
        try:
            done = recorder.close()
        except EdgeloopError as exc:
            self.messages.error(str(exc))
            return
        self.messages.info(f"video saved to {done.path} ({done.seconds:.1f} s, {done.codec})", seconds=15)

    def _record_view(self, view: QtWidgets.QWidget) -> None:
        """While a video is recorded: hand the view just painted to the writer thread."""
        if self.video_recorder is not None and view.isVisible():
            self.video_recorder.put(grab_rgb(view), time.monotonic())

    def _on_reset_roi_clicked(self) -> None:
        self.video.set_roi(Roi())
        self.controller.set_roi(Roi())

    def _on_fullscreen_toggled(self, on: bool) -> None:
        self.showFullScreen() if on else self.showNormal()

    # -- settings -----------------------------------------------------------------------------------------
    def _restore_settings(self) -> None:
        """The last board in the picker, the last model preferred, the last geometry (else fit the screen)."""
        kind, value = self.settings.value("board/kind", ""), self.settings.value("board/value", "")
        if self.controller.url:
            self.board_picker.select("port", self.controller.url)
        elif kind and value:
            self.board_picker.select(str(kind), str(value))
        baud = self.settings.value("board/baud", "")
        if str(baud).isdigit() and int(baud):
            self.board_picker.baud_combo.setCurrentText(str(baud))
        if self.controller.model is None and self.settings.value("model/name", ""):
            self.controller.preferred_model = str(self.settings.value("model/name"))
        geometry = self.settings.value("window/geometry")
        if not (isinstance(geometry, QtCore.QByteArray) and self.restoreGeometry(geometry)):
            self.fit_to_screen()

    def _save_settings(self) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        model = self._current_model()
        if model is not None:
            self.settings.setValue("model/name", model.name)
        self.settings.sync()

    # -- display ------------------------------------------------------------------------------------------
    def _draw_next(self) -> None:
        """Draw the oldest waiting record now, or arm the frame timer if the frame-rate cap says wait."""
        if not self._backlog or self.pause_action.isChecked():
            return
        now = time.monotonic()
        due = self._last_frame_at + 1.0 / DISPLAY_FPS_MAX
        if now < due:
            if not self._frame_timer.isActive():
                self._frame_timer.start(max(1, math.ceil((due - now) * 1000)))
            return
        record, taken_at = self._backlog.popleft()
        self._draw(record, taken_at, now)
        # The slow work goes right behind a frame: the next result is a frame period away. Its
        # repaint happens here too, so a plot never rides along with the next frame's paint.
        self._housekeeping(time.monotonic())
        paint_dirty_now(self)
        if self._backlog and not self._frame_timer.isActive():
            self._frame_timer.start(max(1, math.ceil(1000 / DISPLAY_FPS_MAX)))

    def _draw(self, record: ResultRecord, taken_at: float, start: float) -> None:
        """Show a record and paint it now; time the spans up to the completed paint."""
        self._show(record)
        view = self.views.currentWidget()
        repaint_now(view)  # one paint of everything dirty in the window: frame, overlay, banner, bars
        end = time.monotonic()
        self._record_view(view)
        self.display.displayed += 1
        previous, self._last_frame_at = self._last_frame_at, end
        painted = view.isVisible() and (view is not self.video or self.video.painted_frame == self.video.frame_number)
        if not painted:
            self.display.unpainted += 1
            return
        ready_at = record.timestamp + record.latency_s
        delivery, wait, render = max(0.0, taken_at - ready_at), start - taken_at, end - start
        self.display.delivery_s.append(delivery)
        self.display.wait_s.append(wait)
        self.display.render_s.append(render)
        self.display.overhead_s.append(record.host_overhead_s + delivery + wait + render)
        if math.isfinite(previous):
            self.display.frame_gap_s.append(end - previous)

    def _housekeeping(self, now: float) -> None:
        """Link figures when due, then at most one timing plot with new points (round robin)."""
        if now - self._last_link_stats >= LINK_STATS_S:
            self._last_link_stats = now
            self._show_link_stats(now)
        count = len(self._plot_drawn_at)
        for step in range(count):
            part = (self._next_plot + step) % count
            if now - self._plot_drawn_at[part] < 1.0 / PLOT_HZ:
                continue
            changed = self.timeline.redraw() if part == count - 1 else self.plots.redraw(part)
            if changed:  # False: nothing new
                self._plot_drawn_at[part] = now
                self._next_plot = part + 1
                return

    def _on_idle_tick(self) -> None:
        now = time.monotonic()
        if now - self._last_frame_at >= IDLE_TICK_MS / 1000:  # frames flowing do this after each paint
            self._housekeeping(now)
            paint_dirty_now(self)

    def _show(self, record: ResultRecord) -> None:
        self.last_record = record
        if record.model_index != self.device.model_combo.currentIndex():
            self.device.set_active_model(record.model_index)
        frame = record.frame
        if frame is not None and frame.ndim == 3 and frame.shape[2] in (1, 3, 4) and frame.shape[1] > 6:
            self._show_frame(frame, record.timestamp)
        elif record.view is not None and record.view.ndim == 2:
            self.views.setCurrentWidget(self.imu)
            model = self.info.models[record.model_index] if self.info else None
            pipeline = self.controller.pipeline
            self.imu.set_samples(np.asarray(record.view), float(model.sample_rate_hz) if model else 0.0,
                                 pipeline.view_channels if pipeline is not None else None)
        if not record.ok:
            self.banner.set_message("no reply")
            self.status.setText(record.error)
            return
        if not self.pause_action.isChecked():
            # The banner shows what the model's decision rule decides (the window's own class when the
            # rule is each window on its own); the overlay and the bars keep this window's result.
            decided = self.timeline.decision
            if decided is not None and not self.timeline.rule.is_identity:
                self.banner.set_result(*decided)
            else:
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
            if record.timing_source == TimingSource.HOST_CLOCK and self.info is not None:
                # Next to the host clock, what the model takes on the real ARM image (when it was measured).
                count = model_facts.instruction_count(self.info.models[record.model_index])
                if count is not None:
                    device += (f"Cortex-M7 {model_facts.estimate_text(count.instructions)} "
                               f"(estimate from emulated instructions)   ")
        self.status.setText(
            f"{device}{stats.fps:.1f} results/s   RTT {stats.rtt_last_ms:.1f} ms   "
            f"link ↑{stats.tx_bytes_per_s / 1e3:.1f} ↓{stats.rx_bytes_per_s / 1e3:.1f} kB/s   "
            f"errors {stats.errors}   retries {stats.retries}   dropped display frames {self.display.dropped}")


def run_gui(controller: QtLinkController, *, fullscreen: bool = False, history: int = 300,
            seconds: float | None = None, screenshot_path: Path | None = None, roi: Roi | None = None,
            sessions_dir: Path | None = None, source_spec: str = "") -> int:
    """Create the application and window, run until closed (or `seconds`), and return the exit code."""
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(["edgeloop"])
    theme.apply_theme(app)
    window = QtMainWindow(controller, history=history, sessions_dir=sessions_dir)
    if source_spec:
        window.settings.setValue("source/spec", source_spec)
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
    stopped: list[int] = []
    with _close_on_stop_signals(window, stopped):
        code = app.exec()
    return 130 if stopped else int(code)


def open_settings() -> QtCore.QSettings:
    """The user's edgeloop settings, or the INI file $EDGELOOP_SETTINGS names (tests, kiosks)."""
    path = os.environ.get("EDGELOOP_SETTINGS")
    if path:
        return QtCore.QSettings(path, QtCore.QSettings.IniFormat)
    return QtCore.QSettings("edgeloop", "edgeloop")


def _splitter(orientation: QtCore.Qt.Orientation,
              *parts: tuple[QtWidgets.QWidget, int]) -> QtWidgets.QSplitter:
    """A splitter of (widget, stretch) parts; the first part (the live view) never collapses."""
    splitter = QtWidgets.QSplitter(orientation)
    for index, (widget, stretch) in enumerate(parts):
        splitter.addWidget(widget)
        splitter.setStretchFactor(index, stretch)
    splitter.setCollapsible(0, False)
    return splitter


def _set_checked(action: QtGui.QAction, checked: bool) -> None:
    """Check or uncheck an action without running its toggled slot (model → view)."""
    if action.isChecked() != checked:
        action.blockSignals(True)
        action.setChecked(checked)
        action.blockSignals(False)


@contextlib.contextmanager
def _close_on_stop_signals(window: QtWidgets.QWidget, stopped: list[int]) -> Iterator[None]:
    """While inside, Ctrl-C and SIGTERM close `window` the normal way (recording finalized, link stopped).

    Python runs signal handlers only between its own bytecodes, so a timer
    gives it a turn a few times a second even while the window is idle; a
    KeyboardInterrupt raised inside a Qt slot would just be printed.
    """
    def close(signum: int) -> None:
        stopped.append(signum)
        QtCore.QTimer.singleShot(0, window.close)

    heartbeat = QtCore.QTimer()
    heartbeat.timeout.connect(lambda: None)
    heartbeat.start(200)
    try:
        with on_stop_signals(close):
            yield
    finally:
        heartbeat.stop()
