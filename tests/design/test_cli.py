"""`edgeloop design` end to end on a tiny IMU set, resuming, --status, and every bad-input message."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from .conftest import TINY, design_cmd, run_design


def _one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("edgeloop: error:")]
    assert len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return errors[0]


@pytest.fixture(scope="module")
def designed(imu_set: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    out = tmp_path_factory.mktemp("design") / "run"
    proc = run_design("--data", imu_set, "--out", out, "--flash", "6KB", "--ram", "4KB", "--trials", "4", "--no-distill",
                      *TINY)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out, proc


def test_design_writes_chosen_model_reports_and_validates(designed: tuple[Path, subprocess.CompletedProcess]) -> None:
    out, proc = designed
    d = json.loads((out / "design.json").read_text())
    ch = d["chosen"]
    for key in ("recipe", "cv_accuracy", "cv_spread", "test_accuracy", "flash_bytes", "ram_bytes",
                "latency_ms_estimate"):
        assert ch[key] is not None, key
    assert ch["recipe"]["command"].startswith("edgeloop train --task imu-activity")
    assert ch["flash_bytes"] <= 6 * 1024 and ch["ram_bytes"] <= 4 * 1024
    # sizes measured on the untrained graph before training equal the trained, exported model's (pruned where
    # pruning paid: then the pruned net's, sized before pruning)
    trial = next(t for t in d["trials"] if t["number"] == ch["trial"])
    prune = d["compression"]["channel_pruning"]
    assert ch["flash_bytes"] == (prune["flash_bytes_after"] if prune["applied"] else trial["flash_bytes"])
    assert prune["applied"] or trial["ram_bytes"] == ch["ram_bytes"]
    # the kernel set the trial was sized with is the one the chosen C calls and its recipe records
    assert ch["kernel_set"] == ch["recipe"]["recipe_json"]["kernels"] == "small"
    assert prune["applied"] or ch["kernel_set"] == trial["kernel_set"]
    assert f"Kernel set: {ch['kernel_set']}" in (out / "chosen" / "c" / "chosen.c").read_text()
    assert ch["kernel_set_rule"]["latency_limit_source"].startswith("real time: one hop")
    assert ch["validation"]["bit_exact"] and ch["validation"]["samples"] > 0
    assert 0 <= ch["test_recording_accuracy"] <= 1 and ch["recordings"]
    assert np.asarray(ch["confusion"]).sum() > 0
    assert len(d["trials"]) == 4 and d["pareto"] and len(d["baselines"]) == 2
    assert "skipped" in ch["quantization"]["qat"] or "needed" in ch["quantization"]["qat"]
    comp = d["compression"]
    assert set(comp) == {"quantization_aware_training", "distillation", "channel_pruning"}
    assert comp["distillation"]["why"] == "skipped (--no-distill)"
    html = (out / "report.html").read_text()
    assert html.count("<svg") == 2 and "Every trial" in html and "Baselines" in html and "Compression" in html
    assert (out / "chosen" / "c" / "chosen.c").is_file() and (out / "chosen" / "chosen.tflite").is_file()
    assert "trials (" in proc.stdout and "elapsed" in proc.stdout and "best" in proc.stdout
    # with the small kernel set a 1-D CNN fits 6 KB (the reference conv is ~0.4 KB of code, the optimized
    # one 1.9-4.8 KB per path): no family is left out (test_impossible_budget... checks the note of one that is)
    assert "note: no" not in proc.stdout


def test_rerun_resumes_and_status_reports(designed: tuple[Path, subprocess.CompletedProcess], imu_set: Path) -> None:
    out, _ = designed
    before = json.loads((out / "design.json").read_text())["trials"]
    proc = run_design("--data", imu_set, "--out", out, "--flash", "6KB", "--ram", "4KB", "--trials", "5",
                      "--no-finalize", *TINY)
    assert proc.returncode == 0, proc.stderr
    with sqlite3.connect(out / "study.db") as db:
        n = db.execute("select count(*) from trials").fetchone()[0]
    assert n == 5  # the 4 earlier trials kept, one added
    status = run_design("--data", imu_set, "--out", out, "--status")
    assert status.returncode == 0 and "5 trials" in status.stdout, status.stdout + status.stderr
    assert len(before) == 4


def test_impossible_budget_names_smallest_and_limit(imu_set: Path, tmp_path: Path) -> None:
    proc = run_design("--data", imu_set, "--out", tmp_path / "o", "--flash", "1KB", "--trials", "1")
    line = _one_error_line(proc)
    assert "impossible budget" in line and "--flash to at least" in line
    assert "note: no cnn1d candidate fits" in proc.stdout and "not searched" in proc.stdout
    # the smallest candidate of all the time-series families: a feature MLP on the fewest features
    assert "smallest candidate (feature_mlp)" in line


def test_bad_enqueue_recipe_is_one_line_and_opens_no_study(imu_set: Path, tmp_path: Path) -> None:
    line = _one_error_line(run_design("--data", imu_set, "--out", tmp_path / "o", "--enqueue", tmp_path / "none.json"))
    assert "none.json does not exist" in line
    image = tmp_path / "image.recipe.json"
    image.write_text('{"format": "edgeloop-recipe v1", "task": "bottles", "family": "image-cnn"}')
    line = _one_error_line(run_design("--data", imu_set, "--out", tmp_path / "o", "--enqueue", image))
    assert "image-cnn recipe cannot be a trial on imu data" in line
    assert not (tmp_path / "o" / "study.db").exists()


def test_unreachable_database_names_host_and_driver(imu_set: Path, tmp_path: Path) -> None:
    line = _one_error_line(run_design("--data", imu_set, "--out", tmp_path / "o", "--storage",
                                      "postgresql://nobody@127.0.0.1:9/none", "--trials", "1"))
    assert "127.0.0.1:9" in line and "psycopg" in line


def test_study_on_other_data_is_refused_unless_resume_anyway(designed: tuple[Path, subprocess.CompletedProcess],
                                                            other_imu_set: Path) -> None:
    out, _ = designed
    line = _one_error_line(run_design("--data", other_imu_set, "--out", out, "--status"))
    assert "other data" in line and "--resume-anyway" in line
    ok = run_design("--data", other_imu_set, "--out", out, "--status", "--resume-anyway")
    assert ok.returncode == 0, ok.stderr


def test_zero_trials_in_time_says_why(imu_set: Path, tmp_path: Path) -> None:
    line = _one_error_line(run_design("--data", imu_set, "--out", tmp_path / "o", "--time", "0.1s", "--folds", "3",
                                      "--epochs", "2", "--max-width", "8"))
    assert "no trial finished in the time given" in line and "time ran out" in line


def test_ctrl_c_stops_between_trials_and_keeps_the_study(imu_set: Path, tmp_path: Path) -> None:
    out = tmp_path / "o"
    proc = subprocess.Popen(design_cmd("--data", imu_set, "--out", out, "--trials", "50", *TINY),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    db = out / "study.db"
    while time.monotonic() < deadline:  # wait until a trial is running
        if db.exists():
            try:
                with sqlite3.connect(db, timeout=30) as con:
                    if con.execute("select count(*) from trials where state='RUNNING'").fetchone()[0]:
                        break
            except sqlite3.OperationalError:  # the file exists before Optuna has created its tables
                pass
        time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=240)
    assert proc.returncode == 130, stderr
    assert "stopping after the running trial" in stderr and "Traceback" not in stderr
    with sqlite3.connect(db) as con:
        states = [s for (s,) in con.execute("select state from trials")]
    assert states and "RUNNING" not in states and "FAIL" not in states  # the running trial was finished
