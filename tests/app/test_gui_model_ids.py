"""The window names board models by stable id (SPEC §9.4): the model combo's item data is the id, so a
board whose list skips an id (an emptied upload slot) is addressed right, and results are labelled with
the model that answered."""

from __future__ import annotations

import dataclasses

import pytest

import edgeloop
from edgeloop.app.gui.controller import QtLinkController
from edgeloop.app.gui.main_window import QtMainWindow
from edgeloop.app.link.firmware_build import TEST_MODELS
from edgeloop.app.live.sources import open_source
from edgeloop.app.validate.loop import erase_slot
from edgeloop.protocol.upload import UploadChunk

pytestmark = pytest.mark.timeout(120)

TINY = edgeloop.PACKAGE_ROOT / "models" / "zoo" / "bottles_tiny" / "bottles_tiny.tflite"
SOURCE = "synthetic:bottles?fps=20"


def test_the_model_combo_switches_by_id_on_a_board_with_a_gap(qtbot, kit, open_window) -> None:
    # Models 0 and 4 (slots 3 and 5 empty): the second row of the combo is model 4, not model 1.
    models = (kit.image_model("brightness"), kit.image_model("brightness-rgb", size=12, channels=3))
    port = kit.ScriptedPort(models, proto_minor=1, ids=(0, 4))
    controller = QtLinkController("scripted://", lambda: open_source("synthetic:bottles?fps=30&drain=4"),
                                  opener=kit.opener_for(port))
    window: QtMainWindow = open_window(controller)
    try:
        _switch_both_ways(qtbot, window, port)
    finally:
        window.close()


def _switch_both_ways(qtbot, window: QtMainWindow, port) -> None:  # noqa: ANN001
    qtbot.waitUntil(lambda: window.last_record is not None and window.last_record.ok, timeout=20000)
    combo = window.device.model_combo
    assert [combo.itemData(row) for row in range(combo.count())] == [0, 4]

    combo.activated.emit(1)  # the user picks the second row
    qtbot.waitUntil(lambda: window.last_record.model_index == 4 and window.last_record.ok, timeout=10000)
    record = window.last_record
    assert port.active == 4 and record.model_name == "brightness-rgb"
    assert combo.currentIndex() == 1 and window.device.shown_model_id == 4
    assert window.device.values["model"].text().startswith("brightness-rgb")

    combo.activated.emit(0)  # and back to model 0 in the first row
    qtbot.waitUntil(lambda: window.last_record.model_index == 0 and window.last_record.ok, timeout=10000)
    assert port.active == 0 and window.last_record.model_name == "brightness"


def test_after_a_refused_commit_the_window_no_longer_lists_the_emptied_model(qtbot, open_window,
                                                                             host_board_factory) -> None:
    """Slots 0 and 1 hold bottles_tiny (models 3 and 4, 4 active); a third deploy goes into slot 0, whose
    UPLOAD_BEGIN empties it, and its commit is refused (a corrupted chunk): model 3 must leave the list,
    and the combo's rows then skip it while model 4 keeps serving under its own id."""
    board = host_board_factory(target="host", models=list(TEST_MODELS))
    controller = QtLinkController(board.url, lambda: open_source(SOURCE), model="mean64", source_spec=SOURCE)
    window: QtMainWindow = open_window(controller)
    try:
        qtbot.waitUntil(lambda: window.display.displayed >= 3, timeout=30000)
        for expected in ("as model 3 (slot 0, active)", "as model 4 (slot 1, active)"):
            with qtbot.waitSignal(window.jobs.succeeded, timeout=60000) as done:
                window.deploy_file(TINY)
            assert expected in done.args[0]
        combo = window.device.model_combo
        assert [combo.itemData(row) for row in range(combo.count())] == [0, 1, 2, 3, 4]
        session = controller.session
        request = session.request

        def corrupting(message, **kwargs):  # noqa: ANN001, ANN202 - the first chunk arrives damaged
            if isinstance(message, UploadChunk) and message.offset == 0:
                message = dataclasses.replace(message, data=bytes(b ^ 0xFF for b in message.data))
            return request(message, **kwargs)

        session.request = corrupting
        with qtbot.waitSignal(window.jobs.failed, timeout=60000) as refused:
            window.deploy_file(TINY)
        session.request = request
        assert "sha256" in refused.args[0]
        # The refused upload went into the slot that did not hold the board's active model: slot 0 (model 3)
        # as a rule, slot 1 (model 4) when the window's own SELECT for model 3 reached the board last. Either
        # way that model is gone from the board, the window stops listing it and the other keeps serving.
        ids = controller.session.info.model_ids
        assert len(ids) == 4 and ids[:3] == (0, 1, 2) and ids[3] in (3, 4)
        kept, emptied = ids[3], 7 - ids[3]
        qtbot.waitUntil(lambda: [combo.itemData(row) for row in range(combo.count())] == [0, 1, 2, kept],
                        timeout=5000)
        assert window.info.model_by_id(emptied) is None
        combo.activated.emit(3)  # the last row: the slot model that is left
        qtbot.waitUntil(lambda: window.last_record.ok and window.last_record.model_index == kept, timeout=10000)
        assert window.last_record.model_name == "bottles_tiny" and combo.currentIndex() == 3
        combo.activated.emit(1)  # mean64, then back to the last row
        qtbot.waitUntil(lambda: window.last_record.ok and window.last_record.model_name == "mean64", timeout=10000)
        combo.activated.emit(3)
        qtbot.waitUntil(lambda: window.last_record.ok and window.last_record.model_index == kept, timeout=10000)
        assert window.last_record.model_name == "bottles_tiny"
    finally:
        window.close()
        board.stop()


def test_when_the_live_models_slot_is_erased_the_window_runs_a_model_the_source_feeds(qtbot, open_window,
                                                                                      host_board_factory) -> None:
    """bottles_tiny runs from slot 0 (model 3); erasing the slot makes model 0 (sine, a raw tensor) active:
    the window switches to mean64, which the camera feeds, and says why."""
    board = host_board_factory(target="host", models=list(TEST_MODELS))
    controller = QtLinkController(board.url, lambda: open_source(SOURCE), model="mean64", source_spec=SOURCE)
    window: QtMainWindow = open_window(controller)
    try:
        qtbot.waitUntil(lambda: window.display.displayed >= 3, timeout=30000)
        with qtbot.waitSignal(window.jobs.succeeded, timeout=60000):
            window.deploy_file(TINY)
        qtbot.waitUntil(lambda: window.last_record.ok and window.last_record.model_index == 3, timeout=10000)
        info = erase_slot(controller.session, 0)
        assert info.model_by_id(3) is None and info.active_model == 0
        qtbot.waitUntil(lambda: window.last_record.ok and window.last_record.model_name == "mean64", timeout=10000)
        assert window.controller.pipeline.model_index == 1
        assert [window.device.model_combo.itemData(r) for r in range(window.device.model_combo.count())] == [0, 1, 2]
        assert any("bottles_tiny (model 3) left the board's model list: running mean64 instead" in t
                   for t in window.messages.texts())
    finally:
        window.close()
        board.stop()
