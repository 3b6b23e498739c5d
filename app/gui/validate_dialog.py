"""The validation dialog: pick a .tflite and data, validate on the connected board in a worker, show the summary.

API for the main window::

    dialog = QtValidateDialog(session, model_index=info.active_model, reports_dir=Path("validation"))
    dialog.finished_report.connect(lambda path: ...)   # report.html written
    dialog.start(Path("m.tflite"), Path("sessions/a"), Path("validation/m"))   # or let the user fill the fields
    dialog.show()

The user picks the board model (default `model_index`); "allow a hash
mismatch" validates a model whose board hash is not the .tflite's SHA-256
(hand-written test models carry a zero hash), noting it in the report.
The run happens in a QThread (the GUI stays live); `started()` says it
began, progress arrives as `progress(done, total)`; `finished_report(str)`
carries report.html's path (also for a partial run), `failed(str)` the error
that stopped it before it began. Closing the dialog during a run only hides
it; `wait()` blocks until the run has written its report (call it before
quitting).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets

from edgeloop import EdgeloopError, os_errors_explained
from edgeloop.app.link.session import DeviceError, RequestTimeout
from edgeloop.app.live.pipeline import model_descriptor
from edgeloop.app.validate.validator import load_validation_data, validate_on_board
from edgeloop.app.validate.report import write_report


class _Worker(QtCore.QObject):
    progress = QtCore.Signal(int, int)
    done = QtCore.Signal(str, str)  # html path, summary
    failed = QtCore.Signal(str)

    def __init__(self, session: Any, model_index: int, tflite: Path, data: Path, out: Path, *,
                 allow_hash_mismatch: bool = False) -> None:
        super().__init__()
        self.session, self.model_index, self.tflite, self.data, self.out = session, model_index, tflite, data, out
        self.allow_hash_mismatch = allow_hash_mismatch

    @QtCore.Slot()
    def run(self) -> None:
        try:
            model = model_descriptor(self.session.info, self.model_index)
            data = load_validation_data(self.data, model)
            with os_errors_explained(f"read {self.tflite}"):
                tflite = self.tflite.read_bytes()
            result = validate_on_board(self.session, self.model_index, tflite, data,
                                       tflite_path=str(self.tflite), allow_hash_mismatch=self.allow_hash_mismatch,
                                       progress=self.progress.emit)
            _, html_path = write_report(result, self.out)
        except (EdgeloopError, DeviceError, RequestTimeout) as exc:  # the user's data, or the board's answers
            self.failed.emit(str(exc))
            return
        self.done.emit(str(html_path), summarize(result.to_json()))


def summarize(report: dict[str, Any]) -> str:
    """A few lines for the dialog: status, accuracy, agreement, latency with its timing label."""
    m = report["metrics"]
    lines = [f"{report['status']}: {report['completed']}/{report['total']} samples"]
    if report.get("error"):
        lines.append(report["error"])
    lines.extend(f"warning: {text}" for text in report.get("warnings") or ())
    cls = m.get("classification")
    if cls:
        fmt = lambda v: "n/a" if v is None else f"{100 * v:.1f} %"  # noqa: E731
        lines.append(f"accuracy: board {fmt(cls['accuracy']['board'])}, reference {fmt(cls['accuracy']['reference'])}")
    ag = m.get("agreement", {})
    if ag.get("samples"):
        lines.append(f"exact match {100 * ag['exact_match_rate']:.2f} %, max |diff| {ag['max_abs_diff_q']:g} steps")
    lat = m.get("latency", {})
    if "us" in lat:
        lines.append(f"t_infer mean {lat['us']['mean']:.1f} µs ({lat['timing']})")
    return "\n".join(lines)


class QtValidateDialog(QtWidgets.QDialog):
    """Fields for the .tflite, data and report folder, a Run button, a progress bar and the summary."""

    started = QtCore.Signal()
    progress = QtCore.Signal(int, int)
    finished_report = QtCore.Signal(str)
    failed = QtCore.Signal(str)

    def __init__(self, session: Any, model_index: int | None = None, parent: QtWidgets.QWidget | None = None, *,
                 reports_dir: Path | None = None, sessions_dir: Path | None = None) -> None:
        """`sessions_dir`: where recorded sessions are looked for as default data of a model."""
        super().__init__(parent)
        self.session = session
        self.sessions_dir = sessions_dir
        self.reports_dir = Path("validation") if reports_dir is None else Path(reports_dir)
        info = session.info
        # `model_index` is the board model's stable id (SPEC §9.4); the combo's rows only order the names.
        self.model_index = info.active_model if model_index is None else model_index
        self.setWindowTitle(f"Validate on {info.board}")
        self.model_combo = QtWidgets.QComboBox()
        for model_id, model in zip(info.model_ids, info.models):
            self.model_combo.addItem(model.name, model_id)
        self.model_combo.setCurrentIndex(self.model_combo.findData(self.model_index))
        self.model_combo.currentIndexChanged.connect(self._on_model_changed)
        self.allow_mismatch = QtWidgets.QCheckBox("allow a hash mismatch (noted in the report)")
        self.allow_mismatch.setToolTip("validate although the board's model was not compiled from this .tflite, "
                                       "e.g. a hand-written test model (its hash is zero)")
        self.tflite_edit = QtWidgets.QLineEdit()
        self.tflite_edit.setPlaceholderText("the .tflite the board's model was compiled from")
        self.data_edit = QtWidgets.QLineEdit()
        self.data_edit.setPlaceholderText("image folder, recorded session, IMU CSV or .npz (the Record panel makes one)")
        self.out_edit = QtWidgets.QLineEdit(str(self.reports_dir / model_descriptor(info, self.model_index).name))
        self.run_button = QtWidgets.QPushButton("Run")
        self.open_button = QtWidgets.QPushButton("Open report")
        self.open_button.setEnabled(False)
        self.bar = QtWidgets.QProgressBar()
        self.summary = QtWidgets.QLabel("")
        self.summary.setWordWrap(True)
        form = QtWidgets.QFormLayout()
        form.addRow("board model", self.model_combo)
        form.addRow(".tflite", self._with_browse(self.tflite_edit, file=True))
        form.addRow("data", self._with_browse(self.data_edit, file=False))
        form.addRow("report folder", self.out_edit)
        form.addRow("", self.allow_mismatch)
        buttons = QtWidgets.QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.open_button)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.bar)
        layout.addWidget(self.summary)
        layout.addLayout(buttons)
        self.run_button.clicked.connect(self._on_run)
        self.open_button.clicked.connect(self._on_open)
        self._thread: QtCore.QThread | None = None
        self._worker: _Worker | None = None
        self.report_path = ""
        self._fill_defaults(self.model_index)

    def _fill_defaults(self, model_id: int) -> None:
        """A zoo model's .tflite (found by its hash) and the newest session recorded with it, when there is one."""
        from edgeloop.models.quantize import find_model_by_hash

        model = model_descriptor(self.session.info, model_id)
        tflite = find_model_by_hash(model.hash) if any(model.hash) else None  # test models: zero hash
        self.tflite_edit.setText(str(tflite) if tflite else "")
        session = _newest_session_of(self.sessions_dir, model.name)
        self.data_edit.setText(str(session) if session else "")

    def _with_browse(self, edit: QtWidgets.QLineEdit, file: bool) -> QtWidgets.QWidget:
        box = QtWidgets.QWidget()
        row = QtWidgets.QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(edit, 1)
        button = QtWidgets.QPushButton("…")

        def browse() -> None:
            path = (QtWidgets.QFileDialog.getOpenFileName(self, "Model", "", "TFLite (*.tflite)")[0] if file
                    else QtWidgets.QFileDialog.getExistingDirectory(self, "Data folder"))
            if path:
                edit.setText(path)

        button.clicked.connect(browse)
        row.addWidget(button)
        return box

    @property
    def running(self) -> bool:
        """True while a validation runs."""
        return self._thread is not None

    def start(self, tflite: Path, data: Path, out: Path, *, model_index: int | None = None,
              allow_hash_mismatch: bool | None = None) -> None:
        """Fill the fields and start the run (what the Run button does)."""
        if model_index is not None:  # a stable model id
            self.model_combo.setCurrentIndex(self.model_combo.findData(model_index))
        if allow_hash_mismatch is not None:
            self.allow_mismatch.setChecked(allow_hash_mismatch)
        self.tflite_edit.setText(str(tflite))
        self.data_edit.setText(str(data))
        self.out_edit.setText(str(out))
        self._on_run()

    def _on_model_changed(self, row: int) -> None:
        info = self.session.info
        old_default = str(self.reports_dir / model_descriptor(info, self.model_index).name)
        self.model_index = int(self.model_combo.itemData(row))
        self._fill_defaults(self.model_index)
        if self.out_edit.text() == old_default:  # keep a folder the user typed; follow the model otherwise
            self.out_edit.setText(str(self.reports_dir / model_descriptor(info, self.model_index).name))

    def _on_run(self) -> None:
        if self.running:
            return
        tflite, data = Path(self.tflite_edit.text()), Path(self.data_edit.text())
        if not tflite.is_file() or not data.exists():
            self._on_failed(f"choose an existing .tflite and data folder ({tflite}, {data})")
            return
        self.run_button.setEnabled(False)
        self.open_button.setEnabled(False)
        self.summary.setText("validating…")
        self._thread = QtCore.QThread(self)
        self._worker = _Worker(self.session, self.model_index, tflite, data, Path(self.out_edit.text()),
                               allow_hash_mismatch=self.allow_mismatch.isChecked())
        self._worker.moveToThread(self._thread)
        self._thread.started.connect(self._worker.run)
        self._worker.progress.connect(self._on_progress)
        self._worker.done.connect(self._on_done)
        self._worker.failed.connect(self._on_failed)
        self._thread.start()
        self.started.emit()

    def _stop_thread(self) -> None:
        if self._thread is not None:
            self._thread.quit()
            self._thread.wait(5000)
            self._thread = None
            self._worker = None
        self.run_button.setEnabled(True)

    def _on_progress(self, done: int, total: int) -> None:
        self.bar.setMaximum(total)
        self.bar.setValue(done)
        self.progress.emit(done, total)

    def _on_done(self, html_path: str, summary: str) -> None:
        self._stop_thread()
        self.report_path = html_path
        self.summary.setText(summary + f"\nreport: {html_path}")
        self.open_button.setEnabled(True)
        self.finished_report.emit(html_path)

    def _on_failed(self, text: str) -> None:
        self._stop_thread()
        self.summary.setText(f"validation failed: {text}")
        self.failed.emit(text)

    def _on_open(self) -> None:
        if self.report_path and not QtGui.QDesktopServices.openUrl(QtCore.QUrl.fromLocalFile(self.report_path)):
            # No desktop launcher (a kiosk, a remote X session): say where the report is instead.
            self.summary.setText(f"{self.summary.text()}\nno program to open it here: open {self.report_path} "
                                 f"in a web browser")
            self.summary.setTextInteractionFlags(QtCore.Qt.TextSelectableByMouse)

    def wait(self, timeout_s: float = 60.0) -> None:
        """Block until a running validation has ended and written its report (the application quits)."""
        if self._thread is not None:
            self._thread.quit()
            self._thread.wait(int(timeout_s * 1000))

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:  # noqa: N802 (Qt naming)
        """Closing while a validation runs only hides the dialog: the run goes on and writes its report."""
        if self.running:
            event.ignore()
            self.hide()
            return
        super().closeEvent(event)


def _newest_session_of(root: Path | None, model_name: str) -> Path | None:
    """The most recent session under `root` recorded with the model called `model_name`."""
    from edgeloop.app.sessions.library import find_sessions, load_session

    if root is None or not Path(root).is_dir():
        return None
    best: tuple[str, Path] | None = None
    for path in find_sessions([root]):
        try:
            summary = load_session(path).summary()
        except EdgeloopError:  # an unreadable session is no default
            continue
        if (summary.get("model") or {}).get("name") == model_name and summary["samples"]:
            key = (str(summary.get("started", "")), path)
            best = key if best is None or key > best else best
    return best[1] if best else None
