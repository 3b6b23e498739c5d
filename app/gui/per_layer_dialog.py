"""The active model's per-layer time on the board, as horizontal bars (one per compiled step).

The figures come from `edgeloop.app.validate.per_layer.profile_layers` (one
PROFILE and one INFER through the GUI's open session), run in a worker
thread so the window stays live. The model's .tflite is found by the
descriptor's hash (the zoo and any model folders); the input is the model's
zero point (an all-"zero" tensor), which every model accepts. Times are
labelled by the board's timing source (measured, emulated or host clock), as
everywhere in edgeloop.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets

from edgeloop import EdgeloopError
from edgeloop.app.gui import theme
from edgeloop.app.live.pipeline import model_descriptor


def find_active_tflite(model: Any, folders: Sequence[Path] = ()) -> Path:
    """The .tflite whose SHA-256 is the descriptor's hash, in `folders` then the zoo; a clear error when none."""
    from edgeloop.models.quantize import find_model_by_hash, zoo_dir

    searched = [Path(f) for f in folders if Path(f).is_dir()] + [zoo_dir()]
    path = find_model_by_hash(model.hash, searched)
    if path is None:
        raise EdgeloopError(f"no .tflite with model {model.name!r}'s hash ({bytes(model.hash).hex()[:12]}…) in "
                            f"{', '.join(str(f) for f in searched)}: put the model's .tflite in a model folder")
    return path


def zero_point_input(model: Any) -> bytes:
    """An input tensor whose every element is the input zero point (real value 0)."""
    import numpy as np

    dtype = np.dtype(model.input.dtype.name.lower())  # DType names are numpy's (int8, uint8, ..., float32)
    return np.full(model.input.size, model.input.zero_point, dtype=dtype).tobytes()


class _ProfileRun(QtCore.QObject):
    """Runs one profile in a plain thread and reports back through queued signals."""

    done = QtCore.Signal(dict)
    failed = QtCore.Signal(str)

    def start(self, session: Any, index: int, tflite: bytes, input_bytes: bytes) -> threading.Thread:
        def run() -> None:
            from edgeloop.app.validate.per_layer import profile_layers

            try:
                self.done.emit(profile_layers(session, index, tflite, input_bytes))
            except (EdgeloopError, TimeoutError, ConnectionError, OSError) as exc:
                self.failed.emit(str(exc))

        thread = threading.Thread(target=run, name="edgeloop-per-layer", daemon=True)
        thread.start()
        return thread


class QtStepBars(QtWidgets.QWidget):
    """One horizontal bar per step: "k OP" on the left, bar length ∝ µs, the time on the right."""

    ROW_HEIGHT = 22

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.rows: list[tuple[str, float | None]] = []
        self.setMinimumWidth(420)

    def set_steps(self, steps: Sequence[dict[str, Any]]) -> None:
        """Rows from `profile_layers(...)["steps"]` (a step the board did not time has no bar)."""
        self.rows = [(f"{s['index']} {s['op']}", s.get("us")) for s in steps]
        self.setMinimumHeight(max(1, len(self.rows)) * self.ROW_HEIGHT)
        self.update()

    def paintEvent(self, event: QtGui.QPaintEvent) -> None:  # noqa: N802 - Qt naming
        if not self.rows:
            return
        painter = QtGui.QPainter(self)
        painter.fillRect(self.rect(), QtGui.QColor(theme.PANEL))  # readable whatever the parent's palette
        longest = max((us for _, us in self.rows if us), default=0.0) or 1.0
        name_w = min(190, self.width() * 2 // 5)
        bar_w = max(1, self.width() - name_w - 90)
        text, bar = QtGui.QColor(theme.TEXT), QtGui.QColor(theme.SERIES[0])
        row_h = self.height() / len(self.rows)
        for i, (name, us) in enumerate(self.rows):
            top = int(i * row_h)
            painter.setPen(text)
            painter.drawText(QtCore.QRect(0, top, name_w - 6, int(row_h)), QtCore.Qt.AlignRight | QtCore.Qt.AlignVCenter,
                             name)
            length = int(bar_w * (us or 0.0) / longest)
            bar_h = max(2, int(row_h * 0.7))
            painter.fillRect(name_w, top + (int(row_h) - bar_h) // 2, max(1, length) if us else 0, bar_h, bar)
            painter.drawText(QtCore.QRect(name_w + length + 4, top, 86, int(row_h)),
                             QtCore.Qt.AlignLeft | QtCore.Qt.AlignVCenter, "—" if us is None else f"{us:.1f} µs")


class QtPerLayerDialog(QtWidgets.QDialog):
    """Profiles the active model once and shows its steps' times; `failed(message)` when it cannot."""

    profiled = QtCore.Signal(dict)
    failed = QtCore.Signal(str)

    def __init__(self, session: Any, model_index: int, *, model_dirs: Sequence[Path] = (),
                 parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        model = model_descriptor(session.info, model_index)  # model_index: the stable id (SPEC §9.4)
        self.setWindowTitle(f"Per layer: {model.name}")
        self.heading = QtWidgets.QLabel(f"profiling {model.name} on the board …")
        self.heading.setWordWrap(True)
        self.bars = QtStepBars()
        self.summary = QtWidgets.QLabel("")
        self.summary.setObjectName("key")
        self.summary.setWordWrap(True)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addWidget(self.bars, 1)
        layout.addWidget(self.summary)
        self.profile: dict[str, Any] | None = None
        self._run = _ProfileRun(self)
        self._run.done.connect(self._on_done)
        self._run.failed.connect(self._on_failed)
        self._thread: threading.Thread | None = None
        self._start(session, model_index, model, model_dirs)

    def _start(self, session: Any, index: int, model: Any, model_dirs: Sequence[Path]) -> None:
        try:
            tflite = find_active_tflite(model, model_dirs).read_bytes()
        except EdgeloopError as exc:
            message = str(exc)
            QtCore.QTimer.singleShot(0, lambda: self._on_failed(message))  # after the caller connected
            return
        self._thread = self._run.start(session, index, tflite, zero_point_input(model))

    @property
    def running(self) -> bool:
        """True while the board is profiling."""
        return self._thread is not None and self._thread.is_alive()

    def _on_done(self, profile: dict) -> None:
        self.profile = profile
        self.heading.setText(f"time per step on the board ({profile['timing']}, {profile['timing_source']}; "
                             f"{profile['tick_unit']} ticks at {profile['tick_hz']:,} Hz), zero-point input")
        self.bars.set_steps(profile["steps"])
        self.summary.setText(f"{len(profile['steps'])} steps, {profile['macc']:,} MACs; the steps sum to "
                             f"{profile['sum_ticks']:,} ticks, the whole inference took {profile['infer_ticks']:,}")
        self.adjustSize()
        self.profiled.emit(profile)

    def _on_failed(self, message: str) -> None:
        self.failed.emit(message)
        self.close()

    def wait(self, timeout_s: float = 130.0) -> None:
        """Block until a running profile ended (window close)."""
        if self._thread is not None:
            self._thread.join(timeout_s)
