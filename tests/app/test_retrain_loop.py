"""edgeloop.app.validate.loop without a window: the training child's progress, and a cancelled upload."""

from __future__ import annotations

import sys
import threading

import pytest

import edgeloop
from edgeloop.app.link.deploy import load_container
from edgeloop.app.link.firmware_build import TEST_MODELS
from edgeloop.app.link.session import Session
from edgeloop.app.validate.loop import Canceller, LoopCancelled, Step, deploy_container, parse_progress
from edgeloop.protocol import Hello

pytestmark = pytest.mark.timeout(120)

ZOO = edgeloop.PACKAGE_ROOT / "models" / "zoo"


def test_progress_is_read_from_the_trainers_bar() -> None:
    line = ("r1 image-cnn:  33%|███▎      | 1/3 [00:01<00:03,  1.74s/epoch, accuracy=0.3448, loss=2.1510]\r"
            "r1 image-cnn:  67%|██████▋   | 2/3 [00:01<00:01,  1.74s/epoch, accuracy=0.2241]")
    assert parse_progress(line) == ("r1 image-cnn", 2, 3)
    assert parse_progress("note: depth 2 (not 3): a 16×16 input has room for 2 pooling stage(s)") is None
    assert Step("train", 2, 3, "").fraction == pytest.approx(2 / 3) and Step("compile", 0, 0, "").fraction is None


@pytest.mark.slow
def test_a_cancelled_upload_never_becomes_a_model(host_board_factory) -> None:
    """A 45 KB container at 230,400 baud takes two seconds: cancel at a third, and the board lists what it did."""
    blob = load_container(ZOO / "bottles_demo" / "bottles_demo.tflite")
    board = host_board_factory(target="host", models=list(TEST_MODELS), baud=230400, timeout=60)
    try:
        with Session(board.url) as session:
            before = session.connect()
            canceller = Canceller()
            seen: list[Step] = []

            def on_step(step: Step) -> None:
                seen.append(step)
                if (step.fraction or 0) > 0.3:
                    canceller.cancel()

            outcome: list[BaseException] = []
            worker = threading.Thread(target=lambda: _catch(outcome, deploy_container, session, blob,
                                                            on_step=on_step, canceller=canceller))
            worker.start()
            worker.join(60)
            assert outcome and isinstance(outcome[0], LoopCancelled)
            assert max(s.fraction or 0 for s in seen) < 0.9
            info = session.call(Hello())
            assert [m.name for m in info.models] == [m.name for m in before.models]
            assert info.active_model == before.active_model and session.info is before
    finally:
        board.stop()


def _catch(out: list[BaseException], fn, *args, **kwargs) -> None:  # noqa: ANN001
    try:
        fn(*args, **kwargs)
    except BaseException as exc:  # noqa: BLE001 - handed to the test thread
        out.append(exc)


@pytest.mark.slow
def test_a_float_model_is_imported_in_a_child_with_its_calibration_data(tmp_path) -> None:
    """Deploy… of a float model: needs_calibration says so, and the child quantizes it with the data given."""
    import numpy as np

    from edgeloop.app.validate.loop import container_for, needs_calibration
    from edgeloop.models.compiler.container import read_container

    float_model = ZOO / "sine" / "sine_float.tflite"
    assert needs_calibration(float_model) and not needs_calibration(ZOO / "sine" / "sine.tflite")
    calib = tmp_path / "calib.npz"
    np.savez(calib, x=np.linspace(0, 2 * np.pi, 64, dtype=np.float32)[:, None])
    steps: list[Step] = []
    tf_before = "tensorflow" in sys.modules  # another test of a full run may have loaded it
    blob = container_for(float_model, calib=calib, on_step=steps.append)
    assert read_container(blob).name == "sine_float" and steps[0].stage == "compile"
    assert tf_before or "tensorflow" not in sys.modules  # quantized in the child
