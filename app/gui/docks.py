"""The main window's side panels: "Record" (label set, hotkeys, record/pause, snapshot) and "Sessions".

Both are dock widgets, hidden until toggled from the toolbar, so the live view
stays clean at full screen.

`QtRecordDock` wraps `QtRecordingPanel` with a session folder and a
New/Close session button. The live result stream reaches it through
`offer_result` (link reader thread) and `offer_capture` (capture thread); a
writer thread of its own hands them to the recorder, so encoding PNGs and
fsyncing never stall the link or the GUI. Image sessions store every result's
frame with its prediction and device timings; IMU sessions store every
capture's samples plus one prediction line per result.

`QtSessionsDock` wraps `QtSessionsBrowser` (browse, replay, merge) with a
"Live source" button that goes back to the source the window started with.

Example::

    dock = QtRecordDock(Path("sessions"), hotkey_parent=window)
    controller.add_record_listener(dock.offer_result)
    controller.add_capture_listener(dock.offer_capture)
    dock.start_requested.connect(lambda: dock.begin_session(kind="image", source={"spec": "camera:0"}))
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtWidgets

from edgeloop import InputError
from edgeloop.app.gui.recording_panel import QtRecordingPanel
from edgeloop.app.gui.sessions_browser import QtSessionsBrowser
from edgeloop.app.live.pipeline import ResultRecord
from edgeloop.app.sessions.record_writer import RecordWriter
from edgeloop.app.sessions.recording import LabelSet, Recorder, check_label
from edgeloop.app.live.sources.base import Capture
from edgeloop.protocol import ModelDescriptor

DEFAULT_EPOCHS = 30  # "Train from selected": a minute or two of TF on a laptop for a recorded session


def model_fields(model: ModelDescriptor) -> dict[str, Any]:
    """The model part of session.json: name, hash, labels, MACC, input and output dims."""
    return {"name": model.name, "hash": model.hash.hex(), "labels": list(model.labels), "macc": model.macc,
            "input": list(model.input.dims), "output": list(model.output.dims)}


class QtRecordDock(QtWidgets.QDockWidget):
    """The "Record" dock: session folder, New/Close session, and the recording panel.

    Signals: `start_requested()` (the user wants a new session: the window
    answers with `begin_session`), `session_closed(Path)` (a session was
    written), `root_changed(Path)` (the sessions folder changed).
    """

    start_requested = QtCore.Signal()
    session_closed = QtCore.Signal(Path)
    root_changed = QtCore.Signal(Path)

    def __init__(self, root: Path, labels: LabelSet | None = None, *,
                 hotkey_parent: QtWidgets.QWidget | None = None, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__("Record", parent)
        self.setObjectName("record_dock")
        self.panel = QtRecordingPanel(labels, hotkey_parent=hotkey_parent)
        self.writer = RecordWriter(self.panel, on_error=self.panel.recording_failed.emit)
        self.root_edit = QtWidgets.QLineEdit(str(root))
        self.root_edit.setToolTip("new sessions are created in this folder")
        self.name_edit = QtWidgets.QLineEdit()
        self.name_edit.setPlaceholderText("name (default: date and time)")
        self.from_source = QtWidgets.QCheckBox("label from the source's ground truth")
        self.from_source.setToolTip("synthetic scenes and replayed sessions know each frame's true label")
        self.session_button = QtWidgets.QPushButton("New session")
        browse = QtWidgets.QPushButton("…")
        browse.setToolTip("choose the sessions folder")
        folder_row = QtWidgets.QHBoxLayout()
        folder_row.addWidget(self.root_edit, 1)
        folder_row.addWidget(browse)
        form = QtWidgets.QFormLayout()
        form.addRow("folder", folder_row)
        form.addRow("session", self.name_edit)
        body = QtWidgets.QWidget()
        layout = QtWidgets.QVBoxLayout(body)
        layout.addLayout(form)
        layout.addWidget(self.from_source)
        layout.addWidget(self.session_button)
        layout.addWidget(self.panel, 1)
        self.setWidget(body)
        browse.clicked.connect(self._on_browse_clicked)
        self.root_edit.editingFinished.connect(lambda: self.root_changed.emit(self.root))
        self.session_button.clicked.connect(self._on_session_clicked)

    @property
    def root(self) -> Path:
        """The folder new sessions go into."""
        return Path(self.root_edit.text().strip() or ".")

    @property
    def recording(self) -> bool:
        """True while a session is open (recording or paused)."""
        return self.panel.recorder is not None

    def suggest_labels(self, labels: Sequence[str]) -> None:
        """Fill an empty label set with a model's class names (ignored once the set has labels)."""
        if len(self.panel.labels) or len(labels) < 2:
            return
        for name in labels:
            try:
                self.panel.labels.add(check_label(name))
            except InputError:
                continue  # a class name that cannot be a folder name: the user adds their own

    def begin_session(self, *, kind: str, source: Mapping[str, Any] | None = None,
                      board: Mapping[str, Any] | None = None, model: Mapping[str, Any] | None = None) -> Recorder:
        """Open a new session folder under `root` (paused: Record starts the spans, Snapshot takes one)."""
        name = self.name_edit.text().strip() or time.strftime("%Y%m%d-%H%M%S")
        out = self.root / name
        recorder = self.panel.begin(out, kind=kind, source=source, board=board, model=model,
                                    label_from_source=self.from_source.isChecked())
        self.name_edit.clear()
        self.session_button.setText("Close session")
        for widget in (self.root_edit, self.name_edit, self.from_source):
            widget.setEnabled(False)
        return recorder

    def close_session(self) -> Path | None:
        """Write what is queued and close the session; returns its folder (None if none was open)."""
        recorder = self.panel.recorder
        if recorder is None:
            return None
        self.writer.flush()
        self.panel.finish()
        self.session_button.setText("New session")
        for widget in (self.root_edit, self.name_edit, self.from_source):
            widget.setEnabled(True)
        self.session_closed.emit(recorder.out_dir)
        return recorder.out_dir

    def offer_result(self, record: ResultRecord) -> None:
        """A result from the live stream (any thread); recorded when a session is open."""
        if self.panel.recorder is not None:
            self.writer.put(record)

    def offer_capture(self, capture: Capture) -> None:
        """A capture from the live source (any thread); IMU sessions record every one."""
        recorder = self.panel.recorder
        if recorder is not None and recorder.kind == "imu":
            self.writer.put(capture)

    def shutdown(self) -> None:
        """Close the session and stop the writer (the window is closing)."""
        self.close_session()
        self.writer.close()

    def _on_session_clicked(self) -> None:
        if self.recording:
            self.close_session()
        else:
            self.start_requested.emit()

    def _on_browse_clicked(self) -> None:
        folder = QtWidgets.QFileDialog.getExistingDirectory(self, "Sessions folder", str(self.root))
        if folder:
            self.root_edit.setText(folder)
            self.root_changed.emit(self.root)


class QtSessionsDock(QtWidgets.QDockWidget):
    """The "Sessions" dock: the session browser, a loop option, a button back to the live source, and
    "Train from selected" (train, deploy and validate on the board; the window runs it).

    Signals: `replay_requested(Path, bool)` (session folder, loop), `live_requested()` and
    `train_requested(list[Path])` (the selected sessions; `train_arguments()` gives the options).
    """

    replay_requested = QtCore.Signal(Path, bool)
    live_requested = QtCore.Signal()
    train_requested = QtCore.Signal(list)

    def __init__(self, root: Path, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__("Sessions", parent)
        self.setObjectName("sessions_dock")
        self.browser = QtSessionsBrowser(root)
        self.loop = QtWidgets.QCheckBox("loop the replay")
        self.loop.setChecked(True)
        self.live_button = QtWidgets.QPushButton("Live source")
        self.live_button.setToolTip("stop replaying and go back to the source the window started with")
        self.live_button.setEnabled(False)
        self.now = QtWidgets.QLabel("")
        self.now.setObjectName("key")
        self.now.setWordWrap(True)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.loop)
        row.addStretch(1)
        row.addWidget(self.live_button)
        self.epochs = QtWidgets.QSpinBox()
        self.epochs.setRange(1, 1000)
        self.epochs.setValue(DEFAULT_EPOCHS)
        self.epochs.setToolTip("maximum training epochs (early stopping may end sooner)")
        self.train_options = QtWidgets.QLineEdit()
        self.train_options.setPlaceholderText("more train options, e.g. --input-size 32")
        self.train_options.setToolTip("extra `edgeloop train` options (`edgeloop train --help` lists them)")
        self.train_button = QtWidgets.QPushButton("Train from selected")
        self.train_button.setToolTip("train a model on the selected sessions (in a separate process), deploy it "
                                     "to the connected board and validate it there against the host reference")
        train_row = QtWidgets.QHBoxLayout()  # the options field gets a row of its own: it holds long text
        train_row.addWidget(QtWidgets.QLabel("epochs"))
        train_row.addWidget(self.epochs)
        train_row.addWidget(self.train_button, 1)
        train_box = QtWidgets.QGroupBox("train → deploy → validate on the board")
        train_layout = QtWidgets.QVBoxLayout(train_box)
        train_layout.addLayout(train_row)
        train_layout.addWidget(self.train_options)
        body = QtWidgets.QWidget()
        layout = QtWidgets.QVBoxLayout(body)
        layout.addWidget(self.browser, 1)
        layout.addLayout(row)
        layout.addWidget(self.now)
        layout.addWidget(train_box)
        self.setWidget(body)
        self.browser.replay_requested.connect(self._on_replay_requested)
        self.live_button.clicked.connect(self._on_live_clicked)
        self.train_button.clicked.connect(self._on_train_clicked)

    def train_arguments(self) -> list[str]:
        """The `edgeloop train` options of the epochs box and the options field (InputError if unparsable)."""
        try:
            extra = shlex.split(self.train_options.text())
        except ValueError as exc:
            raise InputError(f"cannot read the train options {self.train_options.text()!r}: {exc}") from None
        return ["--epochs", str(self.epochs.value()), *extra]

    def set_training(self, running: bool) -> None:
        """Disable "Train from selected" while a job runs (one at a time)."""
        self.train_button.setEnabled(not running)
        self.train_button.setText("training …" if running else "Train from selected")

    def set_root(self, root: Path) -> None:
        """Browse another folder."""
        self.browser.root = Path(root)
        self.browser.refresh()

    def set_playing(self, text: str, replaying: bool) -> None:
        """Show what feeds the board now."""
        self.now.setText(text)
        self.live_button.setEnabled(replaying)

    def _on_replay_requested(self, path: Path) -> None:
        self.replay_requested.emit(path, self.loop.isChecked())

    def _on_live_clicked(self) -> None:
        self.live_requested.emit()

    def _on_train_clicked(self) -> None:
        self.train_requested.emit(self.browser.selected_paths())


def replay_factory(path: Path, loop: bool) -> Callable[[], Any]:
    """A source factory replaying the session at `path` in real time (looping if asked)."""
    from edgeloop.app.live.sources import open_source

    spec = f"session:{path}?loop={int(loop)}"
    return lambda: open_source(spec)
