"""Sessions panel, Record panel and Validate dialog details (issue 15, item 9)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from types import SimpleNamespace

import pytest
from PySide6 import QtGui, QtWidgets

import edgeloop
from edgeloop.app.gui.recording_panel import QtRecordingPanel
from edgeloop.app.gui.sessions_browser import QtSessionsBrowser
from edgeloop.app.gui.validate_dialog import QtValidateDialog
from edgeloop.app.live.sources import open_source
from edgeloop.app.sessions.recording import LabelSet, Recorder

pytestmark = pytest.mark.timeout(60)

SINE_TFLITE = edgeloop.PACKAGE_ROOT / "models" / "zoo" / "sine" / "sine.tflite"


def _record(out: Path, frames: int = 2, model: str = "brightness") -> None:
    with open_source(f"synthetic:bottles?fps=0&frames={frames}") as scene, \
            Recorder(out, LabelSet(["a"]), kind="image", model={"name": model}) as rec:
        rec.resume()
        for capture in scene:
            rec.add_capture(capture)


def test_sessions_table_shows_whole_names(qtbot, tmp_path: Path) -> None:
    name = "field-trial-ward-7-bed-12-morning-round"
    _record(tmp_path / name)
    browser = QtSessionsBrowser(tmp_path)
    qtbot.addWidget(browser)
    browser.resize(420, 300)
    browser.show()
    qtbot.waitExposed(browser)
    cell = browser.table.item(0, 0)
    assert cell.text() == name and cell.toolTip().endswith(name)
    needed = browser.table.fontMetrics().horizontalAdvance(name)
    assert browser.table.columnWidth(0) >= needed, "the session name must not be cut"


def test_record_button_stays_put_when_a_session_opens(qtbot, tmp_path: Path) -> None:
    panel = QtRecordingPanel(LabelSet(["a", "b"]))
    qtbot.addWidget(panel)
    panel.resize(300, 420)
    panel.show()
    qtbot.waitExposed(panel)
    before = panel.record_button.mapTo(panel, panel.record_button.rect().center())
    panel.begin(tmp_path / ("a-rather-long-session-folder-name-" * 3), kind="image")
    qtbot.wait(50)
    after = panel.record_button.mapTo(panel, panel.record_button.rect().center())
    panel.finish()
    assert after == before, "the Record button moved under the mouse"


def _session_with(model_hash: bytes, name: str = "sine") -> SimpleNamespace:
    model = SimpleNamespace(name=name, hash=model_hash)
    return SimpleNamespace(info=SimpleNamespace(board="host", active_model=0, models=(model,), model_ids=(0,),
                                                model_by_id={0: model}.get))


def test_validate_dialog_starts_filled_for_a_zoo_model(qtbot, tmp_path: Path) -> None:
    sessions = tmp_path / "sessions"
    _record(sessions / "older", model="sine")
    dialog = QtValidateDialog(_session_with(hashlib.sha256(SINE_TFLITE.read_bytes()).digest()),
                              reports_dir=tmp_path / "reports", sessions_dir=sessions)
    qtbot.addWidget(dialog)
    assert Path(dialog.tflite_edit.text()) == SINE_TFLITE
    assert Path(dialog.data_edit.text()) == sessions / "older"
    other = QtValidateDialog(_session_with(bytes(32), "mean64"), reports_dir=tmp_path / "reports")
    qtbot.addWidget(other)
    assert other.tflite_edit.text() == "" and other.tflite_edit.placeholderText()  # never a wrong guess


def test_open_report_without_a_launcher_shows_the_path(qtbot, tmp_path: Path, monkeypatch) -> None:
    dialog = QtValidateDialog(_session_with(bytes(32)), reports_dir=tmp_path)
    qtbot.addWidget(dialog)
    monkeypatch.setattr(QtGui.QDesktopServices, "openUrl", staticmethod(lambda url: False))
    dialog.report_path = str(tmp_path / "report.html")
    dialog.open_button.setEnabled(True)
    dialog.open_button.click()
    assert str(tmp_path / "report.html") in dialog.summary.text() and "browser" in dialog.summary.text()
    assert isinstance(dialog.summary, QtWidgets.QLabel)
