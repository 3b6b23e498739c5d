"""The recording panel: editable label set, hotkeys 1–9, record/pause, snapshot, live counts.

API for the main window::

    panel = QtRecordingPanel(LabelSet(["empty", "half", "full"]), hotkey_parent=window)
    panel.begin(Path("sessions/run-1"), kind="image", source={"spec": "camera:0"}, board=..., model=...)
    pipeline.on_record = panel.add_result        # or panel.add_capture(capture) without a board
    panel.finish()

Signals: `recording_changed(bool)` (recording or not; pause keeps it True),
`label_changed(str)`, `sample_recorded(int)` (total samples) and
`recording_failed(str)` (the recorder's error text; the recording stopped).
`add_capture` / `add_result` may be called from any thread: the recorder is
thread-safe and the panel refreshes from the Qt thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets

from edgeloop import InputError
from edgeloop.app.live.pipeline import ResultRecord
from edgeloop.app.sessions.recording import MAX_HOTKEYS, LabelSet, Recorder, RecordingError
from edgeloop.app.live.sources.base import Capture


class QtRecordingPanel(QtWidgets.QWidget):
    """Label set editor and recording controls bound to one `Recorder` at a time."""

    recording_changed = QtCore.Signal(bool)
    label_changed = QtCore.Signal(str)
    sample_recorded = QtCore.Signal(int)
    recording_failed = QtCore.Signal(str)
    _refresh_requested = QtCore.Signal()

    def __init__(self, labels: LabelSet | None = None, parent: QtWidgets.QWidget | None = None, *,
                 hotkey_parent: QtWidgets.QWidget | None = None) -> None:
        """`hotkey_parent`: the widget whose window the keys 1–9 work in (default: this panel), e.g. the
        main window, so the keys still work while the panel's dock is hidden."""
        super().__init__(parent)
        self.labels = labels or LabelSet()
        self.recorder: Recorder | None = None
        self.label_list = QtWidgets.QListWidget()
        self.label_list.setEditTriggers(QtWidgets.QAbstractItemView.DoubleClicked
                                        | QtWidgets.QAbstractItemView.EditKeyPressed)
        self.new_label = QtWidgets.QLineEdit()
        self.new_label.setPlaceholderText("new label")
        self.add_button = QtWidgets.QPushButton("Add")
        self.remove_button = QtWidgets.QPushButton("Remove")
        self.record_button = QtWidgets.QPushButton("Record")
        self.record_button.setCheckable(True)
        self.record_button.setEnabled(False)
        self.snapshot_button = QtWidgets.QPushButton("Snapshot")
        self.snapshot_button.setEnabled(False)
        self.status = QtWidgets.QLabel("not recording")
        self.status.setWordWrap(True)
        self.status.setAlignment(QtCore.Qt.AlignLeft | QtCore.Qt.AlignTop)
        # Room for three lines from the start: a long session path appearing after "New session" must not
        # push the Record button up under the mouse.
        self.status.setFixedHeight(self.status.fontMetrics().lineSpacing() * 3 + 4)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.new_label, 1)
        row.addWidget(self.add_button)
        row.addWidget(self.remove_button)
        buttons = QtWidgets.QHBoxLayout()
        buttons.addWidget(self.record_button)
        buttons.addWidget(self.snapshot_button)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(QtWidgets.QLabel("Labels (keys 1–9 select)"))
        layout.addWidget(self.label_list, 1)
        layout.addLayout(row)
        layout.addLayout(buttons)
        layout.addWidget(self.status)
        self._shortcuts = []
        for number in range(1, MAX_HOTKEYS + 1):
            shortcut = QtGui.QShortcut(QtGui.QKeySequence(str(number)), hotkey_parent or self)
            shortcut.setContext(QtCore.Qt.WindowShortcut)
            shortcut.activated.connect(lambda n=number: self._on_hotkey(n))
            self._shortcuts.append(shortcut)
        self.add_button.clicked.connect(self._on_add)
        self.new_label.returnPressed.connect(self._on_add)
        self.remove_button.clicked.connect(self._on_remove)
        self.label_list.currentRowChanged.connect(self._on_row)
        self.label_list.itemChanged.connect(self._on_item_edited)
        self.record_button.toggled.connect(self._on_record_toggled)
        self.snapshot_button.clicked.connect(self._on_snapshot)
        self._refresh_requested.connect(self.refresh, QtCore.Qt.QueuedConnection)
        self.labels.subscribe(self._refresh_requested.emit)
        self._fill_list()
        self.refresh()

    # -- model → view -------------------------------------------------------------------------------------
    def _fill_list(self) -> None:
        self.label_list.blockSignals(True)
        self.label_list.clear()
        for i, name in enumerate(self.labels.labels):
            item = QtWidgets.QListWidgetItem(name)
            item.setFlags(item.flags() | QtCore.Qt.ItemIsEditable)
            item.setToolTip(f"key {i + 1}" if i < MAX_HOTKEYS else "no hotkey")
            self.label_list.addItem(item)
        if self.labels.current is not None:
            self.label_list.setCurrentRow(self.labels.labels.index(self.labels.current))
        self.label_list.blockSignals(False)

    @QtCore.Slot()
    def refresh(self) -> None:
        """Redraw the label list, buttons and counts from the label set and the recorder."""
        if [self.label_list.item(i).text() for i in range(self.label_list.count())] != list(self.labels.labels):
            self._fill_list()
        elif self.labels.current is not None:
            self.label_list.blockSignals(True)
            self.label_list.setCurrentRow(self.labels.labels.index(self.labels.current))
            self.label_list.blockSignals(False)
        rec = self.recorder
        active = rec is not None and rec.recording
        self.record_button.setEnabled(active)
        self.snapshot_button.setEnabled(active)
        self.record_button.blockSignals(True)
        self.record_button.setChecked(bool(active and not rec.paused))
        self.record_button.setText("Pause" if active and not rec.paused else "Record")
        self.record_button.blockSignals(False)
        if rec is None:
            self.status.setText("not recording")
        elif rec.state == "failed":
            self.status.setText(f"stopped: {rec.error}")
        else:
            counts = ", ".join(f"{k} {v}" for k, v in rec.counts.items()) or "no samples yet"
            state = {"recording": "recording", "paused": "paused", "stopped": "saved"}.get(rec.state, rec.state)
            self.status.setText(f"{state}: {rec.samples} samples ({counts}) → {rec.out_dir}")

    # -- recording control -------------------------------------------------------------------------------------
    def begin(self, out_dir: Path, *, kind: str, source: Mapping[str, Any] | None = None,
              board: Mapping[str, Any] | None = None, model: Mapping[str, Any] | None = None,
              paused: bool = True, label_from_source: bool = False) -> Recorder:
        """Open a new session in `out_dir` (paused unless `paused` is False); returns its recorder.

        `label_from_source` labels each sample with the source's ground truth (synthetic scene, replayed
        session) instead of the current label (see `Recorder`).
        """
        self.finish()
        recorder = Recorder(out_dir, self.labels, kind=kind, source=source, board=board, model=model,
                            label_from_source=label_from_source)
        try:
            recorder.start()
        except RecordingError as exc:
            self.recording_failed.emit(str(exc))
            raise
        if paused:
            recorder.pause()
        self.recorder = recorder
        self.refresh()
        self.recording_changed.emit(True)
        return recorder

    def finish(self) -> None:
        """Close the current session (if any)."""
        if self.recorder is not None:
            self.recorder.close()
            self.refresh()
            self.recorder = None
            self.recording_changed.emit(False)

    def add_capture(self, capture: Capture) -> None:
        """Record a capture (any thread)."""
        self._feed(lambda rec: rec.add_capture(capture))

    def add_result(self, record: ResultRecord) -> None:
        """Record a board result (any thread)."""
        self._feed(lambda rec: rec.add_result(record))

    def _feed(self, call) -> None:
        rec = self.recorder
        if rec is None or rec.state == "failed":
            return
        try:
            written = call(rec)
        except RecordingError as exc:
            self.recording_failed.emit(str(exc))
            self._refresh_requested.emit()
            return
        if written:
            self.sample_recorded.emit(rec.samples)
            self._refresh_requested.emit()

    # -- view → model ---------------------------------------------------------------------------------------------
    def _on_hotkey(self, number: int) -> None:
        label = self.labels.hotkey(number)
        if label is not None:
            self.label_changed.emit(label)

    def _on_add(self) -> None:
        try:
            self.labels.add(self.new_label.text())
        except InputError as exc:
            self.status.setText(str(exc))
            return
        self.new_label.clear()

    def _on_remove(self) -> None:
        item = self.label_list.currentItem()
        if item is not None:
            self.labels.remove(item.text())

    def _on_row(self, row: int) -> None:
        if 0 <= row < len(self.labels) and self.labels.labels[row] != self.labels.current:
            self.labels.select(self.labels.labels[row])
            self.label_changed.emit(self.labels.labels[row])

    def _on_item_edited(self, item: QtWidgets.QListWidgetItem) -> None:
        row = self.label_list.row(item)
        old = self.labels.labels[row]
        if item.text() == old:
            return
        try:
            self.labels.rename(old, item.text())
        except InputError as exc:
            self.status.setText(str(exc))
            self._fill_list()

    def _on_record_toggled(self, checked: bool) -> None:
        if self.recorder is None:
            return
        self.recorder.resume() if checked else self.recorder.pause()
        self.refresh()

    def _on_snapshot(self) -> None:
        if self.recorder is not None:
            self.recorder.snapshot()
