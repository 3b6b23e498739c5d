"""Reading users' text tables: encoding, delimiter, header, numbers and timestamps, with errors that say where.

Every function here raises `ImportError_` (a ValueError) whose message names
the file, and the line and column where there is one, and what to do.
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from edgeloop import InputError

DELIMITERS = (",", ";", "\t", "|")
TIME_NAMES = ("t", "time", "timestamp", "timestamps", "time_s", "seconds", "ts", "datetime", "date_time", "date",
              "time_ms", "timestamp_ms", "millis", "ms", "elapsed")
LABEL_NAMES = ("label", "class", "activity", "target", "y", "gesture", "category", "labels")
CASE_NAMES = ("case", "case_id", "trial", "recording", "session", "sequence", "series_id", "id")
SUBJECT_NAMES = ("subject", "subject_id", "user", "participant", "person")
SPLIT_NAMES = ("split", "fold_split", "set", "subset")


class DataImportError(InputError):
    """Bad user data: the message names the file (line, column) and the fix."""


@dataclass
class Table:
    """A text table: header names, rows of strings, and where row 0 sits in the file (1-based line)."""

    path: Path
    header: list[str]
    rows: list[list[str]]
    first_line: int
    delimiter: str

    def column(self, name: str) -> list[str]:
        j = self.header.index(name)
        return [r[j] for r in self.rows]

    def numbers(self, name: str) -> np.ndarray:
        """A column as float64; a non-number, NaN or inf is refused naming its line and column."""
        j = self.header.index(name)
        out = np.empty(len(self.rows))
        for k, row in enumerate(self.rows):
            text = row[j].strip()
            try:
                v = float(text)
            except ValueError:
                raise DataImportError(f"{self.path}:{self.first_line + k}: column {name!r} holds {text!r}, not a "
                                      "number; fix or delete the row (or name the label column with "
                                      "--label-column if this is it)") from None
            if not math.isfinite(v):
                raise DataImportError(f"{self.path}:{self.first_line + k}: column {name!r} holds {text!r} (NaN or "
                                      "infinite); fill or drop the missing samples before importing")
            out[k] = v
        return out


def read_text(path: Path, encoding: str | None = None) -> str:
    """A file's text: UTF-8 (with or without BOM), UTF-16 with a BOM, or the `encoding` given."""
    raw = Path(path).read_bytes()
    if encoding:
        try:
            return raw.decode(encoding)
        except (LookupError, UnicodeDecodeError) as exc:
            raise DataImportError(f"{path}: cannot decode as {encoding} ({exc}); pass the file's real --encoding")
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataImportError(f"{path}:{line}: not UTF-8 text (byte 0x{raw[exc.start]:02x}); save the file as UTF-8 "
                              "or pass --encoding (e.g. --encoding latin-1)") from None


def sniff_delimiter(path: Path, lines: list[str], given: str | None = None) -> str:
    """The delimiter that splits the header and the first data lines into the same number (> 1) of fields."""
    if given:
        return "\t" if given in ("tab", "\\t") else given
    sample = [ln for ln in lines[:50] if ln.strip()]
    for d in DELIMITERS:
        counts = [len(next(csv.reader([ln], delimiter=d))) for ln in sample]
        # the header's field count on (nearly) every line: a ragged row is reported later, by its line
        if counts and counts[0] > 1 and sum(c == counts[0] for c in counts) >= 0.8 * len(counts):
            return d
    if sample and all(len(ln.split()) == len(sample[0].split()) > 1 for ln in sample):
        return " "
    raise DataImportError(f"{path}: cannot tell the delimiter (tried comma, semicolon, tab, bar and spaces on "
                          "the first lines); pass --delimiter")


def read_table(path: Path, delimiter: str | None = None, encoding: str | None = None) -> Table:
    """Read a delimited text file with a header row (leading `#` comment lines are skipped)."""
    text = read_text(path, encoding)
    lines = text.splitlines()
    skip = 0
    while skip < len(lines) and (lines[skip].startswith("#") or not lines[skip].strip()):
        skip += 1
    body = lines[skip:]
    if not body:
        raise DataImportError(f"{path}: no header row and no data; is the file empty?")
    d = sniff_delimiter(path, body, delimiter)
    if d == " ":
        rows = [ln.split() for ln in body]
    else:
        rows = list(csv.reader(body, delimiter=d))
    header = [h.strip() for h in rows[0]]
    if all(_is_number(h) for h in header):
        raise DataImportError(f"{path}:{skip + 1}: the first row holds numbers, not column names; add a header row "
                              "(e.g. t,ax,ay,az,label)")
    dup = sorted({h for h in header if header.count(h) > 1})
    if dup:
        raise DataImportError(f"{path}:{skip + 1}: column name(s) {dup} appear more than once; rename them")
    data = []
    for k, row in enumerate(rows[1:]):
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if len(row) != len(header):
            raise DataImportError(f"{path}:{skip + 2 + k}: {len(row)} fields where the header has {len(header)}; "
                                  "every row needs the same columns (a ragged row, or a delimiter inside a value)")
        data.append(row)
    if not data:
        raise DataImportError(f"{path}: a header but no data rows")
    return Table(Path(path), header, data, skip + 2, d)


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def find_column(header: list[str], given: str | None, names: tuple[str, ...], what: str, path: Path,
                option: str) -> str | None:
    """The column `given` (refused if absent) or the first whose lower-cased name is in `names`."""
    if given:
        if given not in header:
            raise DataImportError(f"{path}: no column {given!r} for the {what}; the columns are {header}; "
                                  f"check {option}")
        return given
    lowered = {h.lower().strip(): h for h in header}
    for n in names:
        if n in lowered:
            return lowered[n]
    return None


def to_seconds(table: Table, column: str, unit: str = "auto") -> tuple[np.ndarray, str]:
    """A timestamp column in seconds from its first value, and the unit inferred (s, ms, us or iso)."""
    values = table.column(column)
    if unit == "iso" or (unit == "auto" and not _is_number(values[0].strip())):
        out = np.empty(len(values))
        for k, v in enumerate(values):
            try:
                out[k] = datetime.fromisoformat(v.strip()).timestamp()
            except ValueError:
                raise DataImportError(f"{table.path}:{table.first_line + k}: column {column!r} holds {v!r}: neither "
                                      "a number nor an ISO date-time (2024-05-01T12:00:00.250); pass "
                                      "--time-unit") from None
        return out - out[0], "iso"
    t = table.numbers(column)
    if unit == "auto":
        name = column.lower()
        d = np.diff(t)
        med = float(np.median(d)) if len(d) else 1.0
        if re.search(r"(^|_)(us|micros)$", name):
            unit = "us"
        elif re.search(r"(^|_)(ms|millis)$", name) or "milli" in name:
            unit = "ms"
        elif med >= 2 and np.allclose(t, np.round(t)):
            unit = "ms"  # integer steps of 2 or more: millisecond clocks (a 1 Hz rate in seconds steps by 1)
        else:
            unit = "s"
    scale = {"s": 1.0, "ms": 1e-3, "us": 1e-6}.get(unit)
    if scale is None:
        raise DataImportError(f"--time-unit {unit!r}: use s, ms, us, iso or auto")
    return (t - t[0]) * scale, unit


def check_increasing(t: np.ndarray, path: Path, first_line: int, groups: np.ndarray | None = None) -> None:
    """Refuse timestamps that do not increase (within a case, when `groups` marks cases)."""
    if len(t) < 2:
        return
    same = np.ones(len(t) - 1, bool) if groups is None else groups[1:] == groups[:-1]
    bad = np.flatnonzero((np.diff(t) <= 0) & same)
    if len(bad):
        k = int(bad[0]) + 1
        raise DataImportError(f"{path}:{first_line + k}: timestamp {t[k]:.6g} s does not increase after "
                              f"{t[k - 1]:.6g} s; sort the rows by time (or mark separate cases with a case column)")


def estimate_rate(dt: np.ndarray) -> float:
    """Samples per second from time steps: 1/median step, snapped to an integer within 0.5 %, else to 1 mHz."""
    steps = dt[dt > 0]
    if not len(steps):
        raise ValueError("no time steps to estimate a rate from")
    rate = 1.0 / float(np.median(steps))
    near = round(rate)
    return float(near) if near and abs(rate - near) / near < 0.005 else round(rate, 3)
