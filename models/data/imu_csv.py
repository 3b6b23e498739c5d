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
recorder write this format; `read_imu_csv()` reads either.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgeloop import EdgeloopError, MissingFileError

IMU_CSV_FORMAT = "edgeloop-imu-csv v1"
CHANNELS: tuple[str, ...] = ("ax", "ay", "az", "gx", "gy", "gz")
HEADER: tuple[str, ...] = ("t", *CHANNELS, "label")
UNITS = "t=s accel=g gyro=dps"


class ImuCsvError(EdgeloopError, ValueError):
    """A file is not valid edgeloop-imu-csv v1; the message names the file, the line and the fix."""


@dataclass
class ImuRecording:
    """One IMU recording: sample times (s), samples (N, 6) in g and dps, one label per sample."""

    t: np.ndarray
    data: np.ndarray
    labels: np.ndarray
    rate_hz: float
    meta: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.t = np.asarray(self.t, np.float64)
        self.data = np.asarray(self.data, np.float32)
        self.labels = np.asarray(self.labels, dtype=object)
        n = len(self.t)
        if self.data.shape != (n, len(CHANNELS)) or self.labels.shape != (n,):
            raise ImuCsvError(f"an IMU recording needs t (N,), data (N, 6) and labels (N,); got "
                             f"{self.t.shape}, {self.data.shape}, {self.labels.shape}")
        if not self.rate_hz > 0:
            raise ImuCsvError(f"rate_hz must be positive, got {self.rate_hz}")

    def __len__(self) -> int:
        return len(self.t)


def write_imu_csv(path: Path | str, rec: ImuRecording) -> None:
    """Write `rec` as edgeloop-imu-csv v1 (accel with 5 decimals, gyro with 4, t with 6)."""
    meta = {"format": IMU_CSV_FORMAT, "rate_hz": _fmt_rate(rec.rate_hz), "units": UNITS}
    meta.update({k: v for k, v in rec.meta.items() if k not in meta})
    buf = io.StringIO()
    for key, value in meta.items():
        if "\n" in str(value) or ":" in key:
            raise ImuCsvError(f"metadata {key!r}: keys may not hold ':' and values may not span lines")
        buf.write(f"# {key}: {value}\n")
    buf.write(",".join(HEADER) + "\n")
    labels = ["" if lab is None else str(lab) for lab in rec.labels]
    if any("," in lab or "\n" in lab or '"' in lab for lab in labels):
        raise ImuCsvError("IMU labels may not contain commas, quotes or newlines")
    d = rec.data
    for i in range(len(rec)):
        buf.write(f"{rec.t[i]:.6f},{d[i, 0]:.5f},{d[i, 1]:.5f},{d[i, 2]:.5f},"
                  f"{d[i, 3]:.4f},{d[i, 4]:.4f},{d[i, 5]:.4f},{labels[i]}\n")
    Path(path).write_text(buf.getvalue(), encoding="utf-8")


def _fmt_rate(rate: float) -> str:
    return str(int(rate)) if float(rate).is_integer() else repr(float(rate))


def read_imu_csv(path: Path | str) -> ImuRecording:
    """Read an edgeloop-imu-csv v1 file; raises ImuCsvError naming the line and what to fix."""
    path = Path(path)
    meta: dict[str, str] = {}
    with path.open(encoding="utf-8", newline="") as fh:
        lines = fh.read().splitlines()
    i = 0
    while i < len(lines) and lines[i].startswith("#"):
        body = lines[i][1:].strip()
        if ":" in body:
            key, value = body.split(":", 1)
            meta[key.strip()] = value.strip()
        i += 1
    if meta.get("format") != IMU_CSV_FORMAT:
        raise ImuCsvError(f"{path}: first lines must include '# format: {IMU_CSV_FORMAT}' "
                          f"(found {meta.get('format')!r}); is this an edgeloop IMU recording?")
    try:
        rate = float(meta["rate_hz"])
    except (KeyError, ValueError) as exc:
        raise ImuCsvError(f"{path}: '# rate_hz: <samples per second>' is missing or not a number") from exc
    if i >= len(lines) or tuple(c.strip() for c in lines[i].split(",")) != HEADER:
        raise ImuCsvError(f"{path}:{i + 1}: expected the header row '{','.join(HEADER)}'")
    header_line = i + 1
    rows = list(csv.reader(lines[header_line:]))
    n = len(rows)
    t = np.empty(n)
    data = np.empty((n, len(CHANNELS)), np.float32)
    labels = np.empty(n, dtype=object)
    for k, row in enumerate(rows):
        if len(row) not in (7, 8):
            raise ImuCsvError(f"{path}:{header_line + k + 1}: expected 8 fields t,ax,ay,az,gx,gy,gz,label, "
                              f"got {len(row)}")
        try:
            t[k] = float(row[0])
            data[k] = [float(v) for v in row[1:7]]
        except ValueError as exc:
            raise ImuCsvError(f"{path}:{header_line + k + 1}: {exc}; samples must be decimal numbers") from exc
        labels[k] = row[7] if len(row) == 8 else ""
    if n > 1 and np.any(np.diff(t) <= 0):
        bad = int(np.flatnonzero(np.diff(t) <= 0)[0]) + 1
        raise ImuCsvError(f"{path}:{header_line + bad + 1}: time does not increase; samples must be in time order")
    return ImuRecording(t=t, data=data, labels=labels, rate_hz=rate, meta=meta)


def find_imu_csvs(paths: Sequence[Path | str]) -> list[Path]:
    """Expand files and folders (searched recursively for *.csv) into a sorted list of CSV files."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found.extend(sorted(p.rglob("*.csv")))
        elif p.is_file():
            found.append(p)
        else:
            raise MissingFileError(f"{p} does not exist")
    if not found:
        raise ImuCsvError(f"no .csv recordings under {', '.join(map(str, paths))}")
    return found
