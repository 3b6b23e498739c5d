"""The window's Deploy… action and "Train from selected" (train in a child process → deploy → validate)
against the host virtual board, while the live view runs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pyqtgraph as pg
import pytest

import edgeloop
from edgeloop.app.gui.controller import QtLinkController
from edgeloop.app.gui.main_window import QtMainWindow
from edgeloop.app.validate import loop
from edgeloop.app.link.deploy import UploadLink, slot_cflags
from edgeloop.app.link.firmware_build import TEST_MODELS
from edgeloop.app.live.sources import open_source
from edgeloop.app.sessions.recording import LabelSet, Recorder
from edgeloop.protocol import SelectModel
from edgeloop.protocol.upload import SlotErase

pg.setConfigOptions(exitCleanup=False)

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]

ZOO = edgeloop.PACKAGE_ROOT / "models" / "zoo"
SOURCE = "synthetic:bottles?fps=20"
SLOTS = 2  # ids 3 and 4 after sine, mean64, mean96


@pytest.fixture(scope="module")
def board(host_board_factory):
    """A host board with two 16 KB upload slots (16 KB arena): bottles_tiny fits, bottles_demo does not."""
    b = host_board_factory(target="host", models=list(TEST_MODELS), extra_cflags=slot_cflags(SLOTS, 16, 16),
                           timeout=60)
    yield b
    b.stop()


@pytest.fixture
def window(qtbot, board, open_window, tmp_path: Path):
    """A window live on the board's mean64 model; afterwards the slots are emptied for the next test."""
    controller = QtLinkController(board.url, lambda: open_source(SOURCE), model="mean64", source_spec=SOURCE)
    win = open_window(controller)
    win.trained_dir = tmp_path / "trained"
    qtbot.waitUntil(lambda: win.display.displayed >= 3, timeout=30000)
    yield win
    win.close()
    link = UploadLink(board.url, timeout=5)
    try:
        link.request(SelectModel(0))
        for slot in range(SLOTS):
            link.request(SlotErase(slot))
    finally:
        link.close()


def _records_of(qtbot, window: QtMainWindow, name: str, count: int = 3) -> None:
    """Wait until `count` more results of model `name` were drawn."""
    seen: list[str] = []
    window.controller.add_record_listener(lambda r: seen.append(r.model_name) if r.ok else None)
    qtbot.waitUntil(lambda: seen.count(name) >= count, timeout=20000)


def _image_sessions(root: Path, names: tuple[str, ...] = ("a", "b"), frames: int = 40, drain: float = 2) -> list[Path]:
    """Tiny labelled image sessions from the synthetic bottles (at 10 fps, 40 frames of a 2 s drain hold
    every fill class; 8 frames of a 20 s drain only "full")."""
    paths = []
    for name in names:
        rec = Recorder(root / name, LabelSet(), kind="image", source={"spec": "synthetic"},
                       label_from_source=True).start()
        with open_source(f"synthetic:bottles?fps=10&drain={drain}&size=32") as src:
            for _, cap in zip(range(frames), src):
                rec.add_capture(cap)
        rec.close()
        paths.append(root / name)
    return paths


def test_deploy_uploads_a_tflite_and_the_model_list_selects_it(qtbot, window: QtMainWindow) -> None:
    assert window.deploy_action.isEnabled()
    steps: list[str] = []
    window.jobs.stage_changed.connect(steps.append)
    with qtbot.waitSignal(window.jobs.succeeded, timeout=60000) as done:
        window.deploy_file(ZOO / "bottles_tiny" / "bottles_tiny.tflite")
        assert window.jobs.isVisible() and window.jobs.running  # the strip shows the job
    assert steps == ["compile", "deploy"]
    text = done.args[0]
    assert "deployed bottles_tiny as model 3 (slot 0, active)" in text and "s (host clock)" in text
    assert "1x64x64x1" in text and any(text in t for t in window.messages.texts())
    combo = window.device.model_combo
    assert combo.count() == 4 and "uploaded" in combo.itemText(3)
    _records_of(qtbot, window, "bottles_tiny")  # the live view now runs the deployed model
    assert window.controller.pipeline.model.name == "bottles_tiny"
    qtbot.waitUntil(lambda: combo.currentIndex() == 3, timeout=5000)  # the list shows what the results come from
    assert not window.jobs.isVisible()


def test_a_refused_deploy_shows_the_reason_and_the_old_model_keeps_serving(qtbot, window: QtMainWindow) -> None:
    with qtbot.waitSignal(window.jobs.failed, timeout=60000) as refused:
        window.deploy_file(ZOO / "bottles_demo" / "bottles_demo.tflite")
    reason = refused.args[0]
    assert "does not fit" in reason and "16384" in reason  # the slot's size, from the board's INFO
    errors = [row.label.text() for row in window.messages.rows if row.error]
    assert errors and errors[0] == reason
    assert window.device.model_combo.count() == 3  # nothing was added
    _records_of(qtbot, window, "mean64")
    with qtbot.waitSignal(window.jobs.failed, timeout=30000) as missing:  # a path that is not there
        window.deploy_file(Path("/nonexistent/model.elmc"))
    assert "does not exist" in missing.args[0]


def test_train_from_selected_sessions_trains_deploys_and_validates(qtbot, window: QtMainWindow, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    sessions = _image_sessions(window.record_dock.root)
    dock = window.sessions_dock
    dock.browser.refresh()
    window.sessions_action.trigger()
    dock.epochs.setValue(2)
    dock.train_options.setText("--input-size 16 --arch tiny")
    dock.browser.table.selectAll()
    assert dock.browser.selected_paths() == sessions
    stages: list[str] = []
    epochs: list[tuple[float, float]] = []
    tf_before = "tensorflow" in sys.modules  # another test of a full run may have loaded it
    children: list[list[str]] = []
    original = loop.ChildRun.__init__

    def spy(self, argv, **kwargs):  # noqa: ANN001, ANN202 - records what ran as a child process
        children.append(list(argv))
        original(self, argv, **kwargs)

    monkeypatch.setattr(loop.ChildRun, "__init__", spy)
    banners: list[str] = []
    window.jobs.stage_changed.connect(stages.append)
    window.jobs.stage_changed.connect(lambda stage: banners.append(window.banner.text))  # after the window's slot
    window.jobs._signals.step.connect(lambda s: epochs.append((s.done, s.total)) if s.stage == "train" else None)
    with qtbot.waitSignal(window.jobs.succeeded, timeout=180000) as done:
        qtbot.mouseClick(dock.train_button, pg.QtCore.Qt.LeftButton)
        assert not dock.train_button.isEnabled()
    assert stages == ["train", "compile", "deploy", "validate"]
    assert banners[-1] == "paused: validating the new model"  # the live stream waits, visibly
    assert (2, 2) in epochs and (1, 2) in epochs  # epoch progress read from the child's output
    assert [argv[:3] for argv in children] == [["train", "--task", "images"]]  # trained in a separate process
    assert tf_before or "tensorflow" not in sys.modules
    text = done.args[0]
    assert "validated 80/80 samples (complete)" in text and "the board's outputs equal the host reference's on 100.0 % of them" in text
    report = json.loads(next((tmp_path / "validation").glob("retrained_*/report.json")).read_text())
    assert report["status"] == "complete" and report["metrics"]["agreement"]["exact_match_rate"] == 1.0
    name = report["model"]["name"]
    assert name.startswith("retrained_") and (window.trained_dir / name / f"{name}.tflite").is_file()
    _records_of(qtbot, window, name)  # live again, on the new model, with the stream resumed
    qtbot.waitUntil(lambda: window.device.model_combo.currentText().startswith(name), timeout=5000)
    assert dock.train_button.isEnabled()


def test_training_errors_are_one_red_line_and_cancel_kills_the_child(qtbot, window: QtMainWindow) -> None:
    window.sessions_dock.train_options.setText("--input-size 16 --arch tiny")
    one_class = _image_sessions(window.record_dock.root, ("only",), frames=8, drain=20)
    with qtbot.waitSignal(window.jobs.failed, timeout=60000) as failed:
        window.train_from_sessions(one_class)
    assert failed.args[0].endswith("training failed: need at least two classes to train a classifier, "
                                   "found ['full']")
    assert window.device.model_combo.count() == 3
    window.train_from_sessions([])
    assert "select the sessions to train on first" in window.messages.texts()[0]

    two = _image_sessions(window.record_dock.root, ("c", "d"))
    window.sessions_dock.epochs.setValue(500)
    with qtbot.waitSignal(window.jobs.cancelled, timeout=60000) as cancelled:
        window.train_from_sessions(two)
        qtbot.waitUntil(lambda: window.jobs.running and window.jobs._canceller._child is not None, timeout=30000)
        child = window.jobs._canceller._child
        qtbot.wait(1000)  # the child is importing TensorFlow
        assert child.proc.poll() is None
        qtbot.mouseClick(window.jobs.cancel_button, pg.QtCore.Qt.LeftButton)
    assert "cancelled" in cancelled.args[0]
    assert child.proc.poll() is not None and child.killed  # the training process is gone
    assert window.device.model_combo.count() == 3 and not window.jobs.running
    _records_of(qtbot, window, "mean64")


def test_a_board_without_upload_slots_is_told_before_any_work(qtbot, open_window, kit, tmp_path: Path) -> None:
    """An older firmware (protocol 1.0, no upload capability): Deploy… and Train from selected say so in red,
    and no training child starts."""
    port = kit.ScriptedPort()
    controller = QtLinkController("scripted://", lambda: open_source(SOURCE), opener=kit.opener_for(port),
                                  source_spec=SOURCE)
    window = open_window(controller)
    window.trained_dir = tmp_path / "trained"
    try:
        qtbot.waitUntil(lambda: window.display.displayed >= 2, timeout=20000)
        with qtbot.waitSignal(window.jobs.failed, timeout=30000) as refused:
            window.deploy_file(ZOO / "sine" / "sine.tflite")
        assert "has no upload slots: flash a firmware with upload support" in refused.args[0]
        sessions = _image_sessions(tmp_path / "s", ("a",), frames=4)
        with qtbot.waitSignal(window.jobs.failed, timeout=10000) as told:
            window.train_from_sessions(sessions)
        assert "has no upload slots" in told.args[0] and not window.trained_dir.exists()
        assert window.messages.rows[0].error and window.device.model_combo.count() == 1
        shown = window.display.displayed
        qtbot.waitUntil(lambda: window.display.displayed > shown + 2, timeout=10000)  # the model still answers
    finally:
        window.close()


def test_the_toolbar_action_deploys_a_container_picked_in_the_file_dialog(qtbot, window: QtMainWindow,
                                                                          tmp_path: Path, monkeypatch) -> None:
    from PySide6 import QtWidgets

    from edgeloop.app.link.deploy import load_container
    from edgeloop.models.compiler.container import save_container

    elmc = tmp_path / "fall.elmc"
    save_container(load_container(ZOO / "fall" / "fall.tflite"), elmc)
    asked: list[str] = []
    monkeypatch.setattr(QtWidgets.QFileDialog, "getOpenFileName",
                        lambda *a, **k: (asked.append(a[3]) or str(elmc), ""))
    with qtbot.waitSignal(window.jobs.succeeded, timeout=30000) as done:
        window.deploy_action.trigger()
    assert "*.elmc" in asked[0] and "*.onnx" in asked[0]
    assert "deployed fall as model 3" in done.args[0] and "labels" in done.args[0]
    assert window.settings.value("deploy/folder") == str(tmp_path)
    # The fall detector takes IMU windows: selecting it brought an IMU source, and it answers.
    _records_of(qtbot, window, "fall")
    assert window.controller.source_kind == "imu"
    # A float model asks for calibration data; cancelling that dialog deploys nothing.
    monkeypatch.setattr(QtWidgets.QFileDialog, "getOpenFileName",
                        lambda *a, **k: (str(ZOO / "sine" / "sine_float.tflite"), ""))
    monkeypatch.setattr(QtWidgets.QFileDialog, "getExistingDirectory", lambda *a, **k: "")
    window.deploy_action.trigger()
    assert not window.jobs.running
