"""Sensor sources: cameras, video, image folders, IMU streams and replays, synthetic scenes (no Qt).

`open_source(spec)` builds a source from one command-line string::

    synthetic:bottles[?fps=30&size=96&drain=20&seed=0]   a draining IV bottle (no camera needed; live=0 sends
                                                         every frame even when the link is slower)
    synthetic:imu[?task=activity|fall&seed=0]            synthetic IMU stream
    camera:0  |  0  |  camera:rtsp://host/stream          webcam by index or stream URL
    video:clip.mp4  |  clip.mp4  [?loop=1&fps=15]          video file
    images:DIR  |  DIR  [?fps=10&loop=1]                   folder of images (folder-per-class works)
    imu-csv:rec.csv  |  rec.csv  [?speed=1&loop=1]         replay of an edgeloop IMU CSV recording
    imu-serial:/dev/ttyUSB0[?baud=115200&rate=100&skip=0]  IMU lines from a serial port or pyserial URL
    udp:5555  |  udp:0.0.0.0:5555  [?rate=100&skip=0]      IMU lines over UDP (phone sensor apps)
        both take &channels=N or &channels=a+b+c for any 1..64 channels (else the six IMU channels, or the
        names of `name:value` pairs / a header line when the stream gives fewer)
    session:DIR  |  DIR  [?speed=1&loop=0&chunk=0.1]       replay of a recorded session (a folder holding
                                                         session.json; speed 0 = as fast as consumed)

Options common to IMU line streams: `accel_scale` (e.g. 0.10197 for m/s² → g)
and `gyro_scale` (57.2958 for rad/s → dps).
"""

from __future__ import annotations

import re

from pathlib import Path
from urllib.parse import parse_qsl

from edgeloop import InputError
from edgeloop.app.live.sources.base import (
    END,
    IMU_CHANNELS,
    Capture,
    ImageFrame,
    ImuSamples,
    Source,
    SourceError,
)

VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg")

__all__ = ["END", "IMU_CHANNELS", "Capture", "ImageFrame", "ImuSamples", "Source", "SourceError",
           "open_source", "parse_spec"]


def parse_spec(spec: str) -> tuple[str, str, dict[str, str]]:
    """Split `kind:target?key=value&...` into (kind, target, options); infer the kind of a bare target."""
    spec = spec.strip()
    if not spec:
        raise InputError("empty source; try --source synthetic:bottles (see `edgeloop run --help`)")
    body, _, query = spec.partition("?")
    options = dict(parse_qsl(query, keep_blank_values=True))
    kind, sep, target = body.partition(":")
    known = ("synthetic", "camera", "video", "images", "imu-csv", "imu-serial", "udp", "session")
    if sep and kind in known:
        return kind, target, options
    if body in ("bottles", "imu"):
        return "synthetic", body, options
    if body.isdigit():
        return "camera", body, options
    if "://" in body:
        return "camera", body, options
    from edgeloop.app.sessions.recording import SESSION_FILE  # here: recording imports this package's base

    path = Path(body)
    if (path / SESSION_FILE).is_file():
        return "session", body, options
    if path.is_dir():
        return "images", body, options
    if path.suffix.lower() == ".csv":
        return "imu-csv", body, options
    if path.suffix.lower() in VIDEO_SUFFIXES:
        return "video", body, options
    raise InputError(f"cannot tell what source {spec!r} is: use one of {', '.join(k + ':' for k in known)} "
                     f"(e.g. synthetic:bottles, camera:0, video:clip.mp4, imu-serial:/dev/ttyUSB0)")


def _number(options: dict[str, str], key: str, default: float, kind: type = float) -> float:
    if key not in options:
        return default
    try:
        return kind(options.pop(key))
    except ValueError as exc:
        raise InputError(f"source option {key}={options.get(key, '')!r} is not a number") from exc


def _flag(options: dict[str, str], key: str, default: bool = False) -> bool:
    value = options.pop(key, None)
    return default if value is None else value.lower() in ("", "1", "true", "yes", "on")


def _channels(value: object) -> int | tuple[str, ...] | None:
    """`channels=3` (a count) or `channels=emg1+emg2+emg3` (names) of a line source; None: the IMU default."""
    if value is None or value == "":
        return None
    text = str(value)
    if text.isdigit():
        return int(text)
    names = tuple(n for n in re.split(r"[+,\s]+", text) if n)  # a query string turns + into a space
    if not names:
        raise InputError(f"channels={text!r}: give a count (channels=3) or names (channels=emg1+emg2+emg3)")
    return names


def open_source(spec: str, **overrides: object) -> Source:
    """Open the source a spec string describes (see the module doc); raises SourceError/ValueError."""
    kind, target, options = parse_spec(spec)
    options.update({k: str(v) for k, v in overrides.items()})
    source = _build(kind, target, options)
    if options:
        source.close()
        raise InputError(f"unknown option(s) {', '.join(sorted(options))} for a {kind} source")
    return source


def _build(kind: str, target: str, o: dict[str, str]) -> Source:
    if kind == "synthetic":
        if target == "bottles":
            from edgeloop.app.live.sources.synthetic import BottleSceneSource
            frames = o.pop("frames", None)
            return BottleSceneSource(fps=_number(o, "fps", 30.0), size=int(_number(o, "size", 96, int)),
                                     drain_seconds=_number(o, "drain", 20.0), gap_seconds=_number(o, "gap", 2.0),
                                     seed=int(_number(o, "seed", 0, int)), split=o.pop("split", "test"),
                                     frames=int(frames) if frames else None,
                                     live=_flag(o, "live") if "live" in o else None)
        if target == "imu":
            from edgeloop.app.live.sources.imu_replay import SyntheticImuSource
            return SyntheticImuSource(task=o.pop("task", "activity"), seed=int(_number(o, "seed", 0, int)),
                                      speed=_number(o, "speed", 1.0))
        raise InputError(f"unknown synthetic source {target!r}: use synthetic:bottles or synthetic:imu")
    if kind == "camera":
        from edgeloop.app.live.sources.video import CameraSource
        device: int | str = int(target) if target.isdigit() else (target or 0)
        return CameraSource(device, width=int(_number(o, "width", 0, int)), height=int(_number(o, "height", 0, int)))
    if kind == "video":
        from edgeloop.app.live.sources.video import VideoFileSource
        fps = o.get("fps")
        o.pop("fps", None)
        return VideoFileSource(target, fps=float(fps) if fps else None, loop=_flag(o, "loop"),
                               realtime=_flag(o, "realtime", True))
    if kind == "images":
        from edgeloop.app.live.sources.video import ImageFolderSource
        return ImageFolderSource(target, fps=_number(o, "fps", 10.0), loop=_flag(o, "loop"))
    if kind == "session":
        # Imported here: edgeloop.app.sessions.library imports this package's base module (and the data formats).
        from edgeloop.app.sessions.library import SessionReplaySource
        if not target:
            raise InputError("a session source needs a folder: session:sessions/bottle-1")
        return SessionReplaySource(target, speed=_number(o, "speed", 1.0), loop=_flag(o, "loop"),
                                   chunk_s=_number(o, "chunk", 0.1))
    if kind == "imu-csv":
        from edgeloop.app.live.sources.imu_replay import ImuReplaySource
        return ImuReplaySource(target, speed=_number(o, "speed", 1.0), loop=_flag(o, "loop"))
    from edgeloop.app.live.sources.imu_stream import SerialImuSource, UdpImuSource
    common = dict(rate_hz=_number(o, "rate", 0.0), skip=int(_number(o, "skip", 0, int)),
                  accel_scale=_number(o, "accel_scale", 1.0), gyro_scale=_number(o, "gyro_scale", 1.0),
                  channels=_channels(o.pop("channels", None)))
    if kind == "imu-serial":
        return SerialImuSource(target, baudrate=int(_number(o, "baud", 115200, int)), **common)
    host, _, port = target.rpartition(":")
    if not port.isdigit():
        raise InputError(f"UDP source {target!r} needs a port number: udp:5555 or udp:0.0.0.0:5555")
    return UdpImuSource(host or "0.0.0.0", int(port), **common)
