"""The README flow (`edgeloop board`, then `run`/`gui --port`) runs the zoo's models, and a model that
does not fit the source is replaced by one that does, or refused with what to do (issue 15, item 8)."""

from __future__ import annotations

import subprocess
import sys

import pytest

import edgeloop
from edgeloop.app.link.firmware_build import default_models, zoo_models
from edgeloop.app.link.session import Session
from edgeloop.app.live.source_choice import matching_source, mismatch_hint, model_for_source, source_fits

pytestmark = pytest.mark.timeout(300)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgeloop", *args], capture_output=True, text=True, timeout=120,
                          cwd=edgeloop.PACKAGE_ROOT.parent)


def test_a_board_started_without_models_runs_the_zoo(host_board_factory) -> None:
    assert default_models() == zoo_models() and {"bottles_demo", "imu_activity", "fall"} <= set(zoo_models())
    with host_board_factory(target="host") as board, Session(board.url) as session:
        info = session.connect()
    assert [m.name for m in info.models] == zoo_models()
    assert not {"mean64", "mean96"} & {m.name for m in info.models}


def test_run_without_model_picks_one_the_source_feeds(host_board_factory) -> None:
    """The board's active model is the bottle classifier; an IMU stream gets an IMU model instead."""
    with host_board_factory(target="host") as board:
        images = _cli("run", "--port", board.url, "--source", "synthetic:bottles?fps=0", "--frames", "3")
        assert images.returncode == 0, images.stderr
        assert "model bottles_demo" in images.stdout and "3 results, 0 failed" in images.stdout
        imu = _cli("run", "--port", board.url, "--source", "synthetic:imu?task=fall", "--frames", "2")
        assert imu.returncode == 0, imu.stderr
        assert "model fall" in imu.stdout and "2 results, 0 failed" in imu.stdout


def test_source_choice_for_each_input_kind(kit) -> None:
    image, imu = kit.image_model("bottles"), kit.imu_model()
    assert source_fits("image", image) and not source_fits("imu", image) and source_fits(None, imu)
    assert matching_source(image).spec.startswith("synthetic:bottles")
    assert matching_source(imu).spec == "synthetic:imu?task=activity"
    def board(models, active, ids):  # noqa: ANN001, ANN202 - an INFO whose models have these stable ids
        return kit.ScriptedPort(models, proto_minor=1, ids=ids, active=active).info()

    assert model_for_source(board((image, imu), 0, (0, 1)), "imu") == 1
    assert model_for_source(board((image, imu), 1, (0, 1)), "imu") == 1
    assert model_for_source(board((image,), 0, (0,)), "imu") == 0  # none fits: the pipeline's own error says what
    # Ids, not list positions: with slot 3 emptied, the IMU model in slot 4 is the second listed but model 4.
    assert model_for_source(board((image, imu), 0, (0, 4)), "imu") == 4
    assert model_for_source(board((image, imu), 4, (0, 4)), "image") == 0
    hint = mismatch_hint("imu", image)
    assert "takes images but the source gives IMU samples" in hint and "pick" in hint
