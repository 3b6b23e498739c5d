"""The window names board models by stable id (SPEC §9.4): the model combo's item data is the id, so a
board whose list skips an id (an emptied upload slot) is addressed right, and results are labelled with
the model that answered."""

from __future__ import annotations

import pytest

from edgeloop.app.gui.controller import QtLinkController
from edgeloop.app.gui.main_window import QtMainWindow
from edgeloop.app.live.sources import open_source

pytestmark = pytest.mark.timeout(120)


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
