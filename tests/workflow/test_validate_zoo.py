"""Every bundled zoo model, compiled into the real ARM image under QEMU, matches TFLite Micro exactly.

This is the acceptance check of on-target validation: the board and the
reference see the very same input bytes (IMU models included, standardised
with the descriptor's input_norm), so any difference is a kernel bug.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgeloop.app.link.boards import start_board
from edgeloop.app.cli import main
from edgeloop.app.link.firmware_build import ZOO_DIR, available_models

ZOO_MODELS = [name for name in available_models() if (ZOO_DIR / name / f"{name}.tflite").is_file()]
IMU_TASKS = {"imu_activity": "activity", "fall": "fall"}
SAMPLES = 24


def _data_for(name: str, meta: dict, tmp: Path) -> Path:
    kind = meta.get("input_kind")
    if name in IMU_TASKS:
        out = tmp / name
        assert main(["dataset", "synth", "imu", "--task", IMU_TASKS[name], "--subjects", "3", "--seed", "11",
                     "--out", str(out), "--no-progress"]) == 0
        return _relabel_for(name, out / "test", tmp / f"{name}_labeled")
    if kind == "image":
        out = tmp / name
        assert main(["dataset", "synth", "bottles", "--n", str(SAMPLES), "--seed", "11", "--out", str(out),
                     "--no-progress"]) == 0
        return out
    x = np.linspace(0.0, 2 * np.pi, SAMPLES, dtype=np.float32).reshape(-1, 1)
    path = tmp / f"{name}.npz"
    np.savez(path, x=x)
    return path


def _relabel_for(name: str, src: Path, dst: Path) -> Path:
    """Per-sample labels mapped to the model's classes, as `edgeloop train` maps them (fall: adl / fall)."""
    from edgeloop.models.data.imu_csv import ImuRecording, find_imu_csvs, read_imu_csv, write_imu_csv
    from edgeloop.models.train.imu import label_mapper

    _, mapper = label_mapper("fall" if name == "fall" else "imu-activity")
    dst.mkdir()
    for path in find_imu_csvs([src]):
        rec = read_imu_csv(path)
        labels = np.array([mapper(str(x)) or "" for x in rec.labels], dtype=object)
        write_imu_csv(dst / path.name, ImuRecording(rec.t, rec.data, labels, rec.rate_hz, rec.meta))
    return dst


@pytest.mark.qemu
@pytest.mark.slow
def test_every_zoo_model_matches_tflite_micro_exactly_on_qemu(tmp_path: Path) -> None:
    assert {"sine", "fall", "imu_activity"} <= set(ZOO_MODELS), ZOO_MODELS
    with start_board("qemu", models=ZOO_MODELS, timeout=180) as board:
        for name in ZOO_MODELS:
            meta = json.loads((ZOO_DIR / name / f"{name}.meta.json").read_text())
            data = _data_for(name, meta, tmp_path)
            out = tmp_path / f"report_{name}"
            assert main(["validate", "--port", board.url, "--model", name, "--tflite",
                         str(ZOO_DIR / name / f"{name}.tflite"), "--data", str(data), "--limit", str(SAMPLES),
                         "--out", str(out), "--no-progress"]) == 0, name
            report = json.loads((out / "report.json").read_text())
            agreement = report["metrics"]["agreement"]
            assert report["status"] == "complete" and report["warnings"] == [], name
            assert agreement["samples"] >= 8, name
            assert agreement["exact_match_rate"] == 1.0 and agreement["max_abs_diff_q"] == 0, name
            assert report["metrics"]["latency"]["timing"] == "emulated"
            if name in IMU_TASKS:  # inputs prepared as the model was trained (standardised features)
                assert report["metrics"]["classification"]["accuracy"]["board"] >= 0.8, name
