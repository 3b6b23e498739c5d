"""Hosts address board models by stable id, never by list position (SPEC §9.4, issue 19).

A host board with the test models 0-2 (sine, mean64, mean96) and two upload slots (models 3 and 4)
gets bottles_tiny into slot 1 while slot 0 stays empty: the model list is then ids 0, 1, 2, 4, so
the uploaded model is the fourth listed but model 4. `run --model`, validation, per-layer profiling
and the pipeline must all reach model 4 and label its results with its name; erasing the slot while
INFERs are in flight must never make the board run another model in its place.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import threading

import numpy as np
import pytest

import edgeloop
from edgeloop.app.link.deploy import deploy, load_container
from edgeloop.app.link.firmware_build import TEST_MODELS
from edgeloop.app.link.session import Session
from edgeloop.app.live.pipeline import Pipeline, resolve_model_id
from edgeloop.app.live.sources import open_source
from edgeloop.app.validate.per_layer import profile_layers
from edgeloop.app.validate.validator import ValidationData, validate_on_board
from edgeloop.models.reference import run_reference_batch
from edgeloop.protocol import Result
from edgeloop.protocol.upload import SlotErase

pytestmark = pytest.mark.timeout(120)

TFLITE = edgeloop.PACKAGE_ROOT / "models" / "zoo" / "bottles_tiny" / "bottles_tiny.tflite"
GAP_ID = 4  # slot 1's model id: after the compiled-in 0..2 and slot 0's id 3


@pytest.fixture(scope="module")
def gap_board(host_board_factory):
    """A host board whose only uploaded model sits in slot 1 (model 4), slot 0 (model 3) empty, active."""
    board = host_board_factory(target="host", models=list(TEST_MODELS))
    try:
        result = deploy(board.url, load_container(TFLITE), slot=1, timeout=10)
        assert result.model_id == GAP_ID and result.committed.active_model == GAP_ID
        yield board
    finally:
        board.stop()


def _session(board) -> Session:  # noqa: ANN001
    session = Session(board.url)
    session.connect()
    return session


def test_the_board_lists_the_uploaded_model_fourth_under_id_4(gap_board) -> None:
    with _session(gap_board) as session:
        info = session.info
        assert info.model_ids == (0, 1, 2, GAP_ID) and info.models[3].name == "bottles_tiny"
        assert info.model_by_id(3) is None and info.model_by_id(GAP_ID).name == "bottles_tiny"
        assert resolve_model_id(info, "bottles_tiny") == GAP_ID and resolve_model_id(info, None) == GAP_ID
        with pytest.raises(ValueError, match="has no model 3; it has: 0 sine, 1 mean64, 2 mean96, 4 bottles_tiny"):
            resolve_model_id(info, 3)


def test_run_by_name_reaches_the_model_behind_the_gap(gap_board) -> None:
    run = subprocess.run([sys.executable, "-m", "edgeloop", "run", "--port", gap_board.url, "--model", "bottles_tiny",
                          "--source", "synthetic:bottles?fps=0", "--frames", "3"],
                         capture_output=True, text=True, timeout=60, cwd=edgeloop.PACKAGE_ROOT.parent)
    assert run.returncode == 0, run.stderr
    assert "model bottles_tiny" in run.stdout and "3 results, 0 failed" in run.stdout


def test_validate_and_per_layer_address_model_4(gap_board) -> None:
    xs = np.random.default_rng(1).integers(-128, 128, (4, 1, 64, 64, 1), dtype=np.int8)
    data = ValidationData([x.tobytes() for x in xs], np.full(len(xs), -1), [f"x{i}" for i in range(len(xs))], "rng")
    tflite = TFLITE.read_bytes()
    with _session(gap_board) as session:
        session.select_model(0)  # the validated model need not be the active one
        result = validate_on_board(session, GAP_ID, tflite, data)
        assert result.status == "complete", result.error
        assert result.model.name == "bottles_tiny"
        assert np.array_equal(result.board_outputs, run_reference_batch(tflite, xs).reshape(len(xs), -1))
        profile = profile_layers(session, GAP_ID, tflite, data.inputs[0])
        assert profile["steps"] and profile["sum_ticks"] > 0
        session.select_model(GAP_ID)


def test_pipeline_feeds_model_4_and_an_erase_in_flight_never_runs_another_model(gap_board) -> None:
    with _session(gap_board) as session:
        pipe = Pipeline(open_source("synthetic:bottles?fps=0&frames=100"), session, model="bottles_tiny")
        assert pipe.model_index == GAP_ID and pipe.model.name == "bottles_tiny"
        erased = threading.Event()

        def erase_mid_stream() -> None:
            session.call(SlotErase(1), timeout=10)  # model 4 leaves the list; model 0 becomes active
            erased.set()

        records = []
        eraser = threading.Thread(target=erase_mid_stream)
        pipe.start()
        for record in pipe.records(timeout=60):
            records.append(record)
            if len(records) == 5:  # the stream runs, INFERs of model 4 are in flight: erase its slot now
                eraser.start()
        eraser.join()
    assert erased.is_set() and len(records) == 100
    ok = [r for r in records if r.ok]
    assert all(r.model_index == GAP_ID and r.model_name == "bottles_tiny" and len(r.probabilities) == 5
               for r in ok)
    failed = [r for r in records if not r.ok]
    assert failed and all("model" in r.error for r in failed), [r.error for r in failed[:3]]
    # Once the slot was empty, no later input got a result: the board never ran model 0 in its place.
    first_failure = records.index(failed[0])
    assert all(not r.ok for r in records[first_failure:])


@pytest.mark.qemu
def test_on_qemu_a_model_behind_the_gap_is_validated_by_id(host_board_factory) -> None:
    """The same gap on the ARM image under QEMU: model 4 is validated bit-exact by id (two samples)."""
    xs = np.random.default_rng(2).integers(-128, 128, (2, 1, 64, 64, 1), dtype=np.int8)
    data = ValidationData([x.tobytes() for x in xs], np.full(len(xs), -1), ["x0", "x1"], "rng")
    tflite = TFLITE.read_bytes()
    with host_board_factory(target="qemu", models=list(TEST_MODELS), timeout=60) as board:
        assert deploy(board.url, load_container(TFLITE), slot=1, timeout=10).model_id == GAP_ID
        with _session(board) as session:
            assert session.info.model_ids == (0, 1, 2, GAP_ID)
            result = validate_on_board(session, resolve_model_id(session.info, "bottles_tiny"), tflite, data)
    assert result.status == "complete", result.error
    assert np.array_equal(result.board_outputs, run_reference_batch(tflite, xs).reshape(len(xs), -1))


def test_a_result_of_another_model_than_requested_is_never_labelled_as_the_requested_one(kit) -> None:
    """A board that answers INFER of model 4 with model 0's RESULT gets failed records, not model 4's labels."""
    models = (kit.image_model("brightness"), kit.image_model("other"))
    port = kit.ScriptedPort(models, proto_minor=1, ids=(0, 4), active=4)
    answer = port.reply_to

    def wrong_model(seq, msg):  # noqa: ANN001, ANN202
        reply = answer(seq, msg)
        return dataclasses.replace(reply, model=0) if isinstance(reply, Result) else reply

    port.reply_to = wrong_model
    with Session("scripted://", opener=kit.opener_for(port), base_timeout=0.2, retries=0) as session:
        session.connect()
        records = list(Pipeline(open_source("synthetic:bottles?fps=0&frames=3"), session).records(timeout=30))
    assert len(records) == 3 and not any(r.ok for r in records)
    assert all(r.error == "the board answered with model 0, not model 4" for r in records)
