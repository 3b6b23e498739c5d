"""The committed model zoo: files, claims, fresh held-out accuracy on the oracle, and the compiled C.

Each report's int8 accuracy is re-measured on data no training run saw (fresh scenes with test-split
shapes and backgrounds, fresh IMU subjects) with the TFLite Micro oracle; the margin covers the
sampling error of the small sample (about 3 standard deviations).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import edgeloop
from edgeloop.models.quantize import read_meta
from edgeloop.models.report import Int8Model

ZOO = edgeloop.PACKAGE_ROOT / "models" / "zoo"
# entry -> (int8 target, flash limit, RAM limit); the sine model is a regression (MAE target)
TARGETS = {
    "sine": (0.05, None, None),
    "bottles_demo": (0.95, 64 * 1024, 64 * 1024),
    "bottles_tiny": (0.90, 16 * 1024, None),
    "imu_activity": (0.95, 8 * 1024, None),
    "fall": (0.95, 8 * 1024, None),
}


# Entries whose committed model does not reach its accuracy target yet: the claim test is expected to fail
# (strict: it turns red the day the target is met, so this list must then shrink).
SHORTFALLS: dict[str, str] = {
    "imu_activity": "flash: 8,809 B (Cortex-M7 link 8,850 B) over 8 KB since the FC FUSED path (issue 18, "
                    "fc_fused + fc_body: 2,242 B of its 2,338 B FC code); `compile --kernels small` makes it 6,693 B",
}


def _entries() -> list[str]:
    return sorted(p.parent.name for p in ZOO.glob("*/report.json") if p.parent.name in TARGETS)


def _claim_params() -> list:
    return [pytest.param(e, marks=pytest.mark.xfail(strict=True, reason=SHORTFALLS[e])) if e in SHORTFALLS else e
            for e in _entries()]


def _report(entry: str) -> dict:
    return json.loads((ZOO / entry / "report.json").read_text())


def test_every_target_has_an_entry() -> None:
    assert _entries() == sorted(TARGETS)


@pytest.mark.parametrize("entry", _entries())
def test_entry_files_and_meta(entry: str) -> None:
    d = ZOO / entry
    for name in (f"{entry}.tflite", f"{entry}_float.tflite", f"{entry}.meta.json", "REPORT.md", "README.md",
                 f"c/{entry}.c", f"c/{entry}.h"):
        assert (d / name).is_file(), name
    assert all(p.stat().st_size < 400_000 for p in d.rglob("*") if p.is_file()), "zoo files must stay small"
    meta = read_meta(d / f"{entry}.tflite")
    from edgeloop.models.compiler.meta import parse_meta

    parse_meta(json.loads((d / f"{entry}.meta.json").read_text()))  # the compiler accepts it as is
    assert "edgeloop train" in (d / "README.md").read_text()
    if meta.input_kind == "imu-features":
        assert len(meta.preprocess["feature_norm"]["mean"]) == len(meta.preprocess["channels"]) * 9


@pytest.mark.parametrize("entry", _entries())
def test_int8_is_within_a_point_of_float(entry: str) -> None:
    rep = _report(entry)
    if "accuracy" in rep["int8"]:
        assert rep["float"]["accuracy"] - rep["int8"]["accuracy"] <= 0.01
    else:
        assert rep["int8"]["mae"] <= rep["float"]["mae"] + 0.02
    assert rep["analysis"] and rep["analysis"]["macc"] > 0  # the compiler analysed the committed model


@pytest.mark.parametrize("entry", _claim_params())
def test_report_claims_meet_the_targets(entry: str) -> None:
    rep = _report(entry)
    target, flash, ram = TARGETS[entry]
    if entry == "sine":
        assert rep["int8"]["mae"] <= target
    elif entry == "fall":
        assert rep["int8"]["event_recall"] >= target and rep["int8"]["event_false_alarm"] <= 0.05
    else:
        assert rep["int8"]["accuracy"] >= target
    if flash:
        assert rep["analysis"]["flash_bytes"] <= flash
    if ram:
        assert rep["analysis"]["ram_bytes"] <= ram


@pytest.mark.slow
@pytest.mark.parametrize("entry", _entries())
def test_committed_c_is_what_the_compiler_emits(entry: str, tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "edgeloop", "compile", str(ZOO / entry / f"{entry}.tflite"),
                           "--out", str(tmp_path), "--name", entry], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    for suffix in (".c", ".h"):
        fresh = (tmp_path / f"{entry}{suffix}").read_text()
        committed = (ZOO / entry / "c" / f"{entry}{suffix}").read_text()
        assert fresh == committed, f"models/zoo/{entry}/c/{entry}{suffix} is stale: re-run the compile step of its README"


def _int8(entry: str) -> Int8Model:
    return Int8Model((ZOO / entry / f"{entry}.tflite").read_bytes())


@pytest.mark.slow
def test_sine_on_fresh_points() -> None:
    x = np.linspace(0.05, 2 * np.pi - 0.05, 120, dtype=np.float32)[:, None]
    err = np.abs(_int8("sine").predict(x).ravel() - np.sin(x).ravel())
    assert err.mean() < 0.05 and err.max() < 0.2


@pytest.mark.slow
@pytest.mark.parametrize("entry,n,margin", [("bottles_demo", 150, 0.06), ("bottles_tiny", 150, 0.07)])
def test_bottle_models_on_fresh_held_out_scenes(entry: str, n: int, margin: float) -> None:
    """Fresh scenes with test-split shapes and backgrounds, drawn with a seed no data set used."""
    from edgeloop.models.data.bottles import FILL_LABELS, NO_BOTTLE, label_range, render_bottle, sample_scene
    from edgeloop.models.data.imagesets import to_model_input

    meta = read_meta(ZOO / entry / f"{entry}.tflite")
    size, color = meta.preprocess["image"]["size"], meta.preprocess["image"]["color"]
    xs, ys = [], []
    for i in range(n):
        rng = np.random.default_rng([987_654, i])
        label = FILL_LABELS[i % len(FILL_LABELS)]
        params = sample_scene(rng, "test", container="none" if label == NO_BOTTLE else None, size=size)
        fill = None if label == NO_BOTTLE else float(rng.uniform(*label_range(label)))
        xs.append(to_model_input(render_bottle(fill, params, rng), size, color))
        ys.append(list(meta.labels).index(label))
    acc = float(np.mean(_int8(entry).predict(np.stack(xs)).argmax(-1) == np.array(ys)))
    claim = _report(entry)["int8"]["accuracy"]
    assert acc >= claim - margin, f"{entry}: {acc:.3f} on {n} fresh held-out scenes, report claims {claim:.3f}"


def _fresh_imu_windows(task: str, meta, subjects: int = 2):
    from edgeloop.models.data.imu import activity_recording, fall_recording, make_subject
    from edgeloop.models.features import FeatureNorm
    from edgeloop.models.train.imu import fall_events, label_mapper, labeled_windows

    labels, mapper = label_mapper("imu-activity" if task == "activity" else "fall")
    norm = FeatureNorm.from_json(meta.preprocess["feature_norm"])
    feats, ys, where, events = [], [], [], {}
    for k in range(subjects):
        if task == "activity":
            rec = activity_recording(make_subject(900 + k, 31337), np.random.default_rng([31337, k]))
        else:
            subj = make_subject(900 + k, 31337, accel_range=16.0, gyro_range=2000.0)
            rec = fall_recording(subj, np.random.default_rng([31337, k]))
            events[k] = fall_events(rec.labels.astype(str))
        f, names, starts = labeled_windows(rec, meta.window, meta.hop, mapper)
        feats.append(norm.apply(f))
        ys += [labels.index(n) for n in names]
        where += [(k, s) for s in starts]
    return np.concatenate(feats), np.array(ys), where, events


@pytest.mark.slow
def test_activity_model_on_fresh_subjects() -> None:
    meta = read_meta(ZOO / "imu_activity" / "imu_activity.tflite")
    x, y, _, _ = _fresh_imu_windows("activity", meta)
    acc = float(np.mean(_int8("imu_activity").predict(x).argmax(-1) == y))
    claim = _report("imu_activity")["int8"]["accuracy"]
    assert acc >= claim - 0.06, f"{acc:.3f} on {len(y)} windows of 2 fresh subjects, report claims {claim:.3f}"


@pytest.mark.slow
def test_fall_model_on_fresh_subjects() -> None:
    from edgeloop.models.train.imu import WindowSet, event_metrics

    meta = read_meta(ZOO / "fall" / "fall.tflite")
    x, y, where, events = _fresh_imu_windows("fall", meta)
    pred = _int8("fall").predict(x).argmax(-1)
    ws = WindowSet(rec=[w[0] for w in where], start=[w[1] for w in where])
    m = event_metrics(pred, list(meta.labels).index("fall"), ws, events, meta.window)
    assert m["events"] == 20
    assert m["event_recall"] >= 0.9 and m["event_false_alarm"] <= 0.08, m
