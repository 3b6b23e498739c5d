"""The recording panel, session browser and validation dialog, driven like a user would (pytest-qt)."""

from __future__ import annotations

import json
from pathlib import Path

import pyqtgraph as pg
import pytest
from PySide6 import QtCore

import edgeloop
from edgeloop.app.sessions.recording import LabelSet

pg.setConfigOptions(exitCleanup=False)

pytestmark = pytest.mark.timeout(90)


def test_recording_panel_hotkeys_record_pause_snapshot(qtbot, tmp_path: Path, fake_images) -> None:
    from edgeloop.app.gui.recording_panel import QtRecordingPanel

    panel = QtRecordingPanel(LabelSet(["empty", "half", "full"]))
    qtbot.addWidget(panel)
    panel.show()
    panel.activateWindow()
    qtbot.waitUntil(panel.isActiveWindow, timeout=3000)  # hotkeys are window shortcuts: they need focus
    assert not panel.record_button.isEnabled()
    with qtbot.waitSignal(panel.recording_changed) as sig:
        panel.begin(tmp_path / "s", kind="image", source={"spec": "fake"})
    assert sig.args == [True] and panel.record_button.isEnabled()
    panel.label_list.setFocus()  # (a digit typed into the new-label field is text, not a hotkey)
    with qtbot.waitSignal(panel.label_changed) as sig:
        qtbot.keyClick(panel.label_list, QtCore.Qt.Key_3)
    assert sig.args == ["full"] and panel.labels.current == "full"
    frames = list(fake_images(frames=5))
    panel.add_capture(frames[0])  # paused at start: nothing recorded
    qtbot.mouseClick(panel.record_button, QtCore.Qt.LeftButton)
    assert panel.record_button.text() == "Pause"
    with qtbot.waitSignal(panel.sample_recorded) as sig:
        panel.add_capture(frames[1])
    assert sig.args == [1]
    qtbot.keyClick(panel.label_list, QtCore.Qt.Key_1)
    panel.add_capture(frames[2])
    qtbot.mouseClick(panel.record_button, QtCore.Qt.LeftButton)  # pause
    qtbot.mouseClick(panel.snapshot_button, QtCore.Qt.LeftButton)
    panel.add_capture(frames[3])
    panel.add_capture(frames[4])  # paused again after the snapshot
    qtbot.waitUntil(lambda: "3 samples" in panel.status.text(), timeout=2000)
    panel.new_label.setText("overflow")
    qtbot.mouseClick(panel.add_button, QtCore.Qt.LeftButton)
    qtbot.waitUntil(lambda: panel.label_list.count() == 4, timeout=2000)  # redrawn from the label set
    panel.finish()
    lines = [json.loads(x) for x in (tmp_path / "s" / "manifest.jsonl").read_text().splitlines()]
    assert [(x["label"], x["mode"]) for x in lines] == [("full", "span"), ("empty", "span"), ("empty", "snapshot")]
    assert json.loads((tmp_path / "s" / "session.json").read_text())["labels"] == ["empty", "half", "full",
                                                                                   "overflow"]


def test_sessions_browser_lists_replays_and_merges(qtbot, tmp_path: Path, fake_images) -> None:
    from edgeloop.app.gui.sessions_browser import QtSessionsBrowser
    from edgeloop.app.sessions.recording import Recorder

    for name in ("a", "b"):
        rec = Recorder(tmp_path / "sessions" / name, LabelSet(), kind="image", label_from_source=True).start()
        for cap in fake_images(frames=4):
            rec.add_capture(cap)
        rec.close()
    browser = QtSessionsBrowser(tmp_path / "sessions")
    qtbot.addWidget(browser)
    assert browser.table.rowCount() == 2
    assert browser.table.item(0, 0).text() == "a" and browser.table.item(0, 2).text() == "4"
    with qtbot.waitSignal(browser.replay_requested) as sig:
        browser.table.cellDoubleClicked.emit(1, 0)
    assert sig.args == [tmp_path / "sessions" / "b"]
    browser.table.selectAll()
    with qtbot.waitSignal(browser.merged):
        text = browser.merge_into(tmp_path / "merged")
    assert "a 4, b 4" in text and (tmp_path / "merged" / "dataset.json").is_file()


def test_validate_dialog_runs_in_a_worker_and_writes_the_report(qtbot, host_board, sine_data: Path,
                                                                tmp_path: Path) -> None:
    from edgeloop.app.gui.validate_dialog import QtValidateDialog
    from edgeloop.app.link.session import Session

    with Session(host_board.url) as session:
        session.connect()
        dialog = QtValidateDialog(session, model_index=0)
        qtbot.addWidget(dialog)
        with qtbot.waitSignal(dialog.finished_report, timeout=60000) as sig:
            dialog.start(edgeloop.PACKAGE_ROOT / "models" / "zoo" / "sine" / "sine.tflite",
                         sine_data, tmp_path / "report")
        assert sig.args[0].endswith("report.html") and Path(sig.args[0]).is_file()
        assert "exact match 100.00 %" in dialog.summary.text() and "host clock" in dialog.summary.text()
        assert dialog.bar.value() == 60 and not dialog.running
        with qtbot.waitSignal(dialog.failed):
            dialog.start(tmp_path / "missing.tflite", sine_data, tmp_path / "r2")
