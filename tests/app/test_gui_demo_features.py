"""Demo and field-trial features of the window: connect from it, pick sources, model switches, panels."""

from __future__ import annotations

import pyqtgraph as pg
import pytest
from PySide6 import QtCore

from edgeloop.app.gui.controller import QtLinkController
from edgeloop.app.link.session import LinkState
from edgeloop.app.live.sources import open_source

pg.setConfigOptions(exitCleanup=False)
pytestmark = pytest.mark.timeout(120)


def test_picking_an_imu_model_while_images_run_brings_an_imu_source(qtbot, open_window, kit) -> None:
    """Issue 15 item 7: the switch happens (with a source that fits), it never silently snaps back."""
    port = kit.ScriptedPort((kit.image_model("bottles"), kit.imu_model()))
    controller = QtLinkController("scripted://", lambda: open_source("synthetic:bottles?fps=30"),
                                  opener=kit.opener_for(port))
    window = open_window(controller)
    try:
        qtbot.waitUntil(lambda: window.display.displayed >= 2, timeout=20000)
        window.device.model_combo.activated.emit(1)
        qtbot.waitUntil(lambda: window.last_record is not None and window.last_record.model_index == 1,
                        timeout=20000)
        assert controller.source_kind == "imu" and window.device.model_combo.currentIndex() == 1
        assert window.views.currentWidget() is window.imu
        assert any("synthetic IMU" in text for text in window.messages.texts())
        qtbot.wait(500)
        assert window.last_record.model_index == 1, "the model must stay switched"
        # Back to the image model: the IMU source cannot feed it, so the bottles come back.
        window.device.model_combo.activated.emit(0)
        qtbot.waitUntil(lambda: window.last_record.model_index == 0 and controller.source_kind == "image",
                        timeout=20000)
    finally:
        window.close()


def test_a_source_the_model_cannot_take_is_refused_with_what_to_do(qtbot, open_window, kit) -> None:
    port = kit.ScriptedPort((kit.image_model("bottles"),))
    controller = QtLinkController("scripted://", lambda: open_source("synthetic:bottles?fps=30"),
                                  opener=kit.opener_for(port))
    window = open_window(controller)
    try:
        qtbot.waitUntil(lambda: window.display.displayed >= 2, timeout=20000)
        window.source_picker.source_requested.emit("synthetic:imu")
        errors = [row.label.text() for row in window.messages.rows if row.error]
        assert errors and "takes images but the source gives IMU samples" in errors[0] and "pick" in errors[0]
        assert controller.source_kind == "image"
    finally:
        window.close()


def test_connect_and_disconnect_from_the_window_without_a_restart(qtbot, open_window, kit) -> None:
    port = kit.ScriptedPort()
    controller = QtLinkController("", lambda: open_source("synthetic:bottles?fps=30"), opener=kit.opener_for(port))
    window = open_window(controller)
    try:
        assert window.banner.text.startswith("pick a board")
        assert [window.board_picker.port_combo.itemData(i)[1] for i in range(window.board_picker.port_combo.count())
                if window.board_picker.port_combo.itemData(i)[0] == "virtual"] == ["host", "qemu"]
        window.board_picker.select("port", "scripted://first")
        qtbot.mouseClick(window.board_picker.connect_button, QtCore.Qt.LeftButton)
        qtbot.waitUntil(lambda: window.display.displayed >= 2, timeout=20000)
        assert window.board_picker.connect_button.text() == "Disconnect"
        qtbot.mouseClick(window.board_picker.connect_button, QtCore.Qt.LeftButton)
        qtbot.waitUntil(lambda: controller.session.state is LinkState.DISCONNECTED, timeout=10000)
        qtbot.waitUntil(lambda: window.board_picker.connect_button.text() == "Connect", timeout=5000)
        assert controller.pipeline is None
        shown = window.display.displayed
        window.board_picker.select("port", "scripted://second")
        qtbot.mouseClick(window.board_picker.connect_button, QtCore.Qt.LeftButton)
        qtbot.waitUntil(lambda: window.display.displayed >= shown + 2, timeout=20000)
        assert controller.url == "scripted://second"
        assert any("connected" in line for line in window.console.lines())
    finally:
        window.close()
    assert window.settings.value("board/value") == "scripted://second"


def test_toolbar_raises_tabbed_docks_and_keeps_its_place(qtbot, open_window, kit) -> None:
    """Issue 15 items 9 and 10: Sessions raises its tab; Pause → Resume does not shift the toolbar."""
    port = kit.ScriptedPort()
    controller = QtLinkController("scripted://", lambda: open_source("synthetic:bottles?fps=30"),
                                  opener=kit.opener_for(port))
    window = open_window(controller)
    try:
        window.record_action.trigger()
        qtbot.waitUntil(window.record_dock.isVisible, timeout=3000)
        window.sessions_action.trigger()  # tabbed behind Record: the button must bring it to the front
        qtbot.waitUntil(lambda: window.sessions_dock.isVisible() and not window.sessions_dock.visibleRegion().isEmpty(),
                        timeout=3000)
        assert window.sessions_action.isChecked()
        record_button = window.findChild(QtCore.QObject, "controls").widgetForAction(window.record_action)
        x_before = record_button.x()
        window.pause_action.trigger()
        qtbot.wait(50)
        assert window.pause_action.text() == "Resume" and record_button.x() == x_before
    finally:
        window.close()


@pytest.mark.slow
def test_window_starts_and_stops_a_virtual_board(qtbot, open_window) -> None:
    """The board picker's "virtual board: host": built, started, connected; Disconnect stops it."""
    controller = QtLinkController("", lambda: open_source("synthetic:bottles?fps=30"))
    window = open_window(controller)
    try:
        window.board_picker.select("virtual", "host")
        qtbot.mouseClick(window.board_picker.connect_button, QtCore.Qt.LeftButton)
        qtbot.waitUntil(lambda: window.display.displayed >= 3, timeout=120000)
        board = controller.board
        assert board is not None and board.running and controller.url == board.url
        assert window.last_record.model_name == "bottles_demo"  # the zoo's models, the bottles for the scene
        assert any("started the host virtual board" in line for line in window.console.lines())
        # Next to the host-clock time: what bottles_demo takes on the ARM image, labelled an estimate.
        qtbot.waitUntil(lambda: "Cortex-M7 ≈" in window.status.text(), timeout=5000)
        assert "(estimate from emulated instructions)" in window.status.text()
        assert "estimate from emulated instructions" in window.device.values["Cortex-M7"].text()
        qtbot.mouseClick(window.board_picker.connect_button, QtCore.Qt.LeftButton)
        qtbot.waitUntil(lambda: not board.running, timeout=20000)
        assert controller.board is None
    finally:
        window.close()


def test_the_window_remembers_the_model_and_its_geometry(qtbot, open_window, kit) -> None:
    models = (kit.image_model("a"), kit.image_model("b", size=4))

    def controller() -> QtLinkController:
        return QtLinkController("scripted://", lambda: open_source("synthetic:bottles?fps=30"),
                                opener=kit.opener_for(kit.ScriptedPort(models)))

    first = open_window(controller())
    try:
        qtbot.waitUntil(lambda: first.display.displayed >= 2, timeout=20000)
        first.device.model_combo.activated.emit(1)
        qtbot.waitUntil(lambda: first.last_record.model_index == 1, timeout=20000)
        first.resize(700, 555)  # within the offscreen platform's 800×800 screen
    finally:
        first.close()
    second = open_window(controller())
    try:
        qtbot.waitUntil(lambda: second.display.displayed >= 2, timeout=20000)
        assert second.last_record.model_name == "b", "the model used last time comes back"
        assert (second.width(), second.height()) == (700, 555)
    finally:
        second.close()
