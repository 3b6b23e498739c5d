"""Sources: each opens, yields timestamped numpy data, and fails clearly on bad input."""

from __future__ import annotations

import errno
import os
import socket
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import serial

from edgeloop.app.link.ports import PortInfo, rank_ports
from edgeloop.app.live.sources import ImageFrame, ImuSamples, SourceError, open_source, parse_spec
from edgeloop.app.live.sources.imu_stream import SerialImuSource, UdpImuSource, parse_imu_line
from edgeloop.app.link.transport import PortBusy, PortNotFound, PortPermissionDenied, explain_open_error, open_serial
from edgeloop.models.data.imu_csv import ImuRecording, write_imu_csv

pytestmark = pytest.mark.timeout(60)


def test_synthetic_bottle_scene_drains_then_empties_and_is_paced() -> None:
    src = open_source("synthetic:bottles?fps=50&drain=0.2&gap=0.1&frames=17")
    start = time.monotonic()
    frames = list(src)
    elapsed = time.monotonic() - start
    assert len(frames) == 17 and src.finished
    assert all(isinstance(f, ImageFrame) and f.data.shape == (96, 96, 3) and f.data.dtype == np.uint8
               for f in frames)
    fills = [f.meta["fill"] for f in frames]
    assert fills[0] == pytest.approx(1.0) and fills[1] < fills[0]  # draining
    assert fills[10] is None and frames[10].meta["label"] == "no_bottle"  # taken away after 0.2 s
    assert frames[14].meta["scene"] == 0 and frames[15].meta["scene"] == 1  # a new bottle hangs, full
    assert frames[15].meta["fill"] == pytest.approx(1.0)
    assert [f.index for f in frames] == list(range(17))
    assert all(b.timestamp > a.timestamp for a, b in zip(frames, frames[1:]))
    assert elapsed >= 16 / 50 * 0.9  # paced at 50 fps, not as fast as rendering allows
    assert not np.array_equal(frames[0].data, frames[9].data)


def test_synthetic_bottles_reject_bad_options() -> None:
    with pytest.raises(ValueError, match="split"):
        open_source("synthetic:bottles?split=holdout")
    with pytest.raises(ValueError, match="unknown option"):
        open_source("synthetic:bottles?colour=red")


def _write_video(path: Path, frames: int = 6) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (64, 48))
    for i in range(frames):
        writer.write(np.full((48, 64, 3), (i * 40) % 256, np.uint8))
    writer.release()


def test_video_file_yields_all_frames_then_ends(tmp_path: Path) -> None:
    path = tmp_path / "clip.avi"
    _write_video(path)
    src = open_source(f"video:{path}?realtime=0")
    frames = list(src)
    assert len(frames) == 6 and frames[0].data.shape == (48, 64, 3)
    assert frames[5].data.mean() > frames[0].data.mean()
    looping = open_source(f"{path}?realtime=0&loop=1")
    assert len([looping.read(timeout=1) for _ in range(9)]) == 9 and not looping.finished
    looping.close()


def test_video_file_errors_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="not found"):
        open_source(f"video:{tmp_path / 'missing.mp4'}")
    bad = tmp_path / "notes.mp4"
    bad.write_text("this is not a video")
    with pytest.raises(SourceError, match="not a video OpenCV can decode"):
        open_source(str(bad))


def test_image_folder_reports_class_labels_and_bad_files(tmp_path: Path) -> None:
    for label, value in (("full", 200), ("empty", 20)):
        (tmp_path / label).mkdir()
        cv2.imwrite(str(tmp_path / label / "a.png"), np.full((10, 12, 3), value, np.uint8))
    frames = list(open_source(f"images:{tmp_path}?fps=0"))
    assert [f.meta["label"] for f in frames] == ["empty", "full"]
    assert frames[1].data.shape == (10, 12, 3) and frames[1].data.mean() == 200
    (tmp_path / "full" / "b.png").write_bytes(b"garbage")
    with pytest.raises(SourceError, match="cannot decode image .*b.png"):
        list(open_source(str(tmp_path) + "?fps=0"))
    empty = tmp_path / "none"
    empty.mkdir()
    with pytest.raises(SourceError, match="no images"):
        open_source(f"images:{empty}")


def test_missing_camera_is_a_clear_error() -> None:
    with pytest.raises(SourceError, match="cannot open camera 97.*synthetic:bottles"):
        open_source("camera:97")


@pytest.mark.parametrize("line, expected", [
    ("0.1,-0.98,0.02,1.5,-0.3,0", [0.1, -0.98, 0.02, 1.5, -0.3, 0.0]),
    ("0.1\t-0.98\t0.02\t1.5\t-0.3\t0", [0.1, -0.98, 0.02, 1.5, -0.3, 0.0]),
    ("0.1 -0.98 0.02 1.5 -0.3 0 12.5", [0.1, -0.98, 0.02, 1.5, -0.3, 0.0]),
    ("gz:3 gy:2 gx:1 az:0.5 ay:-1 ax:0.25", [0.25, -1, 0.5, 1, 2, 3]),
    ("acc_x=1e-1, acc_y=2, acc_z=3, gyro_x=4, gyro_y=5, gyro_z=6", [0.1, 2, 3, 4, 5, 6]),
    ("t:0.5 a:1 b:2 c:3 d:4 e:5 f:6", [0.5, 1, 2, 3, 4, 5]),
])
def test_imu_line_formats(line: str, expected: list[float]) -> None:
    assert parse_imu_line(line) == pytest.approx(expected)


def test_imu_line_rejects_text_and_short_lines() -> None:
    assert parse_imu_line("ax,ay,az,gx,gy,gz") is None
    assert parse_imu_line("# comment") is None
    assert parse_imu_line("1,2,3") is None
    assert parse_imu_line("12.0,1,2,3,4,5,6", skip=1) == pytest.approx([1, 2, 3, 4, 5, 6])


def test_serial_imu_stream_over_loop_url() -> None:
    src = SerialImuSource("loop://", rate_hz=100)
    try:
        src._port.write(b"boot v1.2\r\n0,0,1,0,0,0\r\n0.5,0,1,10,0,0\r\n0.2,0.1")
        chunk = src.read(timeout=2)
        assert isinstance(chunk, ImuSamples) and chunk.rate_hz == 100
        assert chunk.data.shape == (2, 6) and chunk.data[1, 3] == 10
        assert src.bad_lines == 1  # the boot banner
        src._port.write(b",1,0,0,0\n")  # the rest of the split line arrives later
        assert src.read(timeout=2).data[0] == pytest.approx([0.2, 0.1, 1, 0, 0, 0])
    finally:
        src.close()


def test_serial_imu_rate_is_measured_when_not_given() -> None:
    src = SerialImuSource("loop://")
    try:
        assert src.rate_hz == 0.0
        for _ in range(12):  # 5 samples every 50 ms: 100 Hz
            src._port.write(b"0,0,1,0,0,0\n" * 5)
            src.read(timeout=1)
            time.sleep(0.05)
        assert 60 < src.rate_hz < 130
    finally:
        src.close()


def test_serial_imu_missing_and_busy_ports() -> None:
    with pytest.raises(SourceError, match="not found"):
        SerialImuSource("/dev/ttyEDGELOOP_NONE")
    master, slave = os.openpty()
    try:
        name = os.ttyname(slave)
        first = SerialImuSource(name)
        try:
            with pytest.raises(SourceError, match="busy"):
                SerialImuSource(name)
        finally:
            first.close()
    finally:
        os.close(master)
        os.close(slave)


def test_udp_imu_stream_and_busy_port() -> None:
    src = UdpImuSource("127.0.0.1", 0, rate_hz=50, accel_scale=1 / 9.80665)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            tx.sendto(b"9.80665,0,0,1,2,3\n0,9.80665,0,4,5,6", src.address)
        chunk = src.read(timeout=2)
        assert chunk.data.shape == (2, 6)
        assert chunk.data[0, 0] == pytest.approx(1.0) and chunk.data[1, 1] == pytest.approx(1.0)
        with pytest.raises(SourceError, match="already in use"):
            UdpImuSource("127.0.0.1", src.address[1])
    finally:
        src.close()


def test_imu_csv_replay_and_bad_file(tmp_path: Path) -> None:
    n = 50
    rec = ImuRecording(t=np.arange(n) / 100, data=np.tile(np.arange(6, dtype=np.float32), (n, 1)),
                       labels=np.array(["still"] * 25 + ["walking"] * 25, dtype=object), rate_hz=100)
    path = tmp_path / "rec.csv"
    write_imu_csv(path, rec)
    chunks = list(open_source(f"{path}?speed=0"))
    assert sum(len(c.data) for c in chunks) == n and chunks[0].rate_hz == 100
    assert chunks[0].meta["label"] == "still" and chunks[-1].meta["label"] == "walking"
    assert np.array_equal(np.concatenate([c.data for c in chunks]), rec.data)
    bad = tmp_path / "bad.csv"
    bad.write_text("t,x\n1,2\n")
    with pytest.raises(SourceError, match="cannot replay"):
        open_source(str(bad))


def test_synthetic_imu_yields_labelled_chunks() -> None:
    src = open_source("synthetic:imu?task=activity&speed=0")
    chunk = src.read(timeout=10)
    src.close()
    assert chunk.data.shape == (5, 6) and chunk.rate_hz == 100 and chunk.meta["label"]
    assert 0.3 < float(np.linalg.norm(chunk.data[:, :3], axis=1).mean()) < 3  # gravity is there, in g


def test_close_from_another_thread_ends_iteration() -> None:
    import threading

    src = SerialImuSource("loop://")
    threading.Timer(0.2, src.close).start()
    assert list(src) == [] and src.closed


def test_spec_parsing() -> None:
    assert parse_spec("bottles") == ("synthetic", "bottles", {})
    assert parse_spec("0") == ("camera", "0", {})
    assert parse_spec("udp:0.0.0.0:5555?rate=100") == ("udp", "0.0.0.0:5555", {"rate": "100"})
    with pytest.raises(ValueError, match="cannot tell what source"):
        parse_spec("mystery.xyz")
    with pytest.raises(ValueError, match="needs a port number"):
        open_source("udp:host")


def test_transport_errors_say_what_to_do() -> None:
    denied = explain_open_error("/dev/ttyACM0", serial.SerialException(errno.EACCES, "[Errno 13] Permission denied"))
    assert isinstance(denied, PortPermissionDenied) and "dialout" in str(denied) and "log out" in str(denied)
    busy = explain_open_error("/dev/ttyACM0", serial.SerialException(errno.EBUSY, "busy"))
    assert isinstance(busy, PortBusy) and "another program" in str(busy)
    with pytest.raises(PortNotFound, match="edgeloop ports"):
        open_serial("/dev/ttyEDGELOOP_NONE")
    master, slave = os.openpty()
    try:
        held = open_serial(os.ttyname(slave))
        with pytest.raises(PortBusy):
            open_serial(os.ttyname(slave))
        held.close()
    finally:
        os.close(master)
        os.close(slave)


def test_ports_rank_stlink_first() -> None:
    ports = [PortInfo("/dev/ttyS0", "n/a", None, None, None, None),
             PortInfo("/dev/ttyUSB0", "CP2102", 0x10C4, 0xEA60, None, None),
             PortInfo("/dev/ttyACM1", "STLINK-V3", 0x0483, 0x374E, "X", "STMicroelectronics")]
    ranked = rank_ports(ports)
    assert [p.device for p in ranked] == ["/dev/ttyACM1", "/dev/ttyUSB0", "/dev/ttyS0"]
    assert "ST-LINK" in ranked[0].label() and "[0483:374e]" in ranked[0].label()


def test_paced_bottle_scene_behaves_like_a_camera() -> None:
    paced, unpaced, forced = (open_source("synthetic:bottles?fps=30"), open_source("synthetic:bottles?fps=0"),
                              open_source("synthetic:bottles?fps=30&live=0"))
    assert paced.live and not unpaced.live and not forced.live
    for src in (paced, unpaced, forced):
        src.close()


def test_session_source_replays_a_recorded_session(tmp_path: Path) -> None:
    from edgeloop.app.sessions.recording import LabelSet, Recorder

    session = tmp_path / "bottle-1"
    with open_source("synthetic:bottles?fps=0&frames=6&seed=1") as scene:
        recorded = list(scene)
    with Recorder(session, LabelSet(), kind="image", label_from_source=True) as rec:
        for capture in recorded:
            rec.add_capture(capture)
    assert parse_spec(f"session:{session}?speed=0")[:2] == ("session", str(session))
    assert parse_spec(str(session))[0] == "session"  # a bare session folder is a session, not an image folder
    for spec in (f"session:{session}?speed=0", f"{session}?speed=0"):
        with open_source(spec) as src:
            frames = list(src)
        assert [f.meta["session"] for f in frames] == ["bottle-1"] * 6
        assert [f.meta["label"] for f in frames] == [c.meta["label"] for c in recorded]
        assert all(np.array_equal(f.data, c.data) for f, c in zip(frames, recorded))  # PNG is lossless, RGB kept
    with open_source(f"session:{session}?speed=0&loop=1") as src:
        looped = [src.read(timeout=2) for _ in range(9)]  # past the 6 recorded frames
    assert all(f is not None for f in looped) and looped[6].meta["file"] == looped[0].meta["file"]
    with pytest.raises(ValueError, match="unknown option.*bogus"):
        open_source(f"session:{session}?bogus=1")
    with pytest.raises(ValueError, match="not a recorded session"):
        open_source(f"session:{tmp_path}")
    with pytest.raises(ValueError, match="needs a folder"):
        open_source("session:")
