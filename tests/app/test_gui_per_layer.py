"""The device panel's "Per layer…": the active model's steps as bars, timed on the board (issue 17)."""

from __future__ import annotations

import hashlib
from types import SimpleNamespace

import pytest

from edgeloop.app.gui.controller import QtLinkController
from edgeloop.app.gui.per_layer_dialog import QtPerLayerDialog
from edgeloop.app.live.sources import open_source
from edgeloop.models.compiler import compile_bytes
from edgeloop.models.quantize import zoo_dir

pytestmark = pytest.mark.timeout(120)


@pytest.mark.slow
def test_per_layer_shows_one_bar_per_step_of_the_active_model(qtbot, host_board_factory, open_window) -> None:
    tflite = (zoo_dir() / "sine" / "sine.tflite").read_bytes()
    steps = [s.op for s in compile_bytes(tflite, name="sine").graph.steps]
    board = host_board_factory(target="host", models=["sine"])
    try:
        controller = QtLinkController(board.url, lambda: open_source("synthetic:imu"))
        window = open_window(controller)
        try:
            qtbot.waitUntil(lambda: controller.session.info is not None and window.device.per_layer_button.isEnabled(),
                            timeout=30000)
            assert controller.session.info.models[0].hash == hashlib.sha256(tflite).digest()
            with qtbot.waitSignal(window.device.per_layer_requested, timeout=1000):
                window.device.per_layer_button.click()
            dialog = window.per_layer_dialog
            assert dialog is not None
            qtbot.waitUntil(lambda: dialog.profile is not None, timeout=60000)
            assert [name.split(" ", 1)[1] for name, _ in dialog.bars.rows] == steps
            assert [name.split(" ", 1)[0] for name, _ in dialog.bars.rows] == [str(k) for k in range(len(steps))]
            assert all(us is not None and us >= 0 for _, us in dialog.bars.rows)
            assert "host clock" in dialog.heading.text()  # labelled by the board's timing source
            assert dialog.isVisible() and not any(t.startswith("per layer") for t in window.messages.texts())
        finally:
            window.close()
    finally:
        board.stop()


def test_a_board_without_profile_shows_firmware_too_old(qtbot) -> None:
    """A board whose INFO lacks the PROFILE capability: the dialog reports the host's message and closes."""
    from edgeloop.protocol.messages import Capability

    tflite = (zoo_dir() / "sine" / "sine.tflite").read_bytes()
    model = SimpleNamespace(name="sine", hash=hashlib.sha256(tflite).digest(),
                            input=SimpleNamespace(dtype=SimpleNamespace(name="INT8"), size=1, zero_point=-3))
    info = SimpleNamespace(models=[model], capabilities=0, board="host", firmware="fw 1.0",
                           has=lambda cap: cap not in (Capability.PROFILE, Capability.TENSOR_DUMP),
                           model_by_id={0: model}.get)
    session = SimpleNamespace(info=info)
    failures: list[str] = []
    dialog = _open(qtbot, session, failures)
    qtbot.waitUntil(lambda: bool(failures), timeout=10000)
    assert "rebuild and flash the current firmware" in failures[0] and "PROFILE" in failures[0]
    assert dialog.profile is None


def _open(qtbot, session, failures: list[str]) -> QtPerLayerDialog:
    dialog = QtPerLayerDialog(session, 0)
    qtbot.addWidget(dialog)
    dialog.failed.connect(failures.append)
    return dialog


def test_the_window_shows_a_missing_tflite_in_the_message_area(qtbot, kit, open_window) -> None:
    """A scripted board's model has no .tflite anywhere: "Per layer…" says so in the message area."""
    port = kit.ScriptedPort((kit.image_model("brightness"),))
    controller = QtLinkController("scripted://", lambda: open_source("synthetic:bottles?fps=30&drain=4"),
                                  opener=kit.opener_for(port))
    window = open_window(controller)
    try:
        qtbot.waitUntil(lambda: controller.session.info is not None, timeout=10000)
        window.device.per_layer_button.click()
        qtbot.waitUntil(lambda: any(t.startswith("per layer: no .tflite with model 'brightness'")
                                    for t in window.messages.texts()), timeout=10000)
    finally:
        window.close()


def test_a_model_without_its_tflite_is_named(qtbot) -> None:
    model = SimpleNamespace(name="mystery", hash=b"\x01" * 32,
                            input=SimpleNamespace(dtype=SimpleNamespace(name="INT8"), size=4, zero_point=0))
    session = SimpleNamespace(info=SimpleNamespace(models=[model], model_by_id={0: model}.get))
    failures: list[str] = []
    _open(qtbot, session, failures)
    qtbot.waitUntil(lambda: bool(failures), timeout=5000)
    assert failures[0].startswith("no .tflite with model 'mystery''s hash (010101010101")
