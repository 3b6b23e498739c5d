"""The main window's workflow: Record dock on the live stream, Sessions dock replay, Validate…, QEMU board."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6 import QtCore

import edgeloop
from edgeloop.app.link.firmware_build import TEST_MODELS_DIR
from edgeloop.app.gui.controller import QtLinkController
from edgeloop.app.gui.main_window import QtMainWindow
from edgeloop.app.sessions.library import load_session
from edgeloop.app.sessions.recording import LabelSet, Recorder
from edgeloop.app.live.sources import open_source

pg.setConfigOptions(exitCleanup=False)

pytestmark = pytest.mark.timeout(180)

SINE_TFLITE = edgeloop.PACKAGE_ROOT / "models" / "zoo" / "sine" / "sine.tflite"
"""The zoo's sine model, which the boards run compiled: validation must match it exactly."""


def _focus(qtbot, window: QtMainWindow) -> None:
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=3000)  # keys 1–9 are window shortcuts: they need focus


def _manifest(path: Path) -> list[dict]:
    return [json.loads(line) for line in (path / "manifest.jsonl").read_text().splitlines()]


SPEC = "synthetic:bottles?fps=30&drain=4"


def test_record_dock_records_the_live_stream_and_hotkeys_pick_labels(qtbot, open_window, kit, tmp_path: Path) -> None:
    port = kit.ScriptedPort()
    controller = QtLinkController("scripted://", lambda: open_source(SPEC), opener=kit.opener_for(port),
                                  source_spec=SPEC)
    window = open_window(controller)
    dock, panel = window.record_dock, window.record_dock.panel
    try:
        assert dock.isHidden() and window.sessions_dock.isHidden()  # a clean window until asked
        qtbot.waitUntil(lambda: window.display.displayed >= 2, timeout=20000)
        assert panel.labels.labels == kit.LABELS  # the model's classes, offered as the label set
        window.record_action.trigger()
        assert dock.isVisible()
        dock.name_edit.setText("run-1")
        qtbot.mouseClick(dock.session_button, QtCore.Qt.LeftButton)
        assert dock.recording and panel.recorder.paused and dock.session_button.text() == "Close session"
        _focus(qtbot, window)
        qtbot.keyClick(window.bars, QtCore.Qt.Key_2)
        assert panel.labels.current == "mid"
        qtbot.mouseClick(panel.record_button, QtCore.Qt.LeftButton)
        qtbot.waitUntil(lambda: panel.recorder.counts["mid"] >= 4, timeout=10000)
        assert "REC" in window.rec_indicator.text() and "mid" in window.rec_indicator.text()
        window.record_action.trigger()  # hide the dock: the keys still work in the main window
        assert dock.isHidden()
        _focus(qtbot, window)
        qtbot.keyClick(window.bars, QtCore.Qt.Key_3)
        assert panel.labels.current == "bright"
        qtbot.waitUntil(lambda: panel.recorder.counts["bright"] >= 3, timeout=10000)
        qtbot.mouseClick(panel.record_button, QtCore.Qt.LeftButton)  # pause
        assert panel.recorder.paused
        with qtbot.waitSignal(dock.session_closed, timeout=10000) as closed:
            qtbot.mouseClick(dock.session_button, QtCore.Qt.LeftButton)
        out = closed.args[0]
        assert out == tmp_path / "sessions" / "run-1" and not dock.recording
    finally:
        window.close()
    lines = _manifest(out)
    labels = [line["label"] for line in lines]
    assert labels[0] == "mid" and labels[-1] == "bright" and labels == sorted(labels, key=["mid", "bright"].index)
    for line in lines:
        pred = line["prediction"]
        assert (out / line["file"]).is_file() and line["mode"] == "span"
        assert pred["model"] == "brightness" and pred["label"] in kit.LABELS and pred["timing"] == "host clock"
        # The scripted board reports t_infer = 250000 + 10 × seq ticks of a 1 GHz host clock.
        assert pred["ticks"]["t_infer"] == 250_000 + 10 * pred["seq"]
        assert pred["us"]["t_infer"] == pytest.approx((250_000 + 10 * pred["seq"]) / 1e3)
    meta = json.loads((out / "session.json").read_text())
    assert meta["status"] == "complete" and meta["samples"] == len(lines)
    assert meta["board"]["board"] == "scripted" and meta["board"]["timing"] == "host clock"
    assert meta["model"]["name"] == "brightness" and meta["labels"] == list(kit.LABELS)
    assert window.sessions_dock.browser.table.rowCount() == 1  # the browser picked up the new session
    # Every sample carries its prediction, the source can be reopened, the duration is the panel's.
    assert meta["predictions"] == len(lines) and meta["source"]["spec"] == SPEC
    assert meta["duration_s"] == load_session(out).summary()["duration_s"] <= meta["open_s"]


def _record_session(path: Path, frames: int = 8) -> None:
    with open_source(f"synthetic:bottles?fps=0&frames={frames}&seed=3") as source:
        rec = Recorder(path, LabelSet(), kind="image", label_from_source=True, source={"spec": "synthetic"})
        rec.start()
        for capture in source:
            rec.add_capture(capture)
        rec.close()


def test_sessions_dock_replays_a_session_as_the_live_source(qtbot, open_window, kit, tmp_path: Path) -> None:
    _record_session(tmp_path / "sessions" / "replay-me")
    port = kit.ScriptedPort()
    controller = QtLinkController("scripted://", lambda: open_source("synthetic:bottles?fps=30"),
                                  opener=kit.opener_for(port))
    window = open_window(controller)
    sessions = window.sessions_dock
    try:
        qtbot.waitUntil(lambda: window.display.displayed >= 2, timeout=20000)
        window.sessions_action.trigger()
        assert sessions.isVisible() and sessions.browser.table.rowCount() == 1
        assert not sessions.live_button.isEnabled()
        sessions.browser.table.cellDoubleClicked.emit(0, 0)
        qtbot.waitUntil(lambda: window.last_record is not None
                        and window.last_record.meta.get("session") == "replay-me", timeout=15000)
        record = window.last_record
        assert record.ok and record.meta["file"].endswith(".png") and record.meta["label"]
        assert window.video.image.image is not None  # the replayed frames reach the live view
        assert sessions.live_button.isEnabled() and "replay-me" in sessions.now.text()
        qtbot.mouseClick(sessions.live_button, QtCore.Qt.LeftButton)
        qtbot.waitUntil(lambda: window.last_record is not None and "session" not in window.last_record.meta
                        and "scene" in window.last_record.meta, timeout=15000)
        qtbot.waitUntil(lambda: not sessions.live_button.isEnabled(), timeout=5000)
        assert controller.session.state.value == "connected"  # the link stayed up across both switches
    finally:
        window.close()


def test_a_source_that_does_not_fit_the_model_keeps_the_previous_one(qtbot, open_window, kit, tmp_path: Path) -> None:
    port = kit.ScriptedPort()
    controller = QtLinkController("scripted://", lambda: open_source("synthetic:bottles?fps=30"),
                                  opener=kit.opener_for(port))
    window = open_window(controller)
    try:
        qtbot.waitUntil(lambda: window.display.displayed >= 2, timeout=20000)
        with qtbot.waitSignal(controller.failed, timeout=10000) as failed:
            controller.set_source(lambda: open_source("synthetic:imu"))
        assert "takes image input" in failed.args[0] and "imu" in failed.args[0]
        shown = window.display.displayed
        qtbot.waitUntil(lambda: window.display.displayed > shown + 2, timeout=10000)
        assert controller.source_kind == "image"
    finally:
        window.close()


@pytest.fixture
def sine_data(tmp_path: Path) -> Path:
    path = tmp_path / "sine.npz"
    x = np.linspace(0.0, 2 * math.pi, 40, dtype=np.float32)[:, None]
    np.savez(path, x=x, y=np.sin(x))
    return path


@pytest.mark.slow
def test_validate_action_writes_a_report_against_the_host_board(qtbot, open_window, host_board_factory, sine_data: Path,
                                                                tmp_path: Path) -> None:
    assert SINE_TFLITE.is_file(), f"{SINE_TFLITE} is missing: the zoo's sine model is part of the repository"
    board = host_board_factory(target="host", models=[TEST_MODELS_DIR / "mean64.c", "sine"])
    try:
        controller = QtLinkController(board.url, lambda: open_source("synthetic:bottles?fps=20"), model="mean64")
        window = open_window(controller)
        try:
            qtbot.waitUntil(lambda: window.display.displayed >= 3, timeout=30000)
            assert window.validate_action.isEnabled()
            window.validate_action.trigger()
            dialog = window.validate_dialog
            assert dialog is not None and dialog.isVisible() and dialog.model_combo.currentText() == "mean64"
            # A .tflite the board's model was not compiled from is refused, with a reason.
            with qtbot.waitSignal(dialog.failed, timeout=60000) as refused:
                dialog.start(SINE_TFLITE.with_name("sine_float.tflite"), sine_data, tmp_path / "refused",
                             model_index=1)
            assert "compiled from a different .tflite" in refused.args[0]
            assert not controller.pipeline.paused  # a refused run gives the live stream back
            with qtbot.waitSignal(dialog.finished_report, timeout=120000) as done:
                dialog.start(SINE_TFLITE, sine_data, tmp_path / "report", model_index=1)
                assert controller.pipeline.paused  # the live stream waits while the board validates
                dialog.close()  # closing during the run only hides the dialog; the run goes on
                assert dialog.isHidden() and dialog.running
            html = Path(done.args[0])
            assert html == tmp_path / "report" / "report.html" and html.is_file()
            assert any(str(html) in text for text in window.messages.texts())  # shown where it is seen
            assert dialog.bar.value() == 40 and dialog.open_button.isEnabled()
            assert "host clock" in dialog.summary.text()
            report = json.loads((tmp_path / "report" / "report.json").read_text())
            assert report["status"] == "complete" and report["completed"] == 40
            assert report["model"]["name"] == "sine" and report["board"]["board"] == "host"
            assert report["warnings"] == []
            assert report["metrics"]["latency"]["timing"] == "host clock"
            qtbot.waitUntil(lambda: not controller.pipeline.paused, timeout=5000)
            window.validate_action.trigger()  # a new run gets a fresh dialog
            assert window.validate_dialog is not dialog and window.validate_dialog.isVisible()
            shown = window.display.displayed
            qtbot.waitUntil(lambda: window.display.displayed > shown + 2, timeout=15000)
        finally:
            window.close()
    finally:
        board.stop()


@pytest.mark.qemu
@pytest.mark.slow
def test_window_against_the_qemu_board_labels_timings_emulated(qtbot, open_window, host_board_factory, tmp_path: Path) -> None:
    board = host_board_factory(target="qemu", models=[TEST_MODELS_DIR / "mean64.c"], timeout=120)
    try:
        controller = QtLinkController(board.url, lambda: open_source("synthetic:bottles?fps=10"))
        window = open_window(controller)
        try:
            qtbot.waitUntil(lambda: window.display.displayed >= 3, timeout=90000)
            record = window.last_record
            assert record.ok and record.model_name == "mean64"
            assert record.timing_label == "emulated" and record.ticks["t_infer"] > 0
            assert "emulated" in window.plots.p_us.titleLabel.text
            assert window.device.values["board"].text() == "qemu-mps2-an500"
            assert window.device.values["timing"].text().startswith("emulated")
            qtbot.waitUntil(lambda: "(emulated)" in window.status.text(), timeout=5000)
        finally:
            window.close()
    finally:
        board.stop()
