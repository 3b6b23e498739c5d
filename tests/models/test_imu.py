"""IMU CSV format and the synthetic activity and fall recordings."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgeloop.models.data.imu import (
    ACTIVITY_LABELS, FALL_EVENT, activity_recording, fall_recording, generate_imu_set, make_subject, subject_split,
)
from edgeloop.models.data.imu_csv import (
    HEADER, IMU_CSV_FORMAT, ImuCsvError, ImuRecording, find_imu_csvs, read_imu_csv, write_imu_csv,
)


def _recording(n: int = 20) -> ImuRecording:
    rng = np.random.default_rng(0)
    data = rng.normal(0, 1, (n, 6)).astype(np.float32) * [1, 1, 1, 100, 100, 100]
    labels = np.array(["walking"] * (n // 2) + [""] * (n - n // 2), dtype=object)
    return ImuRecording(t=np.arange(n) / 50.0, data=data, labels=labels, rate_hz=50,
                        meta={"source": "test", "subject": "s001"})


def test_csv_round_trip(tmp_path: Path) -> None:
    rec = _recording()
    write_imu_csv(tmp_path / "r.csv", rec)
    lines = (tmp_path / "r.csv").read_text().splitlines()
    assert lines[0] == f"# format: {IMU_CSV_FORMAT}" and "# rate_hz: 50" in lines
    assert lines[lines.index(",".join(HEADER)) + 1].startswith("0.000000,")
    back = read_imu_csv(tmp_path / "r.csv")
    assert back.rate_hz == 50 and back.meta["subject"] == "s001" and back.meta["units"] == "t=s accel=g gyro=dps"
    np.testing.assert_allclose(back.t, rec.t, atol=1e-6)
    np.testing.assert_allclose(back.data[:, :3], rec.data[:, :3], atol=1e-5)
    np.testing.assert_allclose(back.data[:, 3:], rec.data[:, 3:], atol=1e-4)
    assert list(back.labels) == list(rec.labels)


@pytest.mark.parametrize("mutate,message", [
    (lambda s: s.replace(IMU_CSV_FORMAT, "something-else"), "format"),
    (lambda s: s.replace("# rate_hz: 50\n", ""), "rate_hz"),
    (lambda s: s.replace("t,ax,ay,az", "time,ax,ay,az"), "header"),
    (lambda s: s.replace("0.020000,", "0.020000x,", 1), r":\d+:"),
    (lambda s: s.replace("0.040000,", "0.000000,", 1), "time does not increase"),
])
def test_reader_names_the_problem(tmp_path: Path, mutate, message: str) -> None:
    write_imu_csv(tmp_path / "r.csv", _recording())
    (tmp_path / "bad.csv").write_text(mutate((tmp_path / "r.csv").read_text()))
    with pytest.raises(ImuCsvError, match=message):
        read_imu_csv(tmp_path / "bad.csv")


def test_writer_rejects_labels_that_break_csv(tmp_path: Path) -> None:
    rec = _recording(4)
    rec.labels[0] = "a,b"
    with pytest.raises(ValueError, match="commas"):
        write_imu_csv(tmp_path / "x.csv", rec)
    with pytest.raises(ValueError, match="N, 6"):
        ImuRecording(t=np.arange(3), data=np.zeros((3, 5)), labels=np.array(["", "", ""]), rate_hz=10)


def test_subjects_differ_and_are_seeded() -> None:
    a, b = make_subject(0, 1), make_subject(1, 1)
    assert a == make_subject(0, 1) and a != b
    rot = np.asarray(a.mount_rotation).reshape(3, 3)
    np.testing.assert_allclose(rot @ rot.T, np.eye(3), atol=1e-9)
    assert [subject_split(i, 20) for i in range(20)].count("test") == 5
    assert subject_split(0, 20) == "train" and subject_split(19, 20) == "test"


def test_activity_recording_units_ranges_and_classes() -> None:
    subj = make_subject(3, 0)
    rec = activity_recording(subj, np.random.default_rng(0), seconds_per_activity=(10, 12))
    assert rec.rate_hz == 100 and set(rec.labels) == set(ACTIVITY_LABELS)
    acc, gyro = rec.data[:, :3], rec.data[:, 3:]
    assert np.abs(acc).max() <= subj.accel_range and np.abs(gyro).max() <= subj.gyro_range
    mag = np.linalg.norm(acc, axis=1)
    still = rec.labels == "still"
    assert abs(np.median(mag[still]) - 1.0) < 0.08  # gravity, in g
    assert np.std(mag[still]) < 0.05
    running = rec.labels == "running"
    assert np.std(mag[running]) > 4 * np.std(mag[still])
    assert np.abs(gyro[running]).max() > 30  # dps
    lsb = subj.accel_range / 32768
    np.testing.assert_allclose(acc[:50] / lsb, np.round(acc[:50] / lsb), atol=0.02)  # 16-bit steps


def test_fall_recording_has_free_fall_impact_and_hard_negatives() -> None:
    subj = make_subject(2, 0, accel_range=8.0, gyro_range=2000.0)
    rec = fall_recording(subj, np.random.default_rng(1), falls=4, adl_each=1)
    assert rec.rate_hz == 200
    labels = rec.labels.astype(str)
    assert {"sit_fast", "jump", "stumble", "lie_down", FALL_EVENT} <= set(labels)
    mag = np.linalg.norm(rec.data[:, :3], axis=1)
    is_fall = labels == FALL_EVENT
    starts = np.flatnonzero(np.diff(is_fall.astype(int)) == 1) + 1
    assert len(starts) == 4
    for s0 in starts:
        span = mag[s0 : s0 + int(1.2 * 200)]
        assert span.min() < 0.5  # near-0 g free fall
        assert span.max() > 2.5  # impact
        after = rec.data[s0 + int(1.6 * 200) : s0 + int(2.0 * 200), :3].mean(axis=0)
        rot = np.asarray(subj.mount_rotation).reshape(3, 3)
        body_up = rot @ np.array([0, 0, 1.0])
        assert abs(np.dot(after, body_up)) < 0.6  # lying: gravity no longer along the body axis
    assert np.abs(rec.data[:, :3]).max() <= 8.0


def test_generated_sets_split_subjects_and_round_trip(tiny_activity: Path, tiny_falls: Path) -> None:
    for root, task in ((tiny_activity, "activity"), (tiny_falls, "fall")):
        manifest = [json.loads(line) for line in (root / "manifest.jsonl").read_text().splitlines()]
        info = json.loads((root / "dataset.json").read_text())
        assert info["task"] == task and info["rate_hz"] == (100 if task == "activity" else 200)
        subjects = {s: {m["subject"] for m in manifest if m["split"] == s} for s in ("train", "val", "test")}
        assert all(subjects.values())
        assert not subjects["train"] & subjects["test"] and not subjects["val"] & subjects["test"]
        files = find_imu_csvs([root])
        assert len(files) == len(manifest)
        rec = read_imu_csv(files[0])
        assert rec.meta["task"] == task and rec.meta["split"] in subjects
    with pytest.raises(ValueError, match="at least 3"):
        generate_imu_set(tiny_activity.parent / "x", "activity", subjects=2, progress=False)
    with pytest.raises(ValueError, match="activity or fall"):
        generate_imu_set(tiny_activity.parent / "y", "swimming", progress=False)


def test_imu_generation_is_deterministic(tmp_path: Path, tiny_activity: Path) -> None:
    generate_imu_set(tmp_path / "again", "activity", subjects=4, seed=5, progress=False)
    assert (tmp_path / "again/test/s003.csv").read_bytes() == (tiny_activity / "test/s003.csv").read_bytes()
