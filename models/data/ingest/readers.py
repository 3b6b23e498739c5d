"""Readers of users' time-series files into `Recording`s: plain CSV, Edge Impulse CSV, wide tables, .npz, .ts.

Each reader returns recordings (one per case) whose `meta` holds `source`
(file, and row or case), `split` when the file declares one, and `subject`
when known; and appends one line per inference to `notes`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgeloop.models.data.ingest.tables import (
    CASE_NAMES, LABEL_NAMES, SPLIT_NAMES, SUBJECT_NAMES, TIME_NAMES, DataImportError, Table, check_increasing,
    estimate_rate, find_column, read_table, read_text, to_seconds,
)
from edgeloop.models.data.recording import MAX_CHANNELS, Recording, RecordingError, check_channel_names
from edgeloop.models.data.splits import normalise_split


@dataclass
class ReadOptions:
    """How to read sources; None means infer (and print what was inferred)."""

    label_column: str | None = None
    time_column: str | None = None
    case_column: str | None = None
    subject_column: str | None = None
    split_column: str | None = None
    delimiter: str | None = None
    encoding: str | None = None
    time_unit: str = "auto"
    rate: float | None = None
    label: str | None = None
    fmt: str = "auto"
    notes: list[str] = field(default_factory=list)


def split_from_name(path: Path) -> str | None:
    """`*_TRAIN.*` / `*_TEST.*` (UEA/UCR) or a parent folder named train/val/test give a split."""
    m = re.search(r"_(TRAIN|TEST|VAL)$", path.stem, re.IGNORECASE)
    if m:
        return normalise_split(m.group(1), str(path))
    return None


def _channel_names(names: list[str], path: Path) -> tuple[str, ...]:
    cleaned = [re.sub(r"[^A-Za-z0-9_.\-]", "_", n.strip()) or f"ch{i}" for i, n in enumerate(names)]
    cleaned = [n if re.match(r"[A-Za-z_]", n) else f"ch_{n}" for n in cleaned]
    try:
        return check_channel_names(cleaned, str(path))
    except RecordingError as exc:
        raise DataImportError(str(exc)) from None


def _label_column_error(table: Table) -> DataImportError:
    return DataImportError(f"{table.path}: no label column (looked for {', '.join(LABEL_NAMES)}); the columns are "
                           f"{table.header}; name it with --label-column, or give every sample of the file one "
                           "label with --label")


def read_plain_csv(path: Path, opts: ReadOptions) -> list[Recording]:
    """A table with a header, a label column, channel columns and optional time/case/subject/split columns.

    Without a label column, an Edge Impulse-style file (a `timestamp` column in ms first, then axes) takes
    its label from `--label` or the file name's prefix before the first dot, as Edge Impulse does.
    """
    table = read_table(path, opts.delimiter, opts.encoding)
    h = table.header
    edge_impulse = opts.fmt == "edge-impulse"
    label_col = find_column(h, opts.label_column, LABEL_NAMES, "labels", path, "--label-column")
    fixed_label = opts.label
    if label_col is None and fixed_label is None:
        if edge_impulse or (h[0].lower() == "timestamp" and "." in path.stem):
            edge_impulse = True
            fixed_label = path.stem.split(".")[0]
        else:
            raise _label_column_error(table)
    time_col = find_column(h, opts.time_column, TIME_NAMES, "timestamps", path, "--time-column")
    if edge_impulse and time_col is None and h[0].lower() == "timestamp":
        time_col = h[0]
    case_col = find_column(h, opts.case_column, CASE_NAMES, "case ids", path, "--case-column")
    subj_col = find_column(h, opts.subject_column, SUBJECT_NAMES, "subjects", path, "--subject-column")
    split_col = find_column(h, opts.split_column, SPLIT_NAMES, "splits", path, "--split-column")
    special = {c for c in (label_col, time_col, case_col, subj_col, split_col) if c}
    channel_cols = [c for c in h if c not in special]
    if not channel_cols:
        raise DataImportError(f"{path}: no channel columns besides {sorted(special)}; the columns are {h}")
    if len(channel_cols) > MAX_CHANNELS:
        raise DataImportError(f"{path}: {len(channel_cols)} channel columns; at most {MAX_CHANNELS} (is this a wide "
                              "table, one case per row? pass --format wide)")
    data = np.stack([table.numbers(c) for c in channel_cols], axis=1)
    labels = np.array([fixed_label] * len(table.rows) if label_col is None else
                      [v.strip() for v in table.column(label_col)], dtype=object)
    cases = np.array([v.strip() for v in table.column(case_col)], dtype=object) if case_col else None
    unit = "auto" if not edge_impulse or opts.time_unit != "auto" else "ms"
    rate = opts.rate
    if time_col:
        t, unit = to_seconds(table, time_col, opts.time_unit if opts.time_unit != "auto" else unit)
        check_increasing(t, path, table.first_line, cases)
        if rate is None:
            same = np.ones(len(t) - 1, bool) if cases is None else cases[1:] == cases[:-1]
            rate = estimate_rate(np.diff(t)[same])
            opts.notes.append(f"{path.name}: time column {time_col!r} in {unit}, rate estimated {rate:g} Hz")
        else:
            opts.notes.append(f"{path.name}: time column {time_col!r} in {unit}, rate {rate:g} Hz (given)")
    elif rate is None:
        raise DataImportError(f"{path}: no timestamp column (looked for {', '.join(TIME_NAMES[:6])}, ...) and no "
                              "--rate; give the sample rate with --rate HZ or name the column with --time-column")
    kind = "Edge Impulse-style CSV" if edge_impulse else "plain CSV"
    opts.notes.append(f"{path.name}: {kind}, delimiter {table.delimiter!r}, channels {channel_cols}, label "
                      + (f"{fixed_label!r} for the whole file" if label_col is None else f"column {label_col!r}")
                      + (f", cases from {case_col!r}" if case_col else "")
                      + (f", subjects from {subj_col!r}" if subj_col else "")
                      + (f", splits from {split_col!r}" if split_col else ""))
    n = len(data)
    t_out = np.arange(n) / rate
    rec = Recording(t_out, data, labels, float(rate), {"source": str(path)}, _channel_names(channel_cols, path),
                    case_ids=cases)
    per_row = {"subject": table.column(subj_col) if subj_col else None,
               "split": table.column(split_col) if split_col else None}
    pieces = rec.cases() if cases is not None else [rec]
    out = []
    start = 0
    for piece in pieces:
        if cases is not None:
            piece.t = piece.t - piece.t[0]
        for key, col in per_row.items():
            if col is None:
                continue
            values = {v.strip() for v in col[start : start + len(piece)]}
            if len(values) > 1:
                raise DataImportError(f"{path}:{table.first_line + start}: column {key!r} changes inside one "
                                      f"{'case' if cases is not None else 'file'} ({sorted(values)}); a case "
                                      f"belongs to one {key} (add a case column to tell cases apart)")
            value = values.pop()
            if value:
                piece.meta[key] = normalise_split(value, f"{path}:{table.first_line + start}") \
                    if key == "split" else value
        piece.meta["source"] = str(path) + (f" case {piece.meta['case']}" if "case" in piece.meta else "")
        start += len(piece)
        out.append(piece)
    return out


_WIDE = re.compile(r"^(.*?)[_\-.]?(\d+)$")


def read_wide(paths: list[Path], opts: ReadOptions) -> list[Recording]:
    """Wide tables, one case per row: columns `<channel>_<t>` (any number of channels) and a label column;
    or one channel per file (columns numbered 0..T-1, the channel named by the file), rows aligned."""
    channels: dict[str, np.ndarray] = {}
    labels: list[str] | None = None
    extra: dict[str, list[str] | None] = {"subject": None, "split": None}
    first: Table | None = None
    for path in paths:
        table = read_table(path, opts.delimiter, opts.encoding)
        first = first or table
        label_col = find_column(table.header, opts.label_column, LABEL_NAMES, "labels", path, "--label-column")
        if label_col is None:
            raise _label_column_error(table)
        subj_col = find_column(table.header, opts.subject_column, SUBJECT_NAMES, "subjects", path, "--subject-column")
        split_col = find_column(table.header, opts.split_column, SPLIT_NAMES, "splits", path, "--split-column")
        groups: dict[str, list[tuple[int, str]]] = {}
        for col in table.header:
            if col in (label_col, subj_col, split_col):
                continue
            m = _WIDE.match(col)
            if not m:
                raise DataImportError(f"{path}: column {col!r} is not <channel>_<time index>; a wide table has "
                                      "columns like ax_0 ax_1 ... (or 0 1 2 ... for one channel per file)")
            groups.setdefault(m.group(1) or path.stem, []).append((int(m.group(2)), col))
        for name, cols in groups.items():
            cols.sort()
            idx = [i for i, _ in cols]
            if idx != list(range(idx[0], idx[0] + len(idx))):
                raise DataImportError(f"{path}: channel {name!r} has time columns {idx[:5]}...; they must run "
                                      "without gaps")
            if name in channels:
                raise DataImportError(f"{path}: channel {name!r} appears in two wide files; name them apart")
            channels[name] = np.stack([table.numbers(c) for _, c in cols], axis=1)
        file_labels = [v.strip() for v in table.column(label_col)]
        if labels is not None and file_labels != labels:
            raise DataImportError(f"{path}: its labels differ from {paths[0]}'s; one-channel-per-file tables must "
                                  "list the same cases in the same order")
        labels = file_labels
        for key, col in (("subject", subj_col), ("split", split_col)):
            if col:
                extra[key] = table.column(col)
    assert labels is not None and first is not None
    lengths = {v.shape for v in channels.values()}
    if len(lengths) != 1:
        raise DataImportError(f"{paths[0]}: channels have different shapes {sorted(lengths)} (cases × samples); "
                              "every channel needs every case at the same length")
    if opts.rate is None:
        raise DataImportError(f"{paths[0]}: wide tables hold no timestamps; give the sample rate with --rate HZ")
    names = _channel_names(list(channels), paths[0])
    cube = np.stack(list(channels.values()), axis=2)  # (cases, T, C)
    opts.notes.append(f"{', '.join(p.name for p in paths)}: wide table, {cube.shape[0]} cases of {cube.shape[1]} "
                      f"samples, channels {list(names)}, rate {opts.rate:g} Hz (given)")
    out = []
    for i in range(cube.shape[0]):
        meta = {"source": f"{paths[0]} row {first.first_line + i}", "case": str(i)}
        for key, col in extra.items():
            if col is not None and col[i].strip():
                meta[key] = normalise_split(col[i], meta["source"]) if key == "split" else col[i].strip()
        out.append(_case_recording(cube[i], labels[i], float(opts.rate), names, meta))
    return out


def _case_recording(x: np.ndarray, label: str, rate: float, names: tuple[str, ...], meta: dict[str, str]) -> Recording:
    n = len(x)
    return Recording(np.arange(n) / rate, x, np.array([label] * n, dtype=object), rate, meta, names)


def read_npz(path: Path, opts: ReadOptions) -> list[Recording]:
    """`.npz` with `x` (cases × time × channels, or cases × time) and `y`; optional `x_test`/`y_test`, `split`,
    `subject`, `channels` and `rate_hz` arrays. Object arrays (pickles) are refused: they can run code."""
    try:
        arrays = np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise DataImportError(f"{path}: {exc}; save plain numeric/string arrays (np.savez) without objects") from None
    except OSError as exc:
        raise DataImportError(f"{path}: not a readable .npz archive ({exc})") from None
    keys = set(arrays.files)
    if not {"x", "y"} <= keys:
        raise DataImportError(f"{path}: needs arrays 'x' (cases × time × channels) and 'y' (labels); it has "
                              f"{sorted(keys)}")
    rate = opts.rate or (float(arrays["rate_hz"]) if "rate_hz" in keys else None)
    if rate is None:
        raise DataImportError(f"{path}: no 'rate_hz' array and no --rate; give the sample rate with --rate HZ")
    with_test = {"x_test", "y_test"} <= keys
    parts = [("x", "y", "train" if with_test else None)] + ([("x_test", "y_test", "test")] if with_test else [])
    out = []
    for xk, yk, split in parts:
        x, y = np.asarray(arrays[xk]), np.asarray(arrays[yk])
        if x.ndim == 2:
            x = x[:, :, None]
        if x.ndim != 3 or len(x) != len(y):
            raise DataImportError(f"{path}: '{xk}' must be cases × time × channels with one '{yk}' label per case; "
                                  f"got {x.shape} and {y.shape}")
        if not np.isfinite(x).all():
            case = int(np.flatnonzero(~np.isfinite(x).all(axis=(1, 2)))[0])
            raise DataImportError(f"{path}: '{xk}' case {case} holds NaN or inf; fill or drop it")
        names = _channel_names([str(c) for c in arrays["channels"]] if "channels" in keys else
                               [f"ch{i}" for i in range(x.shape[2])], path)
        splits = arrays["split"] if "split" in keys and xk == "x" else None
        subjects = arrays["subject"] if "subject" in keys and split is None else None
        for i in range(len(x)):
            meta = {"source": f"{path} {xk}[{i}]", "case": f"{xk}{i}"}
            if splits is not None and str(splits[i]).strip():
                meta["split"] = normalise_split(str(splits[i]), meta["source"])
            elif split:
                meta["split"] = split
            if subjects is not None:
                meta["subject"] = str(subjects[i])
            out.append(_case_recording(x[i], _label_text(y[i]), rate, names, meta))
    opts.notes.append(f"{path.name}: .npz, {len(out)} cases, {out[0].data.shape[1]} channel(s), rate {rate:g} Hz"
                      + (", x_test/y_test is the test split" if len(parts) > 1 else ""))
    return out


def _label_text(value: object) -> str:
    if isinstance(value, (bytes, np.bytes_)):
        return value.decode("utf-8")
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def read_ts(path: Path, opts: ReadOptions) -> list[Recording]:
    """A UEA/UCR `.ts` file: multivariate (dimensions split by ':'), equal or unequal length, class labels last.
    Files named `*_TRAIN.ts` / `*_TEST.ts` give the split; `--rate` gives the rate (the format has none)."""
    lines = read_text(path, opts.encoding).splitlines()
    header: dict[str, str] = {}
    data_at = None
    for k, line in enumerate(lines):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        if s.lower() == "@data":
            data_at = k + 1
            break
        if s.startswith("@"):
            key, _, value = s[1:].partition(" ")
            header[key.lower()] = value.strip()
        else:
            raise DataImportError(f"{path}:{k + 1}: expected @-header lines before @data; is this a .ts file?")
    if data_at is None:
        raise DataImportError(f"{path}: no @data line; is this a UEA/UCR .ts file?")
    if header.get("timestamps", "false").lower() == "true":
        raise DataImportError(f"{path}: @timeStamps true (values as (t,v) pairs) is not supported; export the "
                              "series without timestamps")
    if header.get("classlabel", "false").split()[0].lower() != "true":
        raise DataImportError(f"{path}: @classLabel is not true; a classification set needs class labels")
    declared = header["classlabel"].split()[1:]
    if opts.rate is None:
        raise DataImportError(f"{path}: the .ts format holds no sample rate; give it with --rate HZ")
    split = split_from_name(path)
    name = header.get("problemname", path.stem)
    out = []
    dims_seen: set[int] = set()
    for k in range(data_at, len(lines)):
        s = lines[k].strip()
        if not s or s.startswith("#"):
            continue
        parts = s.split(":")
        label = parts[-1].strip()
        if declared and label not in declared:
            raise DataImportError(f"{path}:{k + 1}: class {label!r} is not in @classLabel {declared}")
        dims = []
        for j, part in enumerate(parts[:-1]):
            fields = [v.strip() for v in part.split(",")]
            if "?" in fields or any(v.lower() == "nan" for v in fields):
                raise DataImportError(f"{path}:{k + 1}: dimension {j} has missing values ('?' or NaN); fill or "
                                      "drop them before importing")
            try:
                dims.append(np.array([float(v) for v in fields], np.float64))
            except ValueError as exc:
                raise DataImportError(f"{path}:{k + 1}: dimension {j}: {exc}; values must be numbers") from None
        lengths = {len(d) for d in dims}
        if len(lengths) != 1:
            raise DataImportError(f"{path}:{k + 1}: the case's dimensions have different lengths {sorted(lengths)}; "
                                  "each case needs equally long dimensions")
        if not np.isfinite(np.stack(dims)).all():
            raise DataImportError(f"{path}:{k + 1}: infinite value; fix the case")
        dims_seen.add(len(dims))
        if len(dims_seen) > 1:
            raise DataImportError(f"{path}:{k + 1}: {len(dims)} dimensions where earlier cases have "
                                  f"{min(dims_seen)}; every case needs the same dimensions")
        meta = {"source": f"{path}:{k + 1}", "case": f"{path.stem}:{k + 1}"}
        if split:
            meta["split"] = split
        names = tuple(f"dim{i}" for i in range(len(dims)))
        out.append(_case_recording(np.stack(dims, axis=1), label, float(opts.rate), names, meta))
    if not out:
        raise DataImportError(f"{path}: no cases after @data")
    lengths = sorted({len(r) for r in out})
    opts.notes.append(f"{path.name}: UEA/UCR .ts {name!r}, {len(out)} cases, {len(out[0].channels)} dimension(s), "
                      f"length {lengths[0]}" + (f"..{lengths[-1]} (unequal)" if len(lengths) > 1 else "")
                      + f", rate {opts.rate:g} Hz (given)" + (f", split {split} from the file name" if split else ""))
    return out


READERS: dict[str, Callable[[Path, ReadOptions], list[Recording]]] = {
    "csv": read_plain_csv, "edge-impulse": read_plain_csv, "npz": read_npz, "ts": read_ts,
}
