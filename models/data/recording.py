"""Time-series recordings with any channels: `edgeloop-recording v2` (and reading `edgeloop-imu-csv v1`).

docs/formats.md is the normative description. A v2 file is UTF-8 text::

    # format: edgeloop-recording v2
    # rate_hz: 12.5
    # units: ax=g ay=g az=g
    # subject: s007
    # split: train
    t,ax,ay,az,label,case
    0.000000,0.0123,-0.9801,0.1102,walking,c001
    ...

Comment lines `# key: value` first (`format` and `rate_hz` required; `rate_hz`
may be fractional), then the header: `t`, 1 to 64 channel names, `label`,
and optionally `case`. One sample per line. A file holds one recording or,
with a `case` column, several labelled cases; `t` increases strictly within
a case (it may restart at a new case). Windows never cross a case boundary:
`Recording.cases()` splits a file into its cases.

v1 files (`edgeloop-imu-csv v1`, the six IMU channels) read as recordings
with channels ax, ay, az, gx, gy, gz and units g and dps.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgeloop import InputError, MissingFileError

RECORDING_FORMAT = "edgeloop-recording v2"
IMU_CSV_FORMAT = "edgeloop-imu-csv v1"
IMU_CHANNELS: tuple[str, ...] = ("ax", "ay", "az", "gx", "gy", "gz")
IMU_UNITS = "t=s accel=g gyro=dps"
MAX_CHANNELS = 64
RESERVED_COLUMNS = ("t", "label", "case")
_RUNTIME_KEYS = ("format", "rate_hz", "units", "file", "case")  # set by readers, never copied by writers
_CHANNEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,31}$")


class RecordingError(InputError):
    """A file is not a valid recording; the message names the file, the line and the fix."""


def check_channel_names(names: Sequence[str], source: str) -> tuple[str, ...]:
    """Validate 1..64 unique channel names (letters, digits, `_ . -`, not t/label/case)."""
    names = tuple(names)
    if not 1 <= len(names) <= MAX_CHANNELS:
        raise RecordingError(f"{source}: {len(names)} channels; a recording has 1 to {MAX_CHANNELS}")
    for n in names:
        if not _CHANNEL_NAME.match(n) or n in RESERVED_COLUMNS:
            raise RecordingError(f"{source}: channel name {n!r} is not allowed: use up to 32 letters, digits, "
                                 f"'_', '.' or '-', starting with a letter, and not {', '.join(RESERVED_COLUMNS)}")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise RecordingError(f"{source}: channel names {dup} appear more than once; rename them")
    return names


@dataclass
class Recording:
    """One recording: sample times (s), samples (N, C), a label per sample, optional case ids per sample.

    `channels` names the C columns (default: the six IMU channels of v1);
    `units` maps a channel to its unit; `meta` holds the free `# key: value`
    metadata (subject, split, source, ...).
    """

    t: np.ndarray
    data: np.ndarray
    labels: np.ndarray
    rate_hz: float
    meta: dict[str, str] = field(default_factory=dict)
    channels: tuple[str, ...] = IMU_CHANNELS
    units: dict[str, str] = field(default_factory=dict)
    case_ids: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.t = np.asarray(self.t, np.float64)
        self.data = np.asarray(self.data, np.float32)
        if self.data.ndim == 1:
            self.data = self.data[:, None]
        self.labels = np.asarray(self.labels, dtype=object)
        self.channels = tuple(self.channels)
        n = len(self.t)
        if self.data.shape != (n, len(self.channels)) or self.labels.shape != (n,):
            raise RecordingError(f"a recording needs t (N,), data (N, {len(self.channels)}) and labels (N,); got "
                             f"{self.t.shape}, {self.data.shape}, {self.labels.shape}")
        if self.case_ids is not None:
            self.case_ids = np.asarray(self.case_ids, dtype=object)
            if self.case_ids.shape != (n,):
                raise RecordingError(f"case ids must be (N,), got {self.case_ids.shape}")
        if not (self.rate_hz > 0 and math.isfinite(self.rate_hz)):
            raise RecordingError(f"rate_hz must be positive, got {self.rate_hz}")

    def __len__(self) -> int:
        return len(self.t)

    @property
    def name(self) -> str:
        """A short name for messages: the `source` (importers) or `file` (readers) metadata, and the case."""
        if "source" in self.meta:
            return self.meta["source"]
        base = self.meta.get("file", "recording")
        return f"{base} case {self.meta['case']}" if "case" in self.meta else base

    def slice(self, a: int, b: int, **meta: str) -> "Recording":
        """Samples [a, b) as a new recording (metadata copied, then updated with `meta`)."""
        return Recording(self.t[a:b], self.data[a:b], self.labels[a:b], self.rate_hz, {**self.meta, **meta},
                         self.channels, dict(self.units), None if self.case_ids is None else self.case_ids[a:b])

    def cases(self) -> list["Recording"]:
        """The file's cases as separate recordings (meta `case` set), or [self] without a case column."""
        if self.case_ids is None:
            return [self]
        ids = self.case_ids
        bounds = [0, *(np.flatnonzero(ids[1:] != ids[:-1]) + 1).tolist(), len(ids)]
        out = []
        for a, b in zip(bounds, bounds[1:]):
            piece = self.slice(a, b, case=str(ids[a]))
            piece.case_ids = None
            out.append(piece)
        return out


def format_rate(rate: float) -> str:
    """A rate for a `# rate_hz:` line: an integer without decimals, else its shortest repr."""
    return str(int(rate)) if float(rate).is_integer() else repr(float(rate))


def _check_meta(key: str, value: object) -> None:
    if "\n" in str(value) or ":" in key or "\n" in key:
        raise RecordingError(f"metadata {key!r}: keys may not hold ':' and values may not span lines")


def _check_text_field(text: str, what: str) -> None:
    if any(c in text for c in ',"\n\r'):
        raise RecordingError(f"{what} {text!r} may not contain commas, quotes or newlines")


def write_recording(path: Path | str, rec: Recording, digits: int = 6) -> None:
    """Write `rec` as edgeloop-recording v2 (samples with `digits` significant digits, t with 6 decimals)."""
    check_channel_names(rec.channels, str(path))
    meta = {"format": RECORDING_FORMAT, "rate_hz": format_rate(rec.rate_hz)}
    if rec.units:
        meta["units"] = " ".join(f"{c}={u}" for c, u in rec.units.items())
    meta.update({k: v for k, v in rec.meta.items() if k not in (*meta, *_RUNTIME_KEYS)})
    buf = io.StringIO()
    for key, value in meta.items():
        _check_meta(key, value)
        buf.write(f"# {key}: {value}\n")
    with_case = rec.case_ids is not None
    buf.write(",".join(("t", *rec.channels, "label", *(("case",) if with_case else ()))) + "\n")
    labels = ["" if lab is None else str(lab) for lab in rec.labels]
    for lab in set(labels):
        _check_text_field(lab, "label")
    cases = [str(c) for c in rec.case_ids] if with_case else None
    for c in set(cases or ()):
        _check_text_field(c, "case id")
    fmt = f"{{:.{digits}g}}"
    for i in range(len(rec)):
        row = [f"{rec.t[i]:.6f}", *(fmt.format(v) for v in rec.data[i].tolist()), labels[i]]
        if cases is not None:
            row.append(cases[i])
        buf.write(",".join(row) + "\n")
    Path(path).write_text(buf.getvalue(), encoding="utf-8")


def _parse_units(text: str) -> dict[str, str]:
    out = {}
    for part in text.split():
        key, sep, value = part.partition("=")
        if sep:
            out[key] = value
    return out


def read_recording(path: Path | str) -> Recording:
    """Read an edgeloop-recording v2 or edgeloop-imu-csv v1 file; errors name the line and the fix."""
    path = Path(path)
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            lines = fh.read().splitlines()
    except UnicodeDecodeError as exc:
        raise RecordingError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); "
                             "import it with `edgeloop dataset import`") from None
    meta: dict[str, str] = {}
    i = 0
    while i < len(lines) and lines[i].startswith("#"):
        body = lines[i][1:].strip()
        if ":" in body:
            key, value = body.split(":", 1)
            meta[key.strip()] = value.strip()
        i += 1
    fmt = meta.get("format")
    if fmt not in (RECORDING_FORMAT, IMU_CSV_FORMAT):
        raise RecordingError(f"{path}: first lines must include '# format: {RECORDING_FORMAT}' (or "
                             f"{IMU_CSV_FORMAT}); found {fmt!r}. Other CSV files: `edgeloop dataset import`")
    try:
        rate = float(meta["rate_hz"])
        if not (rate > 0 and math.isfinite(rate)):
            raise ValueError
    except (KeyError, ValueError) as exc:
        raise RecordingError(f"{path}: '# rate_hz: <samples per second>' is missing or not a positive number") \
            from exc
    header = tuple(c.strip() for c in lines[i].split(",")) if i < len(lines) else ()
    if fmt == IMU_CSV_FORMAT:
        expected = ("t", *IMU_CHANNELS, "label")
        if header != expected:
            raise RecordingError(f"{path}:{i + 1}: expected the header row '{','.join(expected)}'")
        channels, with_case = IMU_CHANNELS, False
        units = {c: ("g" if c.startswith("a") else "dps") for c in IMU_CHANNELS}
    else:
        with_case = header[-1:] == ("case",)
        core = header[:-1] if with_case else header
        if len(core) < 3 or core[0] != "t" or core[-1] != "label":
            raise RecordingError(f"{path}:{i + 1}: expected the header row 't,<channels...>,label[,case]', "
                                 f"got {','.join(header)!r}")
        channels = check_channel_names(core[1:-1], f"{path}:{i + 1}")
        units = _parse_units(meta.get("units", ""))
    n_fields = len(channels) + 2 + int(with_case)
    rows = list(csv.reader(lines[i + 1:]))
    n = len(rows)
    t = np.empty(n)
    data = np.empty((n, len(channels)), np.float32)
    labels = np.empty(n, dtype=object)
    cases = np.empty(n, dtype=object) if with_case else None
    first = i + 2
    for k, row in enumerate(rows):
        if len(row) == n_fields - 1 - int(with_case) and not with_case:
            row = [*row, ""]  # v1 allowed a missing label field: unlabeled
        if len(row) != n_fields:
            raise RecordingError(f"{path}:{first + k}: expected {n_fields} fields ({','.join(header)}), got "
                                 f"{len(row)}; every row needs the same columns")
        try:
            t[k] = float(row[0])
            data[k] = [float(v) for v in row[1 : 1 + len(channels)]]
        except ValueError as exc:
            raise RecordingError(f"{path}:{first + k}: {exc}; samples must be decimal numbers") from None
        labels[k] = row[1 + len(channels)]
        if cases is not None:
            cases[k] = row[-1]
    if not (np.isfinite(t).all() and np.isfinite(data).all()):
        k = int(np.flatnonzero(~(np.isfinite(t) & np.isfinite(data).all(axis=1)))[0])
        raise RecordingError(f"{path}:{first + k}: NaN or infinite sample; fill or drop it before training")
    if n > 1:
        same_case = np.ones(n - 1, bool) if cases is None else cases[1:] == cases[:-1]
        bad = np.flatnonzero((np.diff(t) <= 0) & same_case)
        if len(bad):
            raise RecordingError(f"{path}:{first + int(bad[0]) + 1}: time does not increase; samples must be in "
                                 "time order")
    meta.setdefault("file", str(path))
    return Recording(t=t, data=data, labels=labels, rate_hz=rate, meta=meta, channels=channels, units=units,
                     case_ids=cases)


def find_recordings(paths: Sequence[Path | str]) -> list[Path]:
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
        raise RecordingError(f"no .csv recordings under {', '.join(map(str, paths))}")
    return found
