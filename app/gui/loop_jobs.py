"""The window's deploy and retrain jobs: one at a time in a worker thread, shown as a strip in the status bar.

The work itself is `edgeloop.app.validate.loop` (Qt-free); this module only
runs it off the GUI thread and turns its steps into signals and a progress
bar. API for the main window::

    jobs = QtLoopJobs()
    window.statusBar().addPermanentWidget(jobs)
    jobs.deployed.connect(window._on_model_deployed)      # Deployed: adopt the INFO, select the model
    jobs.stage_changed.connect(...)                       # "validate": hold the live stream
    jobs.succeeded.connect(...); jobs.failed.connect(...) # one line each for the message area
    jobs.deploy(session, Path("m.tflite"))
    jobs.retrain(session, RetrainPlan(...))

While an upload runs, the live view keeps showing results from the active
model: every INFER names its model, and the upload's chunks share the
board's credit window with them. The strip says "uploading NAME 43 %".
Cancel stops the job at its next step and kills a training or compile child
at once; the board keeps its active model.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtWidgets

from edgeloop import EdgeloopError
from edgeloop.app.link.session import DeviceError, RequestTimeout
from edgeloop.app.validate.loop import (
    Canceller,
    Deployed,
    LoopCancelled,
    RetrainLoop,
    RetrainOutcome,
    RetrainPlan,
    Step,
    deploy_model,
    describe_deployed,
)

JOB_NEWS = (EdgeloopError, DeviceError, RequestTimeout)
"""What a job reports as a red message: the user's files and data, the board's refusals, a silent board.
Anything else is a bug and keeps its traceback."""


class _Signals(QtCore.QObject):
    """Emitted from the worker thread; queued into the GUI thread, where QtLoopJobs lives."""

    step = QtCore.Signal(object)  # Step
    deployed = QtCore.Signal(object)  # Deployed
    done = QtCore.Signal(str)  # one line for the user
    failed = QtCore.Signal(str, bool)  # text, cancelled


class QtLoopJobs(QtWidgets.QWidget):
    """A status-bar strip (what runs, a progress bar, Cancel) over one deploy or retrain job at a time.

    Signals (GUI thread): `deployed(Deployed)` once a model is active on the board, `stage_changed(str)`
    as the job moves through "train", "compile", "deploy", "validate", `succeeded(str)` and
    `failed(str)` with one line for the user, and `ended()` after either.
    """

    deployed = QtCore.Signal(object)
    stage_changed = QtCore.Signal(str)
    succeeded = QtCore.Signal(str)
    failed = QtCore.Signal(str)
    cancelled = QtCore.Signal(str)
    ended = QtCore.Signal()

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = QtWidgets.QLabel("")
        self.label.setMinimumWidth(120)
        self.label.setMaximumWidth(520)
        self.bar = QtWidgets.QProgressBar()
        self.bar.setFixedWidth(160)
        self.bar.setTextVisible(True)
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.cancel_button.setToolTip("stop the job; a training child process is killed, the board keeps its model")
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.bar)
        layout.addWidget(self.cancel_button)
        self.cancel_button.clicked.connect(self.cancel)
        self._signals = _Signals(self)
        self._signals.step.connect(self._on_step)
        self._signals.deployed.connect(self._on_deployed)
        self._signals.done.connect(self._on_done)
        self._signals.failed.connect(self._on_failed)
        self._thread: threading.Thread | None = None
        self._canceller: Canceller | None = None
        self._stage = ""
        self._title = ""
        self.last_step: Step | None = None
        self.hide()

    @property
    def running(self) -> bool:
        """True while a job runs (one at a time)."""
        return self._thread is not None

    def deploy(self, session: Any, path: Path, calib: Path | None = None) -> None:
        """Compile `path` if needed (a float model quantized with `calib`), upload it over `session`, activate it."""
        canceller = Canceller()

        def work() -> str:
            done = deploy_model(session, path, on_step=self._signals.step.emit, canceller=canceller, calib=calib)
            self._signals.deployed.emit(done)
            return describe_deployed(done)

        self._start(f"deploy {path.name}", canceller, work)

    def retrain(self, session: Any, plan: RetrainPlan) -> None:
        """Train on the plan's sessions in a child process, then deploy and validate on the board."""
        loop = RetrainLoop(session, plan, on_step=self._signals.step.emit, on_deployed=self._signals.deployed.emit)

        def work() -> str:
            outcome: RetrainOutcome = loop.run()
            return _retrain_summary(outcome)

        self._start(f"train {plan.model_name}", loop.canceller, work)

    def cancel(self) -> None:
        """Cancel the running job (its worker reports `cancelled` when it has stopped)."""
        if self._canceller is not None:
            self._canceller.cancel()
            self.label.setText(f"{self._title}: cancelling …")
            self.cancel_button.setEnabled(False)

    def shutdown(self, timeout_s: float = 30.0) -> None:
        """Cancel a running job and wait for its worker (the window closes)."""
        thread = self._thread
        if thread is not None:
            self.cancel()
            thread.join(timeout_s)

    def _start(self, title: str, canceller: Canceller, work: Callable[[], str]) -> None:
        if self.running:
            raise RuntimeError("a job is running: the window starts one at a time")
        self._title, self._canceller, self._stage, self.last_step = title, canceller, "", None
        self.label.setText(f"{title} …")
        self.bar.setRange(0, 0)  # busy until a step has a measure
        self.cancel_button.setEnabled(True)
        self.show()

        def main() -> None:
            try:
                self._signals.done.emit(work())
            except LoopCancelled as exc:
                self._signals.failed.emit(str(exc), True)
            except JOB_NEWS as exc:
                if canceller.cancelled:  # e.g. the killed child's pipe broke first
                    self._signals.failed.emit("cancelled: the board keeps its active model", True)
                else:
                    self._signals.failed.emit(str(exc), False)
            except BaseException:
                # A defect: the thread's excepthook prints the traceback; the window gets its strip back.
                self._signals.failed.emit("stopped by an internal error (traceback in the terminal)", False)
                raise

        self._thread = threading.Thread(target=main, name="edgeloop-job", daemon=True)
        self._thread.start()

    @QtCore.Slot(object)
    def _on_step(self, step: Step) -> None:
        self.last_step = step
        if step.stage != self._stage:
            self._stage = step.stage
            self.stage_changed.emit(step.stage)
        fraction = step.fraction
        if fraction is None:
            self.bar.setRange(0, 0)
        else:
            self.bar.setRange(0, 1000)
            self.bar.setValue(int(1000 * fraction))
            self.bar.setFormat(f"{step.stage} {100 * fraction:.0f} %")
        text = step.text if step.stage != "deploy" or fraction is None else \
            f"uploading {self._title.split(' ', 1)[-1]} {100 * fraction:.0f} %"
        self.label.setText(text)
        self.label.setToolTip(step.text)

    @QtCore.Slot(object)
    def _on_deployed(self, done: Deployed) -> None:
        self.deployed.emit(done)

    @QtCore.Slot(str)
    def _on_done(self, text: str) -> None:
        self._end()
        self.succeeded.emit(text)

    @QtCore.Slot(str, bool)
    def _on_failed(self, text: str, cancelled: bool) -> None:
        title = self._title
        self._end()
        (self.cancelled if cancelled else self.failed).emit(text if cancelled else f"{title}: {text}")

    def _end(self) -> None:
        thread, self._thread, self._canceller = self._thread, None, None
        if thread is not None:
            thread.join(5.0)
        self.hide()
        self.ended.emit()


def _retrain_summary(outcome: RetrainOutcome) -> str:
    """One line: the deployed model, how it validated and where the report is."""
    report = outcome.summary
    agreement = report["metrics"].get("agreement", {})
    accuracy = (report["metrics"].get("classification") or {}).get("accuracy", {})
    parts = [describe_deployed(outcome.deployed).split(";")[0],
             f"validated {report['completed']}/{report['total']} samples ({report['status']})"]
    if agreement.get("samples"):
        parts.append(f"the board's outputs equal the host reference's on {100 * agreement['exact_match_rate']:.1f} % "
                     "of them")
    if accuracy.get("board") is not None:
        parts.append(f"accuracy {100 * accuracy['board']:.1f} %")
    parts.append(f"report {outcome.report_html}")
    return "; ".join(parts)
