"""The edgeloop IMU CSV format, `edgeloop-imu-csv v1` (docs/formats.md is the normative description).

A file is UTF-8 text::

    # format: edgeloop-imu-csv v1
    # rate_hz: 100
    # units: t=s accel=g gyro=dps
    # source: synthetic
    # subject: s007
    t,ax,ay,az,gx,gy,gz,label
    0.000000,0.01234,-0.98012,0.11021,1.2500,-0.3750,0.0000,walking
    ...

Comment lines `# key: value` come first (any order; `format` and `rate_hz`
are required; other keys are free-form metadata). Then the header row,
exactly as above, then one sample per line: time in seconds from the start
of the recording, accelerometer in g, gyroscope in degrees per second, and
a label (may be empty). Both the synthetic generators and the app's
recorder write this format; `read_imu_csv()` reads either (and edgeloop-recording v2 files with any
channels: models/data/recording.py, which this module now wraps).
"""

from __future__ import annotations

import io
from pathlib import Path

from edgeloop.models.data.recording import (
    IMU_CHANNELS, IMU_CSV_FORMAT, IMU_UNITS, Recording, RecordingError, format_rate, find_recordings, read_recording,
)

CHANNELS: tuple[str, ...] = IMU_CHANNELS
HEADER: tuple[str, ...] = ("t", *CHANNELS, "label")
UNITS = IMU_UNITS
__all__ = ["CHANNELS", "HEADER", "IMU_CSV_FORMAT", "UNITS", "ImuCsvError", "ImuRecording", "find_imu_csvs",
           "read_imu_csv", "write_imu_csv"]


ImuCsvError = RecordingError
"""A file is not a valid recording; the message names the file, the line and the fix."""

ImuRecording = Recording
"""One recording; with the default channels, the six IMU channels in g and dps (see recording.Recording)."""


def write_imu_csv(path: Path | str, rec: ImuRecording) -> None:
    """Write `rec` as edgeloop-imu-csv v1 (accel with 5 decimals, gyro with 4, t with 6).

    Only recordings of the six IMU channels fit v1; write others with recording.write_recording (v2).
    """
    if tuple(rec.channels) != CHANNELS:
        raise ValueError(f"edgeloop-imu-csv v1 holds the channels {CHANNELS}, not {rec.channels}; "
                         "use write_recording (edgeloop-recording v2)")
    meta = {"format": IMU_CSV_FORMAT, "rate_hz": format_rate(rec.rate_hz), "units": UNITS}
    meta.update({k: v for k, v in rec.meta.items() if k not in meta and k not in ("file", "case")})
    buf = io.StringIO()
    for key, value in meta.items():
        if "\n" in str(value) or ":" in key:
            raise ValueError(f"metadata {key!r}: keys may not hold ':' and values may not span lines")
        buf.write(f"# {key}: {value}\n")
    buf.write(",".join(HEADER) + "\n")
    labels = ["" if lab is None else str(lab) for lab in rec.labels]
    if any("," in lab or "\n" in lab or '"' in lab for lab in labels):
        raise ValueError("IMU labels may not contain commas, quotes or newlines")
    d = rec.data
    for i in range(len(rec)):
        buf.write(f"{rec.t[i]:.6f},{d[i, 0]:.5f},{d[i, 1]:.5f},{d[i, 2]:.5f},"
                  f"{d[i, 3]:.4f},{d[i, 4]:.4f},{d[i, 5]:.4f},{labels[i]}\n")
    Path(path).write_text(buf.getvalue(), encoding="utf-8")


read_imu_csv = read_recording  # reads v1 and v2 files alike
find_imu_csvs = find_recordings
