"""The session store: list/show/merge (CLI and API), torn tails, replay as a source, and train's loaders."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from edgeloop.app.cli import main
from edgeloop.app.sessions.recording import LabelSet, Recorder
from edgeloop.app.live.sources import open_source
from edgeloop.app.sessions.library import (
    SessionError,
    SessionReplaySource,
    find_sessions,
    load_session,
    merge_sessions,
)
from edgeloop.models.data.imagesets import load_image_set
from edgeloop.models.data.imu_csv import find_imu_csvs, read_imu_csv

pytestmark = pytest.mark.timeout(60)


def _image_session(path: Path, fake_images, frames: int, labels=("a", "b")) -> Path:
    rec = Recorder(path, LabelSet(), kind="image", source={"spec": "fake"}, label_from_source=True).start()
    for cap in fake_images(frames=frames, labels=labels):
        rec.add_capture(cap)
    rec.close()
    return path


def _imu_session(path: Path, fake_imu, labels=("walk", "run")) -> Path:
    rec = Recorder(path, LabelSet(), kind="imu", source={"name": "fake"}, label_from_source=True).start()
    for cap in fake_imu(chunks=6, size=20, rate=50.0, labels=labels):
        rec.add_capture(cap)
    rec.close()
    return path


def test_list_show_and_merge_image_sessions(tmp_path: Path, fake_images, capsys) -> None:
    root = tmp_path / "sessions"
    _image_session(root / "one", fake_images, 6)
    _image_session(root / "two", fake_images, 4, labels=("b", "c"))
    assert [p.name for p in find_sessions([root])] == ["one", "two"]
    assert main(["sessions", "list", str(root)]) == 0
    table = capsys.readouterr().out
    assert "one" in table and "a:3 b:3" in table and "b:2 c:2" in table
    assert main(["sessions", "show", str(root / "one"), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["counts"] == {"a": 3, "b": 3} and shown["status"] == "complete" and shown["samples"] == 6

    out = tmp_path / "merged"
    assert main(["sessions", "merge", str(root), "--out", str(out), "--rename", "c=a"]) == 0
    assert "10 images (a: 5, b: 5)" in capsys.readouterr().out
    data, labels = load_image_set([out], 8, "gray")  # what `edgeloop train --data OUT` reads
    assert labels == ["a", "b"] and data["train"][0].shape == (10, 8, 8, 1)
    assert np.bincount(data["train"][1]).tolist() == [5, 5]
    manifest = [json.loads(x) for x in (out / "manifest.jsonl").read_text().splitlines()]
    assert {m["session"] for m in manifest} == {"one", "two"}
    with pytest.raises(FileExistsError, match="not empty"):
        merge_sessions([root], out)
    kept = merge_sessions([root], tmp_path / "only_b", labels=["b"])
    assert kept.counts == {"b": 5} and kept.skipped == 5


def test_merge_imu_sessions_gives_csvs_the_trainer_reads(tmp_path: Path, fake_imu, fake_images) -> None:
    _imu_session(tmp_path / "s1", fake_imu)
    _imu_session(tmp_path / "s2", fake_imu, labels=("run", "fall"))
    m = merge_sessions([tmp_path / "s1", tmp_path / "s2"], tmp_path / "set")
    assert m.kind == "imu" and m.counts == {"walk": 60, "run": 120, "fall": 60}
    files = find_imu_csvs([tmp_path / "set"])
    assert [f.name for f in files] == ["s1.csv", "s2.csv"]
    rec = read_imu_csv(files[0])
    assert len(rec) == 120 and rec.meta["session"] == "s1"
    _image_session(tmp_path / "img", fake_images, 2)
    with pytest.raises(SessionError, match="image and IMU"):
        merge_sessions([tmp_path / "s1", tmp_path / "img"], tmp_path / "mixed")


def test_torn_tail_and_missing_png_are_skipped_and_reported(tmp_path: Path, fake_images) -> None:
    path = _image_session(tmp_path / "s", fake_images, 5)
    manifest = path / "manifest.jsonl"
    manifest.write_bytes(manifest.read_bytes() + b'{"file":"a/000099.png","lab')  # power lost mid-line
    first = json.loads(manifest.read_text().splitlines()[0])
    (path / first["file"]).unlink()
    s = load_session(path)
    assert s.n_samples == 4 and s.torn_lines == 1 and s.missing_files == 1
    manifest.write_text(manifest.read_text().replace('"label"', '"label', 1) + "\n")
    with pytest.raises(SessionError, match=r"manifest.jsonl:1: not a JSON line"):
        load_session(path)
    with pytest.raises(SessionError, match="no session.json"):
        load_session(tmp_path)


def test_image_session_replays_as_a_source_with_ground_truth(tmp_path: Path, fake_images) -> None:
    path = _image_session(tmp_path / "s", fake_images, 4)
    originals = list(fake_images(frames=4))
    with open_source(f"session:{path}?speed=0") as src:
        assert isinstance(src, SessionReplaySource) and src.kind == "image" and len(src) == 4
        got = list(src)
    assert [c.meta["label"] for c in got] == ["a", "b", "a", "b"]
    assert all(np.array_equal(g.data, o.data) for g, o in zip(got, originals))
    with open_source(f"session:{path}?speed=0&loop=1") as src:
        assert len([src.read(timeout=1.0) for _ in range(9)]) == 9
    with pytest.raises(ValueError, match="unknown option"):
        open_source(f"session:{path}?bogus=1")


def test_imu_session_replays_in_label_pure_chunks_at_recorded_speed(tmp_path: Path, fake_imu) -> None:
    path = _imu_session(tmp_path / "imu", fake_imu)
    src = SessionReplaySource(path, speed=4.0, chunk_s=0.3)
    assert src.kind == "imu"
    t0 = time.monotonic()
    chunks = list(src)
    elapsed = time.monotonic() - t0
    samples = np.concatenate([c.data for c in chunks])
    rec = read_imu_csv(path / "imu.csv")
    assert np.array_equal(samples, rec.data)
    # Each chunk carries one label, and chunks never cross a label change.
    labels = np.concatenate([[c.meta["label"]] * len(c.data) for c in chunks])
    assert list(labels) == list(rec.labels)
    assert all(c.rate_hz == 50.0 for c in chunks)
    assert 0.4 < elapsed < 2.5  # 2.4 s of samples at 4× speed
