"""The demonstrator's widgets: IMU traces, class banner and bars, timing plots, device panel.

The live video view has its own module (`edgeloop.app.gui.video_view`).

Each widget is a view with `set_*` methods (model → view) and Qt signals for
what the user changes (view → model): `QtVideoView.roi_changed` (in video_view),
`QtTimingPlots.history_changed`, `QtDevicePanel.model_selected` and
`QtDevicePanel.reconnect_requested`. Widgets hold no link or pipeline state.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from edgeloop.app.gui import theme
from edgeloop.app.live import model_facts, timing
from edgeloop.app.live.pipeline import ResultRecord
from edgeloop.app.link.session import LinkState, SessionStats
from edgeloop.app.live.sources.base import IMU_CHANNELS
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
    """The current class in large type, with its confidence and the model's verdict colour.

    It paints both texts itself, opaque, rather than holding two labels: a
    label whose text or colour changes re-lays out and re-styles the window
    around it and repaints the widgets behind it, 30 times a second. Here a
    new result repaints the banner's own rectangle and nothing else.
    """

    MARGIN = 4  # pixels left and right of the texts, and between them
    WIDEST_CONFIDENCE = "100 % confidence"  # the confidence column is always this wide (or its text's width)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAttribute(QtCore.Qt.WA_OpaquePaintEvent)
        self.setSizePolicy(QtWidgets.QSizePolicy.Preferred, QtWidgets.QSizePolicy.Fixed)
        self.text = "—"
        self.colour = theme.TEXT
        self.confidence_text = "waiting for results"
        self._class_font = QtGui.QFont(self.font())
        self._class_font.setPixelSize(theme.BANNER_PX)
        self._class_font.setBold(True)
        self._confidence_font = QtGui.QFont(self.font())
        self._confidence_font.setPixelSize(theme.BANNER_PX // 2)
        self._muted = QtGui.QColor(theme.MUTED)
        # The fonts never change: measure once, not in every paint.
        self._class_metrics = QtGui.QFontMetrics(self._class_font)
        self._confidence_metrics = QtGui.QFontMetrics(self._confidence_font)
        self._widest_confidence = self._confidence_metrics.horizontalAdvance(self.WIDEST_CONFIDENCE)

    def sizeHint(self) -> QtCore.QSize:  # noqa: N802 - Qt naming
        """As tall as the class text; as wide as a short class name and the confidence column."""
        metrics = self._class_metrics
        return QtCore.QSize(self._confidence_width() + 12 * metrics.averageCharWidth(),
                            metrics.height() + 2 * self.MARGIN)

    def minimumSizeHint(self) -> QtCore.QSize:  # noqa: N802 - Qt naming
        return QtCore.QSize(self._confidence_width() + 3 * self.MARGIN, self.sizeHint().height())

    def set_result(self, label: str, confidence: float) -> None:
        """Show a classification (confidence NaN for regression values)."""
        self._show(label.replace("_", " "), colour_for(confidence),
                   "" if math.isnan(confidence) else f"{confidence * 100:.0f} % confidence")

    def set_message(self, text: str) -> None:
        """Show a status text instead of a class (no board, paused ...)."""
        self._show(text, theme.MUTED, "")

    def class_rect(self) -> QtCore.QRect:
        """Where the class (or message) is drawn: all the width the confidence leaves."""
        confidence = self._confidence_width() + self.MARGIN if self.confidence_text else 0
        return QtCore.QRect(self.MARGIN, 0, max(1, self.width() - 2 * self.MARGIN - confidence), self.height())

    def confidence_rect(self) -> QtCore.QRect:
        """Where the confidence is drawn: the bottom right, one line high."""
        width, height = self._confidence_width(), self._confidence_metrics.height()
        return QtCore.QRect(self.width() - self.MARGIN - width, max(0, self.height() - height - self.MARGIN),
                            width, height)

    def paintEvent(self, event: QtGui.QPaintEvent) -> None:  # noqa: N802 - Qt naming
        paint_opaque_background(self, event)
        painter = QtGui.QPainter(self)
        painter.setFont(self._class_font)
        painter.setPen(QtGui.QColor(self.colour))
        rect = self.class_rect()
        text = self._class_metrics.elidedText(self.text, QtCore.Qt.ElideRight, rect.width())
        painter.drawText(rect, QtCore.Qt.AlignLeft | QtCore.Qt.AlignVCenter, text)
        if self.confidence_text:
            painter.setFont(self._confidence_font)
            painter.setPen(self._muted)
            painter.drawText(self.confidence_rect(), QtCore.Qt.AlignRight | QtCore.Qt.AlignBottom,
                             self.confidence_text)
        painter.end()

    def _confidence_width(self) -> int:
        return max(self._widest_confidence, self._confidence_metrics.horizontalAdvance(self.confidence_text))

    def _show(self, text: str, colour: str, confidence: str) -> None:
        if (text, colour, confidence) != (self.text, self.colour, self.confidence_text):
            self.text, self.colour, self.confidence_text = text, colour, confidence
            self.update()


def paint_opaque_background(widget: QtWidgets.QWidget, event: QtGui.QPaintEvent,
                            colour: QtGui.QColor | None = None) -> None:
    """Fill a WA_OpaquePaintEvent widget's dirty area: `colour`, or the window colour and its style sheet background."""
    painter = QtGui.QPainter(widget)
    painter.fillRect(event.rect(), colour if colour is not None else widget.palette().window())
    if colour is None:
        option = QtWidgets.QStyleOption()
        option.initFrom(widget)
        widget.style().drawPrimitive(QtWidgets.QStyle.PE_Widget, option, painter, widget)
    painter.end()


def repaint_now(*views: QtWidgets.QWidget) -> None:
    """Paint the window of some views now, with their pending changes, not a loop turn later.

    A graphics scene (the pyqtgraph views) reports item changes through a
    queued call, which marks the view dirty and queues the window's update
    request; a plain widget queues the request itself. Delivering them here
    paints every dirty widget of the window once, right now (QWidget.repaint()
    would paint a graphics view twice: once for itself and once for its dirty
    region).
    """
    for view in views:
        if isinstance(view, QtWidgets.QGraphicsView):
            QtCore.QCoreApplication.sendPostedEvents(view.scene(), QtCore.QEvent.MetaCall)
    if views:
        paint_dirty_now(views[0].window())


def paint_dirty_now(window: QtWidgets.QWidget) -> None:
    """Paint every widget of `window` that is waiting for a repaint, now (a no-op when none is)."""
    QtCore.QCoreApplication.sendPostedEvents(window, QtCore.QEvent.UpdateRequest)


class QtImuView(pg.GraphicsLayoutWidget):
    """The latest sensor window, 1 to 64 named channels.

    The classic six IMU channels keep two plots, accelerometer (g) and
    gyroscope (dps); any other channel set is drawn in one plot. The channel
    key (names in the curves' colours) is in the plot titles: a legend box
    would cover the traces.
    """

    MAX_CHANNELS = 64

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(320, 240)
        self.channels: tuple[str, ...] = ()
        self.plots: list[pg.PlotItem] = []
        self.curves: list[pg.PlotDataItem] = []
        self._layout_for(IMU_CHANNELS)

    @staticmethod
    def _key(names: Sequence[str], first: int) -> str:
        return " ".join(f"<span style='color:{theme.SERIES[(first + i) % len(theme.SERIES)]}'>{n}</span>"
                        for i, n in enumerate(names))

    def _layout_for(self, channels: tuple[str, ...]) -> None:
        """Rebuild plots and curves for a new channel set (only when the set changes)."""
        self.clear()
        self.channels = channels
        if channels == IMU_CHANNELS:
            groups = [("accelerometer (g)", 0, 3), ("gyroscope (dps)", 3, 6)]
        else:
            groups = [(f"{len(channels)} channel{'s' if len(channels) != 1 else ''}", 0, len(channels))]
        self.plots, self.curves = [], []
        for row, (title, start, stop) in enumerate(groups):
            if row:
                self.nextRow()
            # The classic six reuse colours per plot (x, y, z alike); one plot gives every channel its own.
            first = 0 if channels == IMU_CHANNELS else start
            plot = self.addPlot(title=f"{title} {self._key(channels[start:stop], first)}")
            self.plots.append(plot)
            for i, name in enumerate(channels[start:stop]):
                colour = theme.SERIES[(first + i) % len(theme.SERIES)]
                self.curves.append(plot.plot(pen=pg.mkPen(colour, width=2), name=name))

    def set_samples(self, samples: np.ndarray, rate_hz: float = 0.0, channels: Sequence[str] | None = None) -> None:
        """Plot a window×N block (x in seconds when the rate is known, else sample index).

        `channels` names the N columns; without names, six columns are the
        classic IMU channels and any other count is named ch0, ch1, ...
        """
        samples = np.asarray(samples)
        if samples.ndim == 1:
            samples = samples[:, None]
        count = samples.shape[1]
        if not 1 <= count <= self.MAX_CHANNELS:
            raise ValueError(f"a sensor window has 1 to {self.MAX_CHANNELS} channels, this one {count}")
        if channels is None or len(channels) != count:
            channels = IMU_CHANNELS if count == len(IMU_CHANNELS) else tuple(f"ch{i}" for i in range(count))
        if tuple(channels) != self.channels:
            self._layout_for(tuple(channels))
        x = np.arange(len(samples)) / rate_hz if rate_hz else np.arange(len(samples))
        for i, curve in enumerate(self.curves):
            curve.setData(x, samples[:, i])


class QtProbabilityBars(QtWidgets.QWidget):
    """Horizontal class-probability bars with names and percentages, the winning class highlighted.

    Painted directly with QPainter (a handful of rectangles and texts): at 30
    results/s a plot widget's scene graph cost more than everything else the
    window repaints for a result.
    """

    ROW_HEIGHT = 26  # pixels per class, bar and name

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumWidth(260)
        self.setMinimumHeight(5 * self.ROW_HEIGHT)
        # Opaque (it fills its own background, the panel's colour): a new result repaints the bars
        # alone, not the group box, scroll area and splitter behind them.
        self.setAttribute(QtCore.Qt.WA_OpaquePaintEvent)
        self._background = QtGui.QColor(theme.PANEL)
        self.labels: tuple[str, ...] = ()
        self.values = np.zeros(0)
        self._bar = QtGui.QColor("#3b4452")
        self._best = QtGui.QColor(theme.ACCENT)
        self._text = QtGui.QColor(theme.TEXT)

    @property
    def best(self) -> int:
        """Index of the highlighted (most probable) class, -1 before the first result."""
        return int(np.argmax(self.values)) if len(self.values) else -1

    def set_probabilities(self, labels: Sequence[str], probabilities: Sequence[float]) -> None:
        """Draw one bar per class (values clipped to 0..1)."""
        values = np.clip(np.asarray(probabilities, dtype=float), 0, 1)
        labels = tuple(labels) or tuple(f"class {i}" for i in range(len(values)))
        if labels == self.labels and values.shape == self.values.shape and np.allclose(values, self.values,
                                                                                       atol=0.002):
            return  # nothing visible would change: skip the repaint
        if len(labels) != len(self.labels):
            self.setMinimumHeight(max(1, len(labels)) * self.ROW_HEIGHT)
        self.labels, self.values = labels, values
        self.update()

    def paintEvent(self, event: QtGui.QPaintEvent) -> None:  # noqa: N802 - Qt naming
        paint_opaque_background(self, event, self._background)
        if not len(self.values):
            return
        painter = QtGui.QPainter(self)
        rows = len(self.values)
        row_h = self.height() / rows
        name_w = min(110, self.width() // 3)
        bar_w = max(1, self.width() - name_w - 52)
        best = self.best
        for i, (name, value) in enumerate(zip(self.labels, self.values)):
            top = int(i * row_h)
            bar_h = max(2, int(row_h * 0.7))
            y = top + (int(row_h) - bar_h) // 2
            painter.setPen(self._text)
            painter.drawText(QtCore.QRect(0, top, name_w - 6, int(row_h)), QtCore.Qt.AlignRight | QtCore.Qt.AlignVCenter,
                             name.replace("_", " "))
            painter.fillRect(name_w, y, max(1, int(bar_w * value)), bar_h, self._best if i == best else self._bar)
            painter.drawText(QtCore.QRect(name_w + int(bar_w * value) + 4, top, 48, int(row_h)),
                             QtCore.Qt.AlignLeft | QtCore.Qt.AlignVCenter, f"{value * 100:.0f}%")
        painter.end()


class _Ring:
    """The last `length` (t, value) points of one plotted series, in fixed numpy storage.

    Each point is written twice, `length` apart, so the newest `length`
    points are always one contiguous slice: `t` and `v` are views, never
    copies, and adding a point allocates nothing. A gap (`add_gap`) is stored
    as a NaN point, which the curve draws as a break in the line.
    """

    def __init__(self, length: int) -> None:
        self._length = length
        self._store = np.zeros((2, 2 * length))  # rows: t, v
        self._next = 0  # where the next point goes, 0 <= _next < length
        self._count = 0
        self._gaps = 0  # NaN gap points among the kept ones
        self.version = 0  # bumped by every add: lets a plot skip redraws when nothing changed

    @property
    def t(self) -> np.ndarray:
        """Times of the kept points, oldest first (a view)."""
        return self._store[0, self._next + self._length - self._count:self._next + self._length]

    @property
    def v(self) -> np.ndarray:
        """Values of the kept points, oldest first (a view; NaN marks a gap)."""
        return self._store[1, self._next + self._length - self._count:self._next + self._length]

    @property
    def has_gaps(self) -> bool:
        """True when a kept point is a gap marker (NaN)."""
        return self._gaps > 0

    def __len__(self) -> int:
        return self._count

    def resize(self, length: int) -> None:
        """Keep the newest `length` points from now on."""
        t, v, version = self.t[-length:].copy(), self.v[-length:].copy(), self.version
        self.__init__(length)
        for time_, value in zip(t, v):
            self.add_gap(time_) if math.isnan(value) else self.add(time_, value)
        self.version = version + 1  # never equal to a version a plot has already drawn

    def add(self, t: float, v: float) -> None:
        """Append a point (NaN and infinite values are not plotted and are skipped)."""
        if not math.isfinite(v):
            return
        self._put(t, v)

    def add_gap(self, t: float) -> None:
        """Break the line here (a pause, an outage): nothing is drawn across it."""
        if self._count and not math.isnan(self.v[-1]):
            self._put(t, math.nan)

    def _put(self, t: float, v: float) -> None:
        if self._count == self._length and math.isnan(self._store[1, self._next]):
            self._gaps -= 1  # the oldest point, about to be overwritten, was a gap
        self._store[:, self._next] = self._store[:, self._next + self._length] = (t, v)
        self._next = (self._next + 1) % self._length
        self._count = min(self._count + 1, self._length)
        self._gaps += math.isnan(v)
        self.version += 1


def _nice_ceil(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 × 10^k that is >= value (> 0)."""
    exponent = math.floor(math.log10(value))
    for step in (1.0, 2.0, 2.5, 5.0, 10.0):
        if step * 10.0 ** exponent >= value * (1 - 1e-9):
            return step * 10.0 ** exponent
    return 10.0 ** (exponent + 1)


def stable_range(current: tuple[float, float] | None, low: float, high: float) -> tuple[float, float]:
    """An axis range holding [low, high] with round ends, kept while it still fits well.

    A plot whose range changes has to redraw its axes, ticks and grid; a
    range that changes only when the data leave it (or shrink to under a third
    of it) keeps a redraw down to the curve.
    """
    if current is not None:
        c_low, c_high = current
        span = c_high - c_low
        if c_low <= low and high <= c_high and (high - low) * 3 >= span:
            return current
    margin = max(high - low, abs(high), abs(low)) * 0.1 or 1.0  # all zeros: show 0..1, not 0..1e-9
    step = _nice_ceil(high - low + 2 * margin) / 5
    new_low = math.floor((low - margin) / step) * step
    if low >= 0 and new_low < 0:
        new_low = 0.0  # times, rates and sizes are never negative: keep zero as the floor
    return new_low, math.ceil((high + margin) / step) * step


TITLE_SIZE = "10pt"  # plot titles: short enough to fit a plot 200 px wide (a 1280×720 screen)
GAP_FACTOR = 5.0  # results further apart than this many typical intervals (and over GAP_MIN_S) are a gap
GAP_MIN_S = 1.0


class QtTimingPlots(QtWidgets.QWidget):
    """On-device time (µs, and the device's own count when it is one), end-to-end latency, fps, link throughput.

    Histories are fixed-size rings; the x axis counts seconds back from the
    newest point of all plots (0 = now), the same range on every plot, so
    axes stay put while the curves scroll and a moment lines up across plots.
    Each axis is cached as a pixmap and ranges change only when the data
    leave them: a redraw usually repaints just the curve.

    Outages are gaps, not lines: `mark_gap()` (pause, validation,
    reconnect, source switch) and a silence much longer than the usual
    interval break the lines; a result whose capture was taken before the
    last gap waited out the pause, so its latency is not plotted.

    The second plot shows what the board's ticks count when that is more
    than a clock: emulated instructions on QEMU (ticks × instr_per_tick),
    CPU cycles measured by DWT. A host board's ticks are host nanoseconds,
    the µs plot already shows them, and the plot is hidden.
    """

    history_changed = QtCore.Signal(int)

    SERIES = ("infer_us", "device_count", "latency_ms", "fps", "tx_kBps", "rx_kBps")
    PLOT_SERIES = (("infer_us",), ("device_count",), ("latency_ms",), ("fps",), ("tx_kBps", "rx_kBps"))
    RECORD_SERIES = ("infer_us", "device_count", "latency_ms")

    def __init__(self, history: int = 300, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.history = history
        self.t0: float | None = None
        self.data = {name: _Ring(history) for name in self.SERIES}
        self.timing_source = TimingSource.HOST_CLOCK
        self._break_at = -math.inf  # captures before this (monotonic s) waited out a pause or an outage
        self._gap_pending = False
        self._last_result_t: float | None = None
        self._interval = 0.0  # typical time between results (moving average)
        # One view per plot: a change repaints only its own plot, not the whole panel.
        self.views = [pg.PlotWidget() for _ in range(5)]
        self.p_us, self.p_count, self.p_latency, self.p_fps, self.p_link = (v.getPlotItem() for v in self.views)
        self.summary = QtWidgets.QLabel("")
        self.summary.setObjectName("key")
        self.summary.setWordWrap(True)
        self.summary.setMinimumWidth(120)
        self.summary.setAlignment(QtCore.Qt.AlignLeft | QtCore.Qt.AlignVCenter)
        self._grid = QtWidgets.QGridLayout()
        self._grid.setSpacing(6)
        for view in self.views:
            view.setMinimumHeight(115)
        self.curves = {
            "infer_us": self.p_us.plot(pen=pg.mkPen(theme.SERIES[0], width=2)),
            "device_count": self.p_count.plot(pen=pg.mkPen(theme.SERIES[2], width=2)),
            "latency_ms": self.p_latency.plot(pen=pg.mkPen(theme.SERIES[1], width=2)),
            "fps": self.p_fps.plot(pen=pg.mkPen(theme.SERIES[3], width=2)),
            "tx_kBps": self.p_link.plot(pen=pg.mkPen(theme.SERIES[4], width=2)),
            "rx_kBps": self.p_link.plot(pen=pg.mkPen(theme.SERIES[5], width=2)),
        }
        self.p_latency.setTitle("end-to-end latency ms", size=TITLE_SIZE)
        self.p_fps.setTitle("results/s", size=TITLE_SIZE)
        # The key is in the title, in the curves' colours: a legend box would cover the traces.
        self.p_link.setTitle(f"link kB/s <span style='color:{theme.SERIES[4]}'>to</span> / "
                             f"<span style='color:{theme.SERIES[5]}'>from</span> board", size=TITLE_SIZE)
        self._plots = (self.p_us, self.p_count, self.p_latency, self.p_fps, self.p_link)
        self._ranges: list[tuple[tuple[float, float] | None, tuple[float, float] | None]] = [(None, None)] * 5
        self._x_range: tuple[float, float] | None = None  # one x range, shared by every plot
        self._drawn = [0] * 5  # data version each plot shows (0: none yet, like an empty ring)
        for plot in self._plots:
            plot.showGrid(x=True, y=True, alpha=0.15)
            plot.setLabel("bottom", "s (0 = newest)")
            plot.setMouseEnabled(False, False)
            plot.hideButtons()
            plot.disableAutoRange()  # ranges are set by redraw(), only when the data leave them
            for name in ("left", "bottom"):
                plot.getAxis(name).setCacheMode(QtWidgets.QGraphicsItem.DeviceCoordinateCache)
            plot.getAxis("left").setWidth(48)  # the same axis width everywhere: the x ranges line up
        self.history_spin = QtWidgets.QSpinBox()
        self.history_spin.setRange(30, 10000)
        self.history_spin.setSingleStep(50)
        self.history_spin.setValue(history)
        self.history_spin.setSuffix(" points")
        self.history_spin.valueChanged.connect(self._on_history_edited)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(self._grid)
        self.set_timing_source(TimingSource.HOST_CLOCK)

    @property
    def count_plot_shown(self) -> bool:
        """True when the device-count plot (emulated instructions, CPU cycles) is part of the panel."""
        return self.timing_source != TimingSource.HOST_CLOCK

    def set_timing_source(self, source: TimingSource) -> None:
        """Label the device-time plots by what a tick is (never call host or QEMU figures MCU cycles)."""
        self.timing_source = TimingSource(source)
        label = self.timing_source.label
        self.p_us.setTitle(f"inference µs ({label})", size=TITLE_SIZE)
        if self.timing_source == TimingSource.QEMU_ICOUNT:
            self.p_count.setTitle("emulated instructions (emulated)", size=TITLE_SIZE)
        else:
            self.p_count.setTitle(f"{timing.tick_unit(self.timing_source)} ({label})", size=TITLE_SIZE)
        self._place_views()

    def _place_views(self) -> None:
        """Lay the shown plots out in one row, the summary last: the live view keeps the height."""
        for view in self.views:
            self._grid.removeWidget(view)
        self._grid.removeWidget(self.summary)
        shown = [v for i, v in enumerate(self.views) if i != 1 or self.count_plot_shown]
        self.views[1].setVisible(self.count_plot_shown)
        for column, widget in enumerate([*shown, self.summary]):
            self._grid.addWidget(widget, 0, column)
            self._grid.setColumnStretch(column, 0 if widget is self.summary else 1)

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

    def mark_gap(self, at: float | None = None) -> None:
        """Break the result lines before the next result (a pause, validation, reconnect, new source).

        With `at` (monotonic s, the moment the stream was held), results
        captured before it do not plot a latency: they waited out the outage.
        """
        if at is not None:
            self._break_at = max(self._break_at, at)
        self._gap_pending = True

    def add_record(self, record: ResultRecord) -> None:
        """Append a result's device time and latency (with a gap before it after an outage)."""
        if not record.ok:
            return
        if record.timing_source != self.timing_source:
            self.set_timing_source(record.timing_source)
        t = self._t(record.timestamp)
        previous, self._last_result_t = self._last_result_t, t
        if previous is not None:
            step = t - previous
            if step > max(GAP_MIN_S, GAP_FACTOR * self._interval) and self._interval > 0:
                self._gap_pending = True  # a silence: the source or the link stalled
            elif step >= 0:
                self._interval = step if self._interval == 0 else 0.9 * self._interval + 0.1 * step
        if self._gap_pending:
            self._gap_pending = False
            gap_t = (previous + t) / 2 if previous is not None and previous < t else t
            for name in self.RECORD_SERIES:
                self.data[name].add_gap(gap_t)
        self.data["infer_us"].add(t, record.timings_us.get("t_infer", math.nan))
        if self.timing_source == TimingSource.QEMU_ICOUNT:
            self.data["device_count"].add(t, record.emulated_instructions)
        elif self.count_plot_shown:
            self.data["device_count"].add(t, float(record.ticks.get("t_infer", math.nan)))
        if record.timestamp >= self._break_at:
            self.data["latency_ms"].add(t, record.latency_s * 1e3)

    def add_link_stats(self, now: float, stats: SessionStats) -> None:
        """Append link figures sampled at `now`."""
        t = self._t(now)
        self.data["fps"].add(t, stats.fps)
        self.data["tx_kBps"].add(t, stats.tx_bytes_per_s / 1e3)
        self.data["rx_kBps"].add(t, stats.rx_bytes_per_s / 1e3)

    def stale(self, part: int) -> bool:
        """True when plot number `part` (0..4) has points it does not show yet."""
        return self._drawn[part] != self._version(part)

    def _version(self, part: int) -> int:
        return sum(self.data[name].version for name in self.PLOT_SERIES[part])

    def _time_span(self) -> tuple[float, float]:
        """(oldest, newest) time over every series: one x range for all plots."""
        filled = [s for s in self.data.values() if len(s)]
        if not filled:
            return 0.0, 0.0
        return min(float(s.t[0]) for s in filled), max(float(s.t[-1]) for s in filled)

    def redraw(self, part: int | None = None) -> bool:
        """Push new points into the curves of all plots, or only of plot number `part` (0..4).

        Plots with nothing new are left alone. Returns True when a curve changed.
        """
        parts = range(len(self.PLOT_SERIES)) if part is None else (part % len(self.PLOT_SERIES),)
        changed = False
        oldest, newest = self._time_span()
        x_range = stable_range(self._x_range, -(newest - oldest), 0.0)
        self._x_range = (x_range[0], 0.0)  # the newest point sits on the right edge
        for index in parts:
            version = self._version(index)
            if version == self._drawn[index]:
                continue
            self._drawn[index] = version
            changed = True
            series = [self.data[name] for name in self.PLOT_SERIES[index]]
            for name, ring in zip(self.PLOT_SERIES[index], series):
                # Gaps are NaN points: only then must pyqtgraph look for them (connect="finite").
                self.curves[name].setData(ring.t - newest, ring.v, connect="finite",
                                          skipFiniteCheck=not ring.has_gaps)
            self._fit(index, series)
            if index == 0:
                self._update_summary()
        return changed

    def _fit(self, index: int, series: list[_Ring]) -> None:
        # Gap markers (NaN) and any non-finite figure (a rate over a zero interval) never set a range.
        values = [v[np.isfinite(v)] for v in (s.v for s in series if len(s))]
        values = [v for v in values if len(v)]
        if not values:
            return
        low = min(float(v.min()) for v in values)
        high = max(float(v.max()) for v in values)
        x_range, y_range = self._ranges[index]
        new_x = self._x_range
        new_y = stable_range(y_range, low, high)
        plot = self._plots[index]
        if new_x != x_range:
            plot.setXRange(*new_x, padding=0)
        if new_y != y_range:
            plot.setYRange(*new_y, padding=0)
        self._ranges[index] = (new_x, new_y)

    def _update_summary(self) -> None:
        us = self.data["infer_us"].v
        lat = self.data["latency_ms"].v
        us = us[~np.isnan(us)]
        lat = lat[~np.isnan(lat)]
        if not len(us):
            return
        text = (f"inference p50 <b>{np.median(us):.1f} µs</b> ({self.timing_source.label})<br>"
                f"latency p50 <b>{np.median(lat) if len(lat) else math.nan:.1f} ms</b><br>"
                f"history {self.history} points")
        if text != self.summary.text():
            self.summary.setText(text)


class QtDevicePanel(QtWidgets.QWidget):
    """Board facts, the model switcher and the connection state with a reconnect button."""

    model_selected = QtCore.Signal(int)  # the picked model's stable id (SPEC §9.4), not its row in the combo
    reconnect_requested = QtCore.Signal()
    per_layer_requested = QtCore.Signal()  # "Per layer…": profile the active model's steps on the board

    FIELDS = ("board", "firmware", "cpu", "timing", "link", "model", "input", "macc", "flash", "ram", "Cortex-M7")

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
        self.per_layer_button = QtWidgets.QPushButton("Per layer…")
        self.per_layer_button.setToolTip("time of each step of the active model on the board (one PROFILE)")
        self.per_layer_button.clicked.connect(self.per_layer_requested)
        self.values: dict[str, QtWidgets.QLabel] = {}
        form = QtWidgets.QFormLayout()
        form.setLabelAlignment(QtCore.Qt.AlignRight)
        for key in self.FIELDS:
            value = QtWidgets.QLabel("—")
            value.setWordWrap(True)  # a long URL or model name wraps; it never widens the side column
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
        layout.addWidget(self.per_layer_button)
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
        self.values["timing"].setText(f"{source.label} — {timing.describe_ticks(info)} at {_si(info.tick_hz, 'Hz')}")
        self.values["link"].setText(f"{url}  credit {info.rx_credit}, max payload {info.max_payload} B")
        self.model_combo.blockSignals(True)
        self.model_combo.clear()
        for model_id, model in zip(info.model_ids, info.models):
            uploaded = ", uploaded" if model.uploaded else ""  # runs from an upload slot (Deploy…)
            # The row is only where the model shows; its item data, the stable id, is what is sent.
            self.model_combo.addItem(f"{model.name}  ({InputKind(model.input_kind).name.lower()}{uploaded})",
                                     model_id)
        self.model_combo.blockSignals(False)
        self.set_active_model(info.active_model)

    @property
    def shown_model_id(self) -> int | None:
        """The stable id of the model the combo shows (None: no models)."""
        model_id = self.model_combo.currentData()
        return None if model_id is None else int(model_id)

    def set_active_model(self, model_id: int) -> None:
        """Show the model with stable id `model_id` as the active one (model → view); emits nothing."""
        model = self.info.model_by_id(model_id) if self.info is not None else None
        if model is None:
            return
        row = self.model_combo.findData(model_id)
        if self.model_combo.currentIndex() != row:
            self.model_combo.blockSignals(True)
            self.model_combo.setCurrentIndex(row)
            self.model_combo.blockSignals(False)
        self.values["model"].setText(f"{model.name}  [{model.hash[:4].hex()}]")
        dims = "×".join(str(d) for d in model.input.dims)
        self.values["input"].setText(f"{InputKind(model.input_kind).name.lower()} {dims} "
                                     f"{model.input.dtype.name.lower()}")
        self.values["macc"].setText(_si(model.macc, "MACC"))
        self.values["flash"].setText(_si(model.flash_bytes, "B"))
        self.values["ram"].setText(_si(model.ram_bytes, "B"))
        self.values["Cortex-M7"].setText(cortex_m7_text(self.info, model))
        self.values["Cortex-M7"].setToolTip(
            "Emulated instructions of one inference of this model on the real ARM image under QEMU (measured once, "
            "kept with the model), and the time that would take at the NUCLEO-H743ZI2's 480 MHz if every "
            "instruction took one cycle. A board that measures its own cycles (DWT) shows only those.")

    def _on_model_activated(self, row: int) -> None:
        self.model_selected.emit(int(self.model_combo.itemData(row)))

    def _on_reconnect_clicked(self) -> None:
        self.reconnect_requested.emit()


def cortex_m7_text(info: Info, model: object) -> str:
    """The Cortex-M7 figure of a virtual board's model: its emulated instruction count and the estimate."""
    if TimingSource(info.timing_source) in (TimingSource.DWT_CYCLES, TimingSource.SYSTICK):
        return "measured on this board: see the timings"
    count = model_facts.instruction_count(model)
    if count is None:
        return "no emulated count for this model (bench/cortex_m7_counts.py --write measures one)"
    return (f"{timing.format_count(count.instructions)} instr. (emulated) "
            f"{model_facts.estimate_text(count.instructions)}: estimate from emulated instructions, "
            f"assuming 1 instruction per cycle")


def colour_for(confidence: float) -> str:
    """Verdict colour of a confidence: green when sure, amber when unsure, red when guessing."""
    if math.isnan(confidence):
        return theme.TEXT
    return theme.GOOD if confidence >= 0.8 else theme.WARN if confidence >= 0.5 else theme.BAD


def grab_rgb(widget: QtWidgets.QWidget) -> np.ndarray:
    """The widget as it looks now, as an H×W×3 uint8 RGB array (a copy: Qt's buffer is not kept)."""
    image = widget.grab().toImage().convertToFormat(QtGui.QImage.Format_RGB888)
    height, width, row = image.height(), image.width(), image.bytesPerLine()
    rows = np.frombuffer(image.constBits(), np.uint8, height * row).reshape(height, row)
    return rows[:, :width * 3].reshape(height, width, 3).copy()


def screenshot(widget: QtWidgets.QWidget, path: str) -> bool:
    """Save a grab of `widget` as an image; True on success."""
    pixmap: QtGui.QPixmap = widget.grab()
    return pixmap.save(path)
