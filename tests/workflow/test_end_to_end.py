"""The documented path, end to end: record → merge → train → compile → host board → validate → live demo."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from edgeloop.app.cli import main

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def _edgeloop(*args: str, timeout: float = 240) -> str:
    """Run the CLI in a child process (as a user would), returning stdout; fail with its stderr."""
    proc = subprocess.run([sys.executable, "-m", "edgeloop", *args], capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, f"edgeloop {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr[-3000:]}"
    return proc.stdout


def test_record_train_compile_board_validate_demo(tmp_path: Path) -> None:
    from edgeloop.app.link.boards import start_board
    from edgeloop.app.live.pipeline import Pipeline
    from edgeloop.app.link.session import Session
    from edgeloop.app.sessions.library import SessionReplaySource, load_session

    # 1. Record two labeled sessions from the synthetic bottle scene (ground-truth labels from the scene).
    for name, seed in (("morning", 1), ("evening", 2)):
        _edgeloop("record", "--source", f"synthetic:bottles?fps=0&size=64&drain=3&gap=0.6&seed={seed}",
                  "--out", str(tmp_path / "sessions" / name), "--label-from-source", "--samples", "108",
                  "--no-progress")
    assert load_session(tmp_path / "sessions" / "morning").n_samples == 108
    # 2. Merge them into a training set.
    assert main(["sessions", "merge", str(tmp_path / "sessions"), "--out", str(tmp_path / "set")]) == 0
    labels = json.loads((tmp_path / "set" / "dataset.json").read_text())["labels"]
    assert len(labels) >= 3
    # 3. Train a tiny CNN for two epochs (the plumbing, not the accuracy, is under test).
    _edgeloop("train", "--task", "images", "--data", str(tmp_path / "set"), "--out", str(tmp_path / "model"),
              "--name", "bottle_e2e", "--arch", "tiny", "--input-size", "32", "--epochs", "2", "--no-progress")
    tflite = tmp_path / "model" / "bottle_e2e.tflite"
    assert tflite.is_file()
    # 4. Compile it to C and 5. start a host board with it.
    _edgeloop("compile", str(tflite), "--out", str(tmp_path / "c"))
    with start_board("host", models=[str(tmp_path / "c" / "bottle_e2e.c")]) as board:
        # 6. Validate on the board against the TFLite Micro reference, on the recorded sessions.
        out = tmp_path / "validation"
        _edgeloop("validate", "--port", board.url, "--model", "bottle_e2e", "--tflite", str(tflite),
                  "--data", str(tmp_path / "sessions" / "evening"), "--out", str(out), "--no-progress")
        report = json.loads((out / "report.json").read_text())
        assert report["status"] == "complete" and report["completed"] == 108
        assert report["metrics"]["agreement"]["exact_match_rate"] == 1.0
        assert report["metrics"]["classification"]["labels"] == labels
        # 7. The live demo: a recorded session replayed through the board, as the GUI would show it.
        with Session(board.url) as session:
            session.connect()
            with Pipeline(SessionReplaySource(tmp_path / "sessions" / "morning", speed=0), session) as pipe:
                records = list(pipe.records(limit=20, timeout=60))
        assert len(records) == 20 and all(r.ok for r in records)
        assert all(r.label in labels and r.timing_label == "host clock" for r in records)
