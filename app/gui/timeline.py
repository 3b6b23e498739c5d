"""The prediction timeline: class probabilities over time, the decided class, and right/wrong against the truth.

Each result adds a point per class (its probability) and a decision: the
class the model's decision rule (`edgeloop.models.decision`, from its
meta.json; each window on its own when it has none) shows after this result.
The decided class is drawn as a band of dots above the curves in its class's
colour (grey: uncertain). When the source knows the truth (synthetic scenes,
folder-per-class images, replayed sessions) a mark below the curves says
whether the decision was right (green) or wrong (red), and the title keeps a
running accuracy since the model or source last changed.

The x axis is seconds back from the newest result (0 = now), like the timing
plots. Like them it redraws at most PLOT_HZ times a second, from fixed rings.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from edgeloop.app.gui import theme
from edgeloop.app.gui.widgets import stable_range
from edgeloop.app.live.pipeline import ResultRecord
from edgeloop.models.decision import UNCERTAIN, Decider, DecisionRule, class_name

DECIDED_Y = 1.08  # where the decided-class band sits (probabilities are 0..1)
TRUTH_Y = -0.08  # where the right/wrong marks sit
BAND_HEIGHT = 0.06  # height of the decided-class band and of the right/wrong marks (probability units)
TITLE_S = 1.0  # the title (rule, running accuracy) is re-rendered at most this often


class QtPredictionTimeline(QtWidgets.QWidget):
    """Probabilities per class over time, the decided class, and right/wrong marks with a running accuracy."""

    def __init__(self, history: int = 300, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.history = history
        self.view = pg.PlotWidget()
        self.view.setMinimumHeight(100)
        self.plot = self.view.getPlotItem()
        self.plot.setMouseEnabled(False, False)
        self.plot.hideButtons()
        self.plot.disableAutoRange()  # ranges are set in redraw(), only when the data leave them
        self.plot.setYRange(TRUTH_Y - 0.06, DECIDED_Y + 0.06, padding=0)
        for name in ("left", "bottom"):
            self.plot.getAxis(name).setCacheMode(QtWidgets.QGraphicsItem.DeviceCoordinateCache)
        self.plot.getAxis("left").setWidth(48)
        self.plot.getAxis("left").setTicks([[(0.0, "0"), (1.0, "1")]])  # probability; legible when short
        self.plot.setLabel("bottom", "s (0 = newest)")
        # Decisions and right/wrong marks are two one-row images stretched over the time axis, a pixel
        # column per result: one scaled blit each, where symbols or thick strokes cost milliseconds.
        self.decided_band = pg.ImageItem()
        self.truth_band = pg.ImageItem()
        for band in (self.decided_band, self.truth_band):
            self.plot.addItem(band)
        self._palette = np.zeros((0, 4), np.uint8)
        self.curves: list[pg.PlotDataItem] = []
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view)
        self.labels: tuple[str, ...] = ()
        self.rule = DecisionRule()
        self._decider: Decider | None = None
        self._t = np.zeros(0)
        self._probs = np.zeros((0, 0))
        self._decided = np.zeros(0, np.int64)
        self._right = np.zeros(0, np.int8)  # 1 right, 0 wrong, -1 no truth
        self._dirty = False
        self._confidence = math.nan
        self._x_range: tuple[float, float] | None = None
        self._titled_at = -math.inf
        self.right = 0
        self.judged = 0
        self._set_title()

    def set_model(self, labels: tuple[str, ...], rule: DecisionRule) -> None:
        """Start over for a model (its classes and decision rule): the old curves and accuracy go."""
        self.labels, self.rule = tuple(labels), rule
        self._decider = Decider(rule, len(labels)) if len(labels) >= 2 else None
        for item in self.curves:
            self.plot.removeItem(item)
        colours = [theme.SERIES[i % len(theme.SERIES)] for i in range(len(labels))]
        self.curves = [self.plot.plot(pen=pg.mkPen(colour, width=1)) for colour in colours]  # 1 px: cheap to stroke
        # Row i: colour of class i; the last row: uncertain (index -1).
        self._palette = np.array([_rgba(c) for c in (*colours, theme.MUTED)], np.uint8)
        self.reset()

    def reset(self) -> None:
        """Forget the points, the decisions and the accuracy (a new source or model)."""
        n = max(1, len(self.labels))
        self._t = np.zeros(0)
        self._probs = np.zeros((0, n))
        self._decided = np.zeros(0, np.int64)
        self._right = np.zeros(0, np.int8)
        self.right = self.judged = 0
        self._titled_at = -math.inf
        if self._decider is not None:
            self._decider.reset()
        self._dirty = True
        self._set_title()

    def add_record(self, record: ResultRecord) -> None:
        """Decide on one result and keep it (results of a regression or of another model are not timeline points)."""
        if not record.ok or self._decider is None or tuple(record.labels) != self.labels:
            return
        decision = self._decider.update(record.probabilities)
        self._confidence = decision.confidence
        truth = record.meta.get("label")
        judged = -1
        if truth in self.labels:
            judged = int(decision.cls == self.labels.index(truth))
            self.judged += 1
            self.right += judged
        keep = self.history - 1
        self._t = np.append(self._t[-keep:], record.timestamp)
        self._probs = np.vstack([self._probs[-keep:], np.asarray(record.probabilities, float)[None, :]])
        self._decided = np.append(self._decided[-keep:], decision.cls)
        self._right = np.append(self._right[-keep:], judged)
        self._dirty = True

    @property
    def decided_label(self) -> str:
        """The class shown now ("uncertain" when the rule says so; "" before the first result)."""
        return class_name(self.labels, int(self._decided[-1])) if len(self._decided) else ""

    @property
    def decision(self) -> tuple[str, float] | None:
        """(decided label, its aggregated confidence) after the newest result, or None before any."""
        if not len(self._decided):
            return None
        return class_name(self.labels, int(self._decided[-1])), self._confidence

    @property
    def accuracy(self) -> float:
        """Share of decisions that matched the source's ground truth (NaN while none could be judged)."""
        return self.right / self.judged if self.judged else math.nan

    def set_history(self, length: int) -> None:
        """Keep the last `length` results."""
        self.history = length

    def redraw(self) -> bool:
        """Push new points to the plot; False when nothing changed."""
        if not self._dirty:
            return False
        self._dirty = False
        now = time.monotonic()
        if now - self._titled_at >= TITLE_S:  # the running accuracy: once a second is plenty to read
            self._titled_at = now
            self._set_title()
        x = self._t - self._t[-1] if len(self._t) else self._t
        for i, curve in enumerate(self.curves):
            curve.setData(x, self._probs[:, i], skipFiniteCheck=True)
        if len(x):
            # One column per result from the oldest to the newest (results come about evenly spaced).
            step = float(-x[0]) / (len(x) - 1) if len(x) > 1 and x[0] < 0 else 0.1
            left, width = float(x[0]) - step / 2, step * len(x)
            decided = self._palette[self._decided][None, :, :]  # -1 (uncertain) picks the last row
            truth = TRUTH_COLOURS[self._right + 1][None, :, :]
            for band, image, y in ((self.decided_band, decided, DECIDED_Y), (self.truth_band, truth, TRUTH_Y)):
                band.setImage(image, autoLevels=False)
                band.setRect(QtCore.QRectF(left, y - BAND_HEIGHT / 2, width, BAND_HEIGHT))
        else:
            for band in (self.decided_band, self.truth_band):
                band.clear()
        # Round x ranges that change only when the data leave them: an axis redraw is the costly part.
        x_range = stable_range(self._x_range, float(x[0]) if len(x) else -1.0, 0.0)
        x_range = (x_range[0], 0.0)
        if x_range != self._x_range:
            self._x_range = x_range
            self.plot.setXRange(*x_range, padding=0)
        return True

    def _set_title(self) -> None:
        key = " ".join(f"<span style='color:{theme.SERIES[i % len(theme.SERIES)]}'>{name.replace('_', ' ')}</span>"
                       for i, name in enumerate(self.labels))
        accuracy = (f" · decided right {self.right}/{self.judged} ({100 * self.accuracy:.0f} %)"
                    if self.judged else "")
        if not self.labels:
            self.plot.setTitle("predictions: waiting for results", size="10pt")
            return
        rule = self.rule.describe() if len(self.labels) >= 2 else "no classes to decide (a regression output)"
        self.plot.setTitle(f"predictions {key} · decided: {rule}{accuracy}", size="10pt")


def _rgba(colour: str) -> tuple[int, int, int, int]:
    """'#rrggbb' as an opaque RGBA tuple."""
    value = colour.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16), 255


TRUTH_COLOURS = np.array([(0, 0, 0, 0), _rgba(theme.BAD), _rgba(theme.GOOD)], np.uint8)
