"""The recorder: label set and hotkeys, the on-disk formats, crash safety (SIGKILL), full disk, unwritable folder."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeloop.app.sessions import recording
from edgeloop.app.sessions.recording import LabelSet, Recorder, RecordingError, TappedSource
from edgeloop.app.sessions.library import load_session
from edgeloop.models.data.imagesets import load_image_set, read_manifest
from edgeloop.models.data.imu_csv import read_imu_csv

pytestmark = pytest.mark.timeout(120)


def _wait_for(predicate, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


# -- labels --------------------------------------------------------------------------------------------------
def test_label_set_edits_and_hotkeys() -> None:
    changes = []
    labels = LabelSet(["empty", "half"])
    labels.subscribe(lambda: changes.append(labels.current))
    assert labels.current == "empty"
    labels.add("full")
    assert labels.hotkey(3) == "full" and labels.current == "full"
    assert labels.hotkey(9) is None and labels.current == "full"  # no label on key 9: unchanged
    labels.rename("full", "brim")
    assert labels.labels == ("empty", "half", "brim") and labels.current == "brim"
    labels.remove("brim")
    assert labels.current == "empty"
    assert changes[-1] == "empty" and len(changes) == 4
    for bad in ("", "a/b", "x,y", ".hidden", 'q"'):
        with pytest.raises(ValueError):
            labels.add(bad)
    with pytest.raises(ValueError, match="already"):
        labels.add("half")
    with pytest.raises(ValueError, match="1..9"):
        labels.hotkey(0)
    assert LabelSet.parse(" a, b ,c").labels == ("a", "b", "c")


# -- image sessions ------------------------------------------------------------------------------------------
def test_image_recording_spans_pause_snapshot_and_formats(tmp_path: Path, fake_images) -> None:
    out = tmp_path / "s"
    labels = LabelSet(["a", "b"])
    rec = Recorder(out, labels, kind="image", source={"spec": "fake"}, fsync_interval=0.0).start()
    session_json = json.loads((out / "session.json").read_text())
    assert session_json["status"] == "recording" and session_json["labels"] == ["a", "b"]
    captures = list(fake_images(frames=6))
    assert rec.add_capture(captures[0]) == 1          # span, label a
    labels.hotkey(2)
    assert rec.add_capture(captures[1]) == 1          # span, label b
    rec.pause()
    assert rec.add_capture(captures[2]) == 0          # paused: not recorded
    rec.snapshot("a")
    assert rec.add_capture(captures[3]) == 1          # a snapshot works while paused
    assert rec.add_capture(captures[4]) == 0
    rec.resume()
    assert rec.add_capture(captures[5]) == 1
    rec.close()

    lines = [json.loads(x) for x in (out / "manifest.jsonl").read_text().splitlines()]
    assert [(x["label"], x["mode"], x["capture"]) for x in lines] == [
        ("a", "span", 0), ("b", "span", 1), ("a", "snapshot", 3), ("b", "span", 5)]
    assert all(x["file"].startswith(x["label"] + "/") for x in lines)
    assert lines[2]["source"] == {"label": "b", "n": 3}  # source metadata is kept as the source gave it
    # PNGs hold exactly the captured RGB frames.
    for x in lines:
        img = cv2.cvtColor(cv2.imread(str(out / x["file"])), cv2.COLOR_BGR2RGB)
        assert np.array_equal(img, captures[x["capture"]].data)
    final = json.loads((out / "session.json").read_text())
    assert final["status"] == "complete" and final["counts"] == {"a": 2, "b": 2} and final["samples"] == 4
    # The models' image-set reader takes a session folder as it is.
    assert [r.label for r in read_manifest(out)] == ["a", "b", "a", "b"]
    data, names = load_image_set([out], 8, "gray")
    assert names == ["a", "b"] and data["train"][0].shape == (4, 8, 8, 1)
    s = load_session(out)
    assert s.status == "complete" and dict(s.counts) == {"a": 2, "b": 2} and s.n_samples == 4
    with pytest.raises(FileExistsError, match="already holds"):
        Recorder(out, ["a"], kind="image").start()


def test_label_from_source_grows_the_label_set(tmp_path: Path, fake_images) -> None:
    rec = Recorder(tmp_path / "s", LabelSet(), kind="image", label_from_source=True).start()
    for cap in fake_images(frames=4, labels=("x", "y")):
        rec.add_capture(cap)
    rec.close()
    assert rec.labels.labels == ("x", "y") and dict(rec.counts) == {"x": 2, "y": 2}
    with pytest.raises(ValueError, match="at least one label"):
        Recorder(tmp_path / "t", [], kind="image")


# -- IMU sessions ----------------------------------------------------------------------------------------------
def test_imu_recording_is_edgeloop_imu_csv_with_per_sample_labels(tmp_path: Path, fake_imu) -> None:
    labels = LabelSet(["walk", "run"])
    rec = Recorder(tmp_path / "imu", labels, kind="imu", source={"name": "fake imu"}).start()
    chunks = list(fake_imu(chunks=6, size=10, rate=50.0))
    for i, chunk in enumerate(chunks):
        if i == 3:
            labels.select("run")
        if i == 4:
            rec.pause()
        if i == 5:
            rec.resume()
        rec.add_capture(chunk)
    rec.close()
    csv = read_imu_csv(tmp_path / "imu" / "imu.csv")
    assert csv.rate_hz == 50.0 and csv.meta["source"] == "fake imu"
    assert len(csv) == 50 and list(csv.labels).count("walk") == 30 and list(csv.labels).count("run") == 20
    expected = np.concatenate([c.data for k, c in enumerate(chunks) if k != 4])
    assert np.allclose(csv.data, expected, atol=1e-4)
    assert np.all(np.diff(csv.t) > 0)
    assert np.allclose(np.diff(csv.t[:40]), 0.02, atol=1e-6)  # contiguous chunks keep the sample clock
    s = load_session(tmp_path / "imu")
    assert s.kind == "imu" and dict(s.counts) == {"walk": 30, "run": 20} and s.duration_s == pytest.approx(1.0)


def test_tapped_source_hands_over_every_capture(fake_imu) -> None:
    seen = []
    tapped = TappedSource(fake_imu(chunks=3), seen.append)
    assert tapped.kind == "imu"
    got = list(tapped)
    assert [c.index for c in got] == [0, 1, 2] and [c.index for c in seen] == [0, 1, 2]
    assert tapped.finished


# -- crash safety ------------------------------------------------------------------------------------------------
def _spawn(args: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def _manifest_lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def test_sigkill_mid_image_recording_loses_at_most_the_last_sample(tmp_path: Path) -> None:
    from edgeloop.app.live.sources.synthetic import BottleSceneSource

    out = tmp_path / "killed"
    spec = "synthetic:bottles?fps=40&size=32&drain=2&gap=0.5&seed=3"
    proc = _spawn([sys.executable, "-m", "edgeloop", "record", "--source", spec, "--out", str(out),
                   "--label-from-source", "--fsync-interval", "0.2", "--no-progress"], tmp_path)
    try:
        _wait_for(lambda: _manifest_lines(out / "manifest.jsonl") >= 25, 60, "25 recorded samples")
        assert proc.poll() is None, "the recorder must still be running when it is killed"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    raw = (out / "manifest.jsonl").read_bytes()
    lines = raw.split(b"\n")
    complete = [json.loads(x) for x in lines[:-1]]
    if lines[-1]:  # a torn tail is allowed only as the very last, partial line
        with pytest.raises(json.JSONDecodeError):
            json.loads(lines[-1])
    assert len(complete) >= 25
    # Every complete line names a PNG that holds exactly the frame the source rendered.
    src = BottleSceneSource(fps=40, size=32, drain_seconds=2, gap_seconds=0.5, seed=3,
                            frames=max(x["capture"] for x in complete) + 1)
    frames = {c.index: c for c in src}
    for x in complete:
        img = cv2.imread(str(out / x["file"]))
        assert img is not None, f"{x['file']} is not readable"
        assert np.array_equal(cv2.cvtColor(img, cv2.COLOR_BGR2RGB), frames[x["capture"]].data)
        assert x["label"] == frames[x["capture"]].meta["label"]
    assert [x["index"] for x in complete] == list(range(len(complete)))
    s = load_session(out)
    assert s.status == "interrupted" and s.n_samples == len(complete)
    assert len(read_manifest(out)) == len(complete)


_IMU_WRITER = """
import sys, time
import numpy as np
from edgeloop.app.sessions.recording import Recorder
from edgeloop.app.live.sources.base import ImuSamples
rec = Recorder(sys.argv[1], ["still"], kind="imu", fsync_interval=0.1).start()
n = 0
while True:
    k = np.arange(n, n + 20)
    data = np.stack([np.sin(k / 7.0 + c) * (c + 1) for c in range(6)], axis=1)
    rec.add_capture(ImuSamples(data.astype(np.float32), time.monotonic(), n // 20, {}, rate_hz=100.0))
    n += 20
    time.sleep(0.005)
"""


def test_sigkill_mid_imu_recording_keeps_every_written_sample(tmp_path: Path) -> None:
    out = tmp_path / "imu"
    proc = _spawn([sys.executable, "-c", _IMU_WRITER, str(out)], tmp_path)
    try:
        _wait_for(lambda: _manifest_lines(out / "imu.csv") >= 400, 60, "400 IMU rows")
        assert proc.poll() is None
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    assert (out / "imu.csv").read_bytes().endswith(b"\n")  # whole chunks only: no torn row
    csv = read_imu_csv(out / "imu.csv")
    n = len(csv)
    assert n >= 380 and n % 20 == 0
    k = np.arange(n)
    expected = np.stack([np.sin(k / 7.0 + c) * (c + 1) for c in range(6)], axis=1)
    assert np.allclose(csv.data, expected, atol=6e-5)
    assert set(csv.labels) == {"still"}
    assert load_session(out).n_samples == n


# -- failing disks and folders -----------------------------------------------------------------------------------
def test_injected_disk_full_stops_cleanly_and_keeps_what_was_written(tmp_path: Path, monkeypatch,
                                                                     fake_images) -> None:
    out = tmp_path / "s"
    rec = Recorder(out, ["a", "b"], kind="image", fsync_interval=0.0).start()
    captures = list(fake_images(frames=8))
    for cap in captures[:4]:
        rec.add_capture(cap)
    real_write = os.write
    calls = {"n": 0}

    def failing_write(fd: int, data) -> int:
        calls["n"] += 1
        if calls["n"] == 2:  # the PNG goes through; the manifest line gets half written, then ENOSPC
            return real_write(fd, bytes(data)[: len(data) // 2])
        if calls["n"] >= 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(recording.os, "write", failing_write)
    with pytest.raises(RecordingError, match="disk is full") as err:
        rec.add_capture(captures[4])
    assert "4 samples before it are intact" in str(err.value)
    assert rec.state == "failed"
    with pytest.raises(RecordingError):
        rec.add_capture(captures[5])
    monkeypatch.setattr(recording.os, "write", real_write)
    raw = (out / "manifest.jsonl").read_bytes()
    assert raw.endswith(b"\n") and raw.count(b"\n") == 4  # the half line was rolled back
    s = load_session(out)
    assert s.n_samples == 4 and s.torn_lines == 0
    # session.json could not be rewritten on the full disk: the one from start() is intact.
    assert json.loads((out / "session.json").read_text())["status"] == "recording"
    assert s.status == "interrupted"


@pytest.fixture
def tiny_tmpfs(tmp_path: Path):
    """A 256 KiB tmpfs (needs root and mount rights; skipped where the test cannot mount one)."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)],
                                           capture_output=True).returncode != 0:
        pytest.skip("mounting a tmpfs needs root; the injected-ENOSPC test covers the same path")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_really_full_disk_gives_a_clear_error_and_readable_data(tiny_tmpfs: Path) -> None:
    out = tiny_tmpfs / "s"
    rec = Recorder(out, ["noise"], kind="image", fsync_interval=0.0).start()
    rng = np.random.default_rng(0)
    with pytest.raises(RecordingError, match="disk is full"):
        for i in range(1000):  # random 64×64 RGB PNGs barely compress: the tmpfs fills after a few dozen
            image = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
            rec.add_capture(recording.ImageFrame(image, time.monotonic(), i, {}))
    kept = rec.samples
    assert kept > 3
    s = load_session(out)
    assert s.n_samples == kept and s.torn_lines == 0 and s.missing_files == 0
    for x in s.records:
        assert cv2.imread(str(out / x["file"])) is not None


def test_unwritable_folder_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(RecordingError, match="cannot record into"):
        Recorder(blocker / "session", ["a"], kind="image").start()
    if os.geteuid() == 0:
        mnt = tmp_path / "ro"
        mnt.mkdir()
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(mnt)],
                          capture_output=True).returncode == 0:
            try:
                with pytest.raises(RecordingError, match="not writable"):
                    Recorder(mnt / "s", ["a"], kind="image").start()
            finally:
                subprocess.run(["umount", "-l", str(mnt)], capture_output=True)
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(RecordingError, match="not writable"):
            Recorder(locked / "s", ["a"], kind="image").start()


def test_record_cli_writes_a_session_and_reports_counts(tmp_path: Path) -> None:
    from edgeloop.app.cli import main

    out = tmp_path / "cli"
    assert main(["record", "--source", "synthetic:bottles?fps=0&size=24&frames=12", "--out", str(out),
                 "--labels", "x,y", "--label", "y", "--samples", "5", "--no-progress"]) == 0
    s = load_session(out)
    assert s.n_samples == 5 and dict(s.counts) == {"y": 5} and s.status == "complete"
    assert main(["record", "--source", "synthetic:bottles", "--out", str(tmp_path / "z"),
                 "--labels", "x", "--label", "nope"]) == 2


def test_record_with_a_board_stores_predictions_and_labelled_timings(tmp_path: Path, host_board) -> None:
    from edgeloop.app.cli import main

    out = tmp_path / "with_board"
    assert main(["record", "--source", "synthetic:bottles?fps=0&size=64&frames=8", "--out", str(out),
                 "--labels", "x", "--port", host_board.url, "--model", "mean64", "--no-progress"]) == 0
    s = load_session(out)
    assert s.n_samples == 8 and s.board == "host"
    assert s.info["model"]["name"] == "mean64" and s.info["board"]["timing"] == "host clock"
    for entry in s.records:
        p = entry["prediction"]
        assert p["model"] == "mean64" and p["timing"] == "host clock" and p["ticks"]["t_infer"] > 0
        assert p["us"]["t_infer"] == pytest.approx(p["ticks"]["t_infer"] * 1e6 / p["tick_hz"], rel=1e-3)
        # mean64 outputs the image mean: the recorded prediction belongs to the recorded frame
        img = cv2.cvtColor(cv2.imread(str(out / entry["file"])), cv2.COLOR_BGR2GRAY)
        assert float(p["label"].split("=")[1]) == pytest.approx(img.mean() / 255.0, abs=0.03)
