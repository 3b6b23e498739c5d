"""The demonstrator's widgets: video with ROI and overlay, IMU traces, class bars, timing plots, device panel.

Each widget is a view with `set_*` methods (model → view) and Qt signals for
what the user changes (view → model): `QtVideoView.roi_changed`,
`QtTimingPlots.history_changed`, `QtDevicePanel.model_selected` and
`QtDevicePanel.reconnect_requested`. Widgets hold no link or pipeline state.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Sequence

import cv2
import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from edgeloop.app.gui import theme
from edgeloop.app.pipeline import ResultRecord
from edgeloop.app.preprocess import Roi
from edgeloop.app.session import LinkState, SessionStats
from edgeloop.app.sources.base import IMU_CHANNELS
from edgeloop.protocol import Info, InputKind, TimingSource


def _panel(layout: QtWidgets.QLayout) -> QtWidgets.QFrame:
    frame = QtWidgets.QFrame()
    frame.setObjectName("panel")
    frame.setLayout(layout)
    return frame


def _si(value: float, unit: str) -> str:
    """12.3 kB, 1.20 MB ... for panel figures."""
    for prefix, factor in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= factor:
            return f"{value / factor:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}"


class QtClassBanner(QtWidgets.QWidget):
    """The current class in large type, with its confidence and the model's verdict colour."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = QtWidgets.QLabel("—")
        self.label.setObjectName("banner")
        self.confidence = QtWidgets.QLabel("waiting for results")
        self.confidence.setObjectName("confidence")
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        layout.addWidget(self.label)
        layout.addStretch(1)
        layout.addWidget(self.confidence, alignment=QtCore.Qt.AlignBottom)

    def set_result(self, label: str, confidence: float) -> None:
        """Show a classification (confidence NaN for regression values)."""
        self._show(label.replace("_", " "), colour_for(confidence),
                   "" if math.isnan(confidence) else f"{confidence * 100:.0f} % confidence")

    def set_message(self, text: str) -> None:
        """Show a status text instead of a class (no board, paused ...)."""
        self._show(text, theme.MUTED, "")

    def _show(self, text: str, colour: str, confidence: str) -> None:
        # Restyling a widget is costly at 30 fps: touch only what changed.
        if self.label.text() != text:
            self.label.setText(text)
        if self.label.property("colour") != colour:
            self.label.setProperty("colour", colour)
            self.label.setStyleSheet(f"color: {colour};")
        if self.confidence.text() != confidence:
            self.confidence.setText(confidence)


class QtVideoView(pg.GraphicsLayoutWidget):
    """Live video with the class overlaid and a draggable, resizable ROI (emitted as fractions)."""

    roi_changed = QtCore.Signal(object)  # Roi
    SMOOTH_BELOW = 360  # frames smaller than this (pixels) are upscaled with cubic interpolation

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(320, 240)
        self.view = self.addViewBox(lockAspect=True, invertY=True, enableMouse=False)
        self.view.setMenuEnabled(False)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.view.addItem(self.image)
        self.overlay = pg.TextItem(anchor=(0, 0), fill=pg.mkBrush(20, 23, 28, 190))
        self.overlay.setZValue(10)
        self.view.addItem(self.overlay)
        self.roi_item = pg.RectROI((0, 0), (1, 1), pen=pg.mkPen(theme.ACCENT, width=2),
                                   hoverPen=pg.mkPen(theme.WARN, width=2), maxBounds=QtCore.QRectF(0, 0, 1, 1))
        self.roi_item.setZValue(5)
        self.view.addItem(self.roi_item)
        self.roi_item.sigRegionChangeFinished.connect(self._on_roi_dragged)
        self._shape: tuple[int, int] | None = None
        self._roi = Roi()
        self._updating = False
        self._overlay_html = ""

    @property
    def roi(self) -> Roi:
        """The ROI as fractions of the image."""
        return self._roi

    def set_frame(self, image: np.ndarray) -> None:
        """Show an H×W×C uint8 image (RGB or gray)."""
        if image.ndim == 3 and image.shape[2] == 1:
            image = image[:, :, 0]
        if max(image.shape[:2]) < self.SMOOTH_BELOW:
            # Small frames (a 96 px synthetic scene) would show as blocks: upscale smoothly for display only.
            factor = -(-self.SMOOTH_BELOW // max(image.shape[:2]))
            image = cv2.resize(image, (image.shape[1] * factor, image.shape[0] * factor),
                               interpolation=cv2.INTER_CUBIC)
        shape = image.shape[:2]
        self.image.setImage(image, autoLevels=False, levels=(0, 255))
        if shape != self._shape:
            self._shape = shape
            height, width = shape
            self.view.setRange(QtCore.QRectF(0, 0, width, height), padding=0)
            self.roi_item.maxBounds = QtCore.QRectF(0, 0, width, height)
            self._place_roi()

    def set_overlay(self, label: str, confidence: float, colour: str = theme.TEXT) -> None:
        """Class and confidence drawn on the video."""
        conf = "" if math.isnan(confidence) else f"  {confidence * 100:.0f}%"
        html = (f'<span style="color:{colour}; font-size:20pt; font-weight:700">'
                f'&nbsp;{label.replace("_", " ")}{conf}&nbsp;</span>')
        if html != self._overlay_html:  # re-laying out rich text every frame is the costliest part
            self._overlay_html = html
            self.overlay.setHtml(html)

    def set_roi(self, roi: Roi) -> None:
        """Move the ROI box (model → view); emits nothing."""
        self._roi = roi
        self._place_roi()

    def _place_roi(self) -> None:
        if self._shape is None:
            return
        height, width = self._shape
        self._updating = True
        try:
            self.roi_item.setPos((self._roi.x * width, self._roi.y * height), update=False, finish=False)
            self.roi_item.setSize((self._roi.w * width, self._roi.h * height), update=True, finish=False)
        finally:
            self._updating = False

    def _on_roi_dragged(self) -> None:
        if self._updating or self._shape is None:
            return
        height, width = self._shape
        pos, size = self.roi_item.pos(), self.roi_item.size()
        x = min(max(pos.x() / width, 0.0), 0.99)
        y = min(max(pos.y() / height, 0.0), 0.99)
        roi = Roi(x, y, min(max(size.x() / width, 0.01), 1 - x), min(max(size.y() / height, 0.01), 1 - y))
        if roi != self._roi:
            self._roi = roi
            self.roi_changed.emit(roi)


class QtImuView(pg.GraphicsLayoutWidget):
    """The latest IMU window: accelerometer (g) and gyroscope (dps) traces."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(320, 240)
        self.accel = self.addPlot(title="accelerometer (g)")
        self.nextRow()
        self.gyro = self.addPlot(title="gyroscope (dps)")
        self.accel.addLegend(offset=(-5, 5))
        self.gyro.addLegend(offset=(-5, 5))
        self.curves = []
        for i, name in enumerate(IMU_CHANNELS):
            plot = self.accel if i < 3 else self.gyro
            self.curves.append(plot.plot(pen=pg.mkPen(theme.SERIES[i % 3], width=2), name=name))

    def set_samples(self, samples: np.ndarray, rate_hz: float = 0.0) -> None:
        """Plot an N×6 window (x in seconds when the rate is known, else sample index)."""
        x = np.arange(len(samples)) / rate_hz if rate_hz else np.arange(len(samples))
        for i, curve in enumerate(self.curves):
            curve.setData(x, samples[:, i])


class QtProbabilityBars(pg.PlotWidget):
    """Horizontal class-probability bars, the winning class highlighted."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumWidth(260)
        self.setMouseEnabled(False, False)
        self.hideButtons()
        self.setXRange(0, 1, padding=0.02)
        self.getPlotItem().invertY(True)
        self.getAxis("bottom").setTicks([[(0, "0"), (0.5, "50%"), (1.0, "100%")]])
        self.bars = pg.BarGraphItem(x0=[], y=[], height=0.7, width=[])
        self.addItem(self.bars)
        self.labels: tuple[str, ...] = ()
        self.values = np.zeros(0)

    def set_probabilities(self, labels: Sequence[str], probabilities: Sequence[float]) -> None:
        """Draw one bar per class."""
        values = np.clip(np.asarray(probabilities, dtype=float), 0, 1)
        labels = tuple(labels) or tuple(f"class {i}" for i in range(len(values)))
        if labels == self.labels and values.shape == self.values.shape and np.allclose(values, self.values,
                                                                                       atol=0.002):
            return  # nothing visible would change: skip the repaint
        if labels != self.labels:
            self.labels = labels
            self.getAxis("left").setTicks([[(i, name.replace("_", " ")) for i, name in enumerate(labels)]])
            self.setYRange(-0.6, len(labels) - 0.4, padding=0)
        best = int(np.argmax(values)) if len(values) else -1
        brushes = [pg.mkBrush(theme.ACCENT if i == best else "#3b4452") for i in range(len(values))]
        self.values = values
        self.bars.setOpts(x0=np.zeros(len(values)), y=np.arange(len(values)), height=0.7, width=values,
                          brushes=brushes, pens=[pg.mkPen(None)] * len(values))


class _History:
    """Fixed-length history of (t, value) pairs for one plotted series."""

    def __init__(self, length: int) -> None:
        self.t: collections.deque[float] = collections.deque(maxlen=length)
        self.v: collections.deque[float] = collections.deque(maxlen=length)

    def resize(self, length: int) -> None:
        self.t = collections.deque(self.t, maxlen=length)
        self.v = collections.deque(self.v, maxlen=length)

    def add(self, t: float, v: float) -> None:
        if not math.isnan(v):
            self.t.append(t)
            self.v.append(v)


class QtTimingPlots(QtWidgets.QWidget):
    """On-device time (µs and ticks, labelled by timing source), end-to-end latency, fps, link throughput."""

    history_changed = QtCore.Signal(int)

    SERIES = ("infer_us", "infer_ticks", "latency_ms", "fps", "tx_kBps", "rx_kBps")

    def __init__(self, history: int = 300, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.history = history
        self.t0: float | None = None
        self.data = {name: _History(history) for name in self.SERIES}
        self.timing_source = TimingSource.HOST_CLOCK
        # One view per plot: a change repaints only its own plot, not the whole panel.
        self.views = [pg.PlotWidget() for _ in range(5)]
        self.p_us, self.p_ticks, self.p_latency, self.p_fps, self.p_link = (v.getPlotItem() for v in self.views)
        self.p_link.addLegend(offset=(-5, 5))
        self.summary = QtWidgets.QLabel("")
        self.summary.setObjectName("key")
        grid = QtWidgets.QGridLayout()
        grid.setSpacing(6)
        for i, view in enumerate(self.views):
            view.setMinimumHeight(140)
            grid.addWidget(view, i // 3, i % 3)
        grid.addWidget(self.summary, 1, 2)
        self.curves = {
            "infer_us": self.p_us.plot(pen=pg.mkPen(theme.SERIES[0], width=2)),
            "infer_ticks": self.p_ticks.plot(pen=pg.mkPen(theme.SERIES[2], width=2)),
            "latency_ms": self.p_latency.plot(pen=pg.mkPen(theme.SERIES[1], width=2)),
            "fps": self.p_fps.plot(pen=pg.mkPen(theme.SERIES[3], width=2)),
            "tx_kBps": self.p_link.plot(pen=pg.mkPen(theme.SERIES[4], width=2), name="to board"),
            "rx_kBps": self.p_link.plot(pen=pg.mkPen(theme.SERIES[5], width=2), name="from board"),
        }
        self.p_latency.setTitle("end-to-end latency (ms)")
        self.p_fps.setTitle("results per second")
        self.p_link.setTitle("link throughput (kB/s)")
        for plot in (self.p_us, self.p_ticks, self.p_latency, self.p_fps, self.p_link):
            plot.showGrid(x=True, y=True, alpha=0.15)
            plot.setLabel("bottom", "s")
            plot.setMouseEnabled(False, False)
            plot.enableAutoRange(y=True)
        self.history_spin = QtWidgets.QSpinBox()
        self.history_spin.setRange(30, 10000)
        self.history_spin.setSingleStep(50)
        self.history_spin.setValue(history)
        self.history_spin.setSuffix(" points")
        self.history_spin.valueChanged.connect(self._on_history_edited)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(grid)
        self.set_timing_source(TimingSource.HOST_CLOCK)

    def set_timing_source(self, source: TimingSource) -> None:
        """Label the device-time plots by what a tick is (never call host or QEMU figures MCU cycles)."""
        self.timing_source = TimingSource(source)
        label = self.timing_source.label
        self.p_us.setTitle(f"on-device inference (µs, {label})")
        self.p_ticks.setTitle(f"inference in {self.timing_source.tick_unit} ({label})")

    def set_history(self, length: int) -> None:
        """Keep the last `length` points of every series (model → view)."""
        self.history = length
        for series in self.data.values():
            series.resize(length)
        if self.history_spin.value() != length:
            self.history_spin.blockSignals(True)
            self.history_spin.setValue(length)
            self.history_spin.blockSignals(False)

    def _on_history_edited(self, value: int) -> None:
        self.set_history(value)
        self.history_changed.emit(value)

    def _t(self, t: float) -> float:
        if self.t0 is None:
            self.t0 = t
        return t - self.t0

    def add_record(self, record: ResultRecord) -> None:
        """Append a result's device time and latency."""
        if not record.ok:
            return
        if record.timing_source != self.timing_source:
            self.set_timing_source(record.timing_source)
        t = self._t(record.timestamp)
        self.data["infer_us"].add(t, record.timings_us.get("t_infer", math.nan))
        self.data["infer_ticks"].add(t, float(record.ticks.get("t_infer", math.nan)))
        self.data["latency_ms"].add(t, record.latency_s * 1e3)

    def add_link_stats(self, now: float, stats: SessionStats) -> None:
        """Append link figures sampled at `now`."""
        t = self._t(now)
        self.data["fps"].add(t, stats.fps)
        self.data["tx_kBps"].add(t, stats.tx_bytes_per_s / 1e3)
        self.data["rx_kBps"].add(t, stats.rx_bytes_per_s / 1e3)

    PLOT_SERIES = (("infer_us",), ("infer_ticks",), ("latency_ms",), ("fps",), ("tx_kBps", "rx_kBps"))

    def redraw(self, part: int | None = None) -> None:
        """Push the histories into the curves: all plots, or only plot number `part` (0..4).

        The display timer redraws one plot per tick in turn, so the cost of
        repainting axes is spread over ticks instead of stalling one of them.
        """
        parts = range(len(self.PLOT_SERIES)) if part is None else (part % len(self.PLOT_SERIES),)
        for index in parts:
            for name in self.PLOT_SERIES[index]:
                series = self.data[name]
                self.curves[name].setData(np.fromiter(series.t, float, len(series.t)),
                                          np.fromiter(series.v, float, len(series.v)))
        if part is not None and part % len(self.PLOT_SERIES) != 0:
            return
        us = self.data["infer_us"].v
        lat = self.data["latency_ms"].v
        if us:
            arr = np.fromiter(us, float)
            self.summary.setText(
                f"inference p50 <b>{np.median(arr):.1f} µs</b> ({self.timing_source.label})<br>"
                f"latency p50 <b>{np.median(np.fromiter(lat, float)):.1f} ms</b><br>"
                f"history {self.history} points")


class QtDevicePanel(QtWidgets.QWidget):
    """Board facts, the model switcher and the connection state with a reconnect button."""

    model_selected = QtCore.Signal(int)
    reconnect_requested = QtCore.Signal()

    FIELDS = ("board", "firmware", "cpu", "timing", "link", "model", "input", "macc", "flash", "ram")

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.state_label = QtWidgets.QLabel("disconnected")
        self.state_label.setObjectName("state")
        self.state_detail = QtWidgets.QLabel("")
        self.state_detail.setWordWrap(True)
        self.state_detail.setObjectName("key")
        self.reconnect_button = QtWidgets.QPushButton("Reconnect")
        self.reconnect_button.clicked.connect(self._on_reconnect_clicked)
        self.model_combo = QtWidgets.QComboBox()
        self.model_combo.activated.connect(self._on_model_activated)
        self.values: dict[str, QtWidgets.QLabel] = {}
        form = QtWidgets.QFormLayout()
        form.setLabelAlignment(QtCore.Qt.AlignRight)
        for key in self.FIELDS:
            value = QtWidgets.QLabel("—")
            value.setTextInteractionFlags(QtCore.Qt.TextSelectableByMouse)
            key_label = QtWidgets.QLabel(key)
            key_label.setObjectName("key")
            form.addRow(key_label, value)
            self.values[key] = value
        state_row = QtWidgets.QHBoxLayout()
        state_row.addWidget(self.state_label, 1)
        state_row.addWidget(self.reconnect_button)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(state_row)
        layout.addWidget(self.state_detail)
        layout.addWidget(QtWidgets.QLabel("model"))
        layout.addWidget(self.model_combo)
        layout.addLayout(form)
        layout.addStretch(1)
        self.info: Info | None = None
        self.set_state(LinkState.DISCONNECTED, "")

    def set_state(self, state: LinkState, detail: str) -> None:
        """Show the link state (connecting / connected / reconnecting / failed)."""
        colour = theme.STATE_COLOURS.get(state.value, theme.TEXT)
        self.state_label.setText(f"● {state.value}")
        self.state_label.setStyleSheet(f"color: {colour};")
        self.state_detail.setText(detail)
        self.reconnect_button.setEnabled(state in (LinkState.FAILED, LinkState.RECONNECTING, LinkState.CONNECTED))

    def set_info(self, info: Info, url: str = "") -> None:
        """Show a board's INFO and list its models."""
        self.info = info
        cpu = f"{info.cpu_hz / 1e6:.0f} MHz" if info.cpu_hz else "n/a (virtual board)"
        source = TimingSource(info.timing_source)
        self.values["board"].setText(info.board)
        self.values["firmware"].setText(info.firmware)
        self.values["cpu"].setText(cpu)
        self.values["timing"].setText(f"{source.label} — {source.tick_unit} at {_si(info.tick_hz, 'Hz')}")
        self.values["link"].setText(f"{url}  credit {info.rx_credit}, max payload {info.max_payload} B")
        self.model_combo.blockSignals(True)
        self.model_combo.clear()
        for model in info.models:
            self.model_combo.addItem(f"{model.name}  ({InputKind(model.input_kind).name.lower()})")
        self.model_combo.blockSignals(False)
        self.set_active_model(info.active_model)

    def set_active_model(self, index: int) -> None:
        """Show model `index` as the active one (model → view); emits nothing."""
        if self.info is None or not 0 <= index < len(self.info.models):
            return
        model = self.info.models[index]
        if self.model_combo.currentIndex() != index:
            self.model_combo.blockSignals(True)
            self.model_combo.setCurrentIndex(index)
            self.model_combo.blockSignals(False)
        self.values["model"].setText(f"{model.name}  [{model.hash[:4].hex()}]")
        dims = "×".join(str(d) for d in model.input.dims)
        self.values["input"].setText(f"{InputKind(model.input_kind).name.lower()} {dims} "
                                     f"{model.input.dtype.name.lower()}")
        self.values["macc"].setText(_si(model.macc, "MACC"))
        self.values["flash"].setText(_si(model.flash_bytes, "B"))
        self.values["ram"].setText(_si(model.ram_bytes, "B"))

    def _on_model_activated(self, index: int) -> None:
        self.model_selected.emit(index)

    def _on_reconnect_clicked(self) -> None:
        self.reconnect_requested.emit()


def colour_for(confidence: float) -> str:
    """Verdict colour of a confidence: green when sure, amber when unsure, red when guessing."""
    if math.isnan(confidence):
        return theme.TEXT
    return theme.GOOD if confidence >= 0.8 else theme.WARN if confidence >= 0.5 else theme.BAD


def screenshot(widget: QtWidgets.QWidget, path: str) -> bool:
    """Save a grab of `widget` as an image; True on success."""
    pixmap: QtGui.QPixmap = widget.grab()
    return pixmap.save(path)
