"""`edgeloop validate` against virtual boards: exact agreement, the checks, and a board that dies mid-run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgeloop.app.cli import main
from edgeloop.app.link.session import Session
from edgeloop.app.validate.validator import ValidationError, load_validation_data, validate_on_board
from edgeloop.app.validate.report import write_report

import edgeloop

SINE_TFLITE = edgeloop.PACKAGE_ROOT / "models" / "zoo" / "sine" / "sine.tflite"

pytestmark = pytest.mark.timeout(180)


def test_cli_validates_sine_on_the_host_board(host_board, sine_data: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "report"
    assert main(["validate", "--port", host_board.url, "--model", "sine", "--tflite", str(SINE_TFLITE),
                 "--data", str(sine_data), "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "exact match 100.00 %" in printed and "host clock" in printed
    report = json.loads((out / "report.json").read_text())
    assert report["status"] == "complete" and report["completed"] == 60
    assert report["metrics"]["agreement"]["exact_match_rate"] == 1.0
    lat = report["metrics"]["latency"]
    assert lat["timing"] == "host clock" and lat["per_macc"]["unit"] == "host ns/MACC"
    assert lat["ticks"]["min"] > 0
    # the sine model approximates sin(x): both board and reference are close to the targets
    assert report["metrics"]["regression"]["board"]["mae"] < 0.1
    assert report["metrics"]["regression"]["board"] == report["metrics"]["regression"]["reference"]
    assert (out / "report.html").read_text().count("<svg") == 1


def test_hash_and_shape_mismatches_are_refused(host_board, sine_data: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.tflite"
    other.write_bytes(SINE_TFLITE.read_bytes() + b"\0\0\0\0")  # same graph, different file
    float_model = SINE_TFLITE.with_name("sine_float.tflite")
    with Session(host_board.url) as session:
        info = session.connect()
        data = load_validation_data(sine_data, info.models[0])
        with pytest.raises(ValidationError, match="compiled from a different .tflite"):
            validate_on_board(session, 0, other.read_bytes(), data)
        forced = validate_on_board(session, 0, other.read_bytes(), data, allow_hash_mismatch=True)
        assert forced.status == "complete" and "different .tflite" in forced.warnings[0]
        with pytest.raises(ValidationError, match="input shape mismatch"):
            validate_on_board(session, 0, float_model.read_bytes(), data, allow_hash_mismatch=True)
        with pytest.raises(ValidationError, match="all zeros"):  # the hand-written test model has no hash
            validate_on_board(session, 1, SINE_TFLITE.read_bytes(), data)
    bad = tmp_path / "bad.npz"
    np.savez(bad, x=np.zeros((5, 3), np.float32))
    with pytest.raises(ValidationError, match="not N samples"):
        load_validation_data(bad, info.models[0])
    assert main(["validate", "--port", host_board.url, "--model", "nope", "--tflite", str(SINE_TFLITE),
                 "--data", str(sine_data), "--out", str(tmp_path / "r")]) == 2


@pytest.mark.slow
def test_board_dying_mid_run_keeps_a_partial_report(compiled_sine: Path, tmp_path: Path) -> None:
    from edgeloop.app.link.boards import start_board

    x = np.linspace(0, 6.28, 400, dtype=np.float32)[:, None]
    np.savez(tmp_path / "many.npz", x=x)
    board = start_board("host", models=[str(compiled_sine)])
    try:
        session = Session(board.url)
        session.retries = 0
        with session:
            info = session.connect()
            data = load_validation_data(tmp_path / "many.npz", info.models[0])

            def kill_at_25(done: int, total: int) -> None:
                if done == 25:
                    board.stop()

            result = validate_on_board(session, 0, SINE_TFLITE.read_bytes(), data, progress=kill_at_25,
                                       stall_timeout=5.0)
    finally:
        board.stop()
    assert result.status == "partial" and 25 <= result.completed < 400
    assert "after" in result.error and "of 400 samples" in result.error
    assert result.metrics["agreement"]["samples"] == result.completed
    assert result.metrics["agreement"]["exact_match_rate"] == 1.0
    json_path, html_path = write_report(result, tmp_path / "partial")
    assert json.loads(json_path.read_text())["status"] == "partial"
    assert "Run stopped" in html_path.read_text()


@pytest.mark.qemu
@pytest.mark.slow
def test_qemu_board_matches_the_reference_exactly(compiled_sine: Path, sine_data: Path, tmp_path: Path) -> None:
    from edgeloop.app.link.boards import start_board

    with start_board("qemu", models=[str(compiled_sine)], timeout=120) as board:
        out = tmp_path / "qemu"
        assert main(["validate", "--port", board.url, "--model", "sine", "--tflite", str(SINE_TFLITE),
                     "--data", str(sine_data), "--out", str(out), "--no-progress"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["board"]["board"] == "qemu-mps2-an500"
    assert report["metrics"]["agreement"]["exact_match_rate"] == 1.0
    assert report["metrics"]["agreement"]["max_abs_diff_q"] == 0
    lat = report["metrics"]["latency"]
    assert lat["timing"] == "emulated" and lat["per_macc"]["unit"] == "emulated instructions/MACC"
    assert lat["per_macc"]["value"] > 0
