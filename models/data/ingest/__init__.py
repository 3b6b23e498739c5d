"""`edgeloop dataset import SRC... --out DIR`: users' data in any common shape → edgeloop's canonical formats.

Time series (plain or Edge Impulse-style CSV, wide tables, .npz, UEA/UCR
.ts, edgeloop recordings) become a folder of `edgeloop-recording v2` files,
one per case, under DIR/train, DIR/val and DIR/test, plus dataset.json
(`edgeloop-timeseries-set v1`: labels, channels, rate, counts, what was
inferred) and manifest.jsonl. Folder-per-class images become an
`edgeloop-image-set v1`. Sources are only read: nothing the user gave is
modified. Splits follow models/data/splits.py; every inference is printed.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgeloop.models.data.folders import require_empty_folder
from edgeloop.models.data.imagesets import natural_key
from edgeloop.models.data.ingest.images import import_images, is_image_set
from edgeloop.models.data.ingest.readers import (
    READERS, ReadOptions, read_plain_csv, read_wide, split_from_name,
)
from edgeloop.models.data.ingest.tables import DataImportError, read_table
from edgeloop.models.data.recording import Recording, RecordingError, read_recording, write_recording
from edgeloop.models.data.splits import SPLIT_ALIASES, SPLITS, assign_splits, check_classes

TIMESERIES_SET_FORMAT = "edgeloop-timeseries-set v1"
SUFFIXES = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".ts": "ts", ".npz": "npz"}
FORMATS = ("auto", "csv", "edge-impulse", "wide", "npz", "ts", "images")

__all__ = ["FORMATS", "TIMESERIES_SET_FORMAT", "DataImportError", "ImportRequest", "ReadOptions", "import_dataset"]


@dataclass
class ImportRequest:
    """What `edgeloop dataset import` was asked: sources, output, splits and how to read the files."""

    sources: list[Path]
    out: Path
    test: list[Path] = field(default_factory=list)
    seed: int = 0
    ignore_split: bool = False
    resample: float | None = None
    label_order: Path | None = None
    read: ReadOptions = field(default_factory=ReadOptions)


def _files(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    if not root.exists():
        raise DataImportError(f"{root} does not exist")
    found = sorted((p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES),
                   key=lambda p: natural_key(str(p)))
    if not found:
        raise DataImportError(f"{root}: no data files (.csv, .tsv, .txt, .ts, .npz, or image class folders)")
    return found


def _split_from_path(path: Path, root: Path) -> str | None:
    rel = path.relative_to(root).parts[:-1] if root.is_dir() else ()
    found = {SPLIT_ALIASES[p.lower()] for p in rel if p.lower() in SPLIT_ALIASES}
    if len(found) > 1:
        raise DataImportError(f"{path}: its folders name two splits {sorted(found)}")
    return found.pop() if found else split_from_name(path)


def _looks_wide(path: Path, opts: ReadOptions) -> bool:
    if path.suffix.lower() not in (".csv", ".tsv", ".txt"):
        return False
    try:
        header = read_table(path, opts.delimiter, opts.encoding).header
    except DataImportError:
        return False
    numbered = [h for h in header if re.match(r"^(.*?)[_\-.]?(\d+)$", h)]
    return len(numbered) >= 16 and len(numbered) >= len(header) - 3


def _is_edgeloop_recording(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8") as fh:
            return fh.readline().startswith("# format: edgeloop-")
    except (UnicodeDecodeError, OSError):
        return False


def _read_source(root: Path, forced_split: str | None, req: ImportRequest) -> list[Recording]:
    opts = req.read
    files = _files(root)
    out: list[Recording] = []
    wide: dict[Path, list[Path]] = {}
    for path in files:
        if opts.fmt == "wide" or (opts.fmt == "auto" and _looks_wide(path, opts)):
            wide.setdefault(path.parent, []).append(path)
            continue
        if _is_edgeloop_recording(path):
            recs = read_recording(path).cases()
            for r in recs:
                r.meta["source"] = r.name
            opts.notes.append(f"{path.name}: edgeloop recording, channels {list(recs[0].channels)}, "
                              f"{recs[0].rate_hz:g} Hz")
        else:
            kind = opts.fmt if opts.fmt not in ("auto", "wide") else SUFFIXES[path.suffix.lower()]
            recs = READERS.get(kind, read_plain_csv)(path, opts)
        out += _with_split(recs, _split_from_path(path, root), forced_split)
    for folder, group in wide.items():
        out += _with_split(read_wide(group, opts), _split_from_path(group[0], root), forced_split)
    return out


def _with_split(recs: list[Recording], from_path: str | None, forced: str | None) -> list[Recording]:
    for r in recs:
        given = forced or from_path
        if given and r.meta.get("split") not in (None, given):
            raise DataImportError(f"{r.meta.get('source', r.name)}: its split {r.meta['split']!r} contradicts "
                                  f"{given!r} (from its folder, file name or --test); fix one of them")
        if given:
            r.meta["split"] = given
    return recs


def _resample(rec: Recording, rate: float) -> Recording:
    """Linear interpolation of the samples to `rate`; each new sample takes its nearest old sample's label."""
    if rec.rate_hz == rate:
        return rec
    n = int(np.floor((len(rec) - 1) * rate / rec.rate_hz)) + 1
    t_old = np.arange(len(rec)) / rec.rate_hz
    t_new = np.arange(n) / rate
    data = np.stack([np.interp(t_new, t_old, rec.data[:, c]) for c in range(rec.data.shape[1])], axis=1)
    nearest = np.clip(np.round(t_new * rec.rate_hz).astype(int), 0, len(rec) - 1)
    return Recording(t_new, data, rec.labels[nearest], rate, dict(rec.meta), rec.channels, dict(rec.units))


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.\-]+", "_", text).strip("_")[:60] or "rec"


def import_dataset(req: ImportRequest) -> dict[str, Any]:
    """Import `req.sources` into `req.out`; returns the summary (also in dataset.json) with `notes` lines."""
    for src in [*req.sources, *req.test]:
        if not Path(src).exists():
            raise DataImportError(f"{src} does not exist")
        if Path(req.out).resolve() == Path(src).resolve() or Path(src).resolve() in Path(req.out).resolve().parents:
            raise DataImportError(f"--out {req.out} lies inside the source {src}; import into a separate folder "
                                  "(sources are never modified)")
    if req.read.fmt not in FORMATS:
        raise DataImportError(f"--format {req.read.fmt!r} is not one of {', '.join(FORMATS)}")
    notes = req.read.notes
    if req.read.fmt == "images" or (req.read.fmt == "auto" and all(
            Path(s).is_dir() and is_image_set(Path(s)) for s in req.sources)):
        require_empty_folder(Path(req.out))
        summary = import_images([Path(s) for s in req.sources], Path(req.out), test=[Path(t) for t in req.test],
                                seed=req.seed, ignore_split=req.ignore_split, label_order=req.label_order,
                                notes=notes)
        summary["notes"] = list(notes)
        return summary
    recs: list[Recording] = []
    for src in req.sources:
        recs += _read_source(Path(src), None, req)
    for src in req.test:
        recs += _read_source(Path(src), "test", req)
    return _write_timeseries(recs, req)


def _write_timeseries(recs: list[Recording], req: ImportRequest) -> dict[str, Any]:
    notes = req.read.notes
    channels = recs[0].channels
    for r in recs:
        if r.channels != channels:
            raise DataImportError(f"{r.meta.get('source')}: channels {list(r.channels)} differ from "
                                  f"{list(channels)} ({recs[0].meta.get('source')}); every file needs the same "
                                  "channels, in the same order")
    rates = Counter(r.rate_hz for r in recs)
    if req.resample:
        recs = [_resample(r, float(req.resample)) for r in recs]
        notes.append(f"resampled {sum(n for r, n in rates.items() if r != req.resample)} recording(s) to "
                     f"{req.resample:g} Hz (--resample)")
    elif len(rates) > 1:
        by_rate = {rate: next(r.meta.get("source") for r in recs if r.rate_hz == rate) for rate in rates}
        raise DataImportError("files have different sample rates: " + "; ".join(
            f"{rate:g} Hz ({n} recordings, e.g. {by_rate[rate]})" for rate, n in rates.items())
            + "; import them separately, or pass --resample HZ to bring all to one rate")
    for r in recs:
        r.labels = np.array([str(v).strip() for v in r.labels], dtype=object)
    try:
        pairs = assign_splits(recs, req.seed, ignore_split=req.ignore_split, notes=notes)
        check_classes(pairs, lambda s: s or None)
    except RecordingError as exc:
        raise DataImportError(str(exc)) from None
    labels = sorted({str(v) for r, _ in pairs for v in set(r.labels.tolist())} - {""}, key=natural_key)
    if req.label_order:
        order = [ln.strip() for ln in Path(req.label_order).read_text(encoding="utf-8").splitlines() if ln.strip()]
        if set(order) != set(labels):
            raise DataImportError(f"{req.label_order}: lists {sorted(order)} but the data has {labels}")
        labels = order
    out = Path(req.out)
    require_empty_folder(out)
    manifest = []
    counts: dict[str, Counter[str]] = {s: Counter() for s in SPLITS}
    for i, (rec, split) in enumerate(pairs):
        rec.meta["split"] = split
        src = Path(str(rec.meta.get("source", "rec")).split(":")[0].split(" ")[0])
        name = f"{split}/{i:05d}_{_safe(src.stem)}{'_' + _safe(rec.meta['case']) if 'case' in rec.meta else ''}.csv"
        (out / split).mkdir(parents=True, exist_ok=True)
        write_recording(out / name, rec)
        major = Counter(v for v in rec.labels.tolist() if v).most_common(1)
        counts[split][major[0][0] if major else ""] += 1
        manifest.append({"file": name, "split": split, "samples": len(rec), "label": major[0][0] if major else "",
                         **{k: rec.meta[k] for k in ("subject", "source", "case") if k in rec.meta}})
    with (out / "manifest.jsonl").open("w", encoding="utf-8") as fh:
        for row in manifest:
            fh.write(json.dumps(row, separators=(",", ":")) + "\n")
    lengths = [len(r) for r, _ in pairs]
    rate = pairs[0][0].rate_hz
    summary: dict[str, Any] = {
        "format": TIMESERIES_SET_FORMAT, "kind": "timeseries", "labels": labels, "channels": list(channels),
        "units": pairs[0][0].units, "rate_hz": rate,
        "counts": {s: dict(sorted(c.items(), key=lambda kv: natural_key(kv[0]))) for s, c in counts.items()},
        "samples": {"min": int(min(lengths)), "median": int(np.median(lengths)), "max": int(max(lengths))},
        "sources": [str(s) for s in req.sources], "test_sources": [str(s) for s in req.test],
        "notes": list(notes),
    }
    (out / "dataset.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


def describe(summary: dict[str, Any]) -> list[str]:
    """The lines `edgeloop dataset import` prints after the inference notes."""
    lines = []
    if summary["kind"] == "timeseries":
        s = summary["samples"]
        lines.append(f"channels ({len(summary['channels'])}): {', '.join(summary['channels'])}; rate "
                     f"{summary['rate_hz']:g} Hz; recordings of {s['min']}..{s['max']} samples "
                     f"(median {s['median']})")
    lines.append(f"labels (output order): {', '.join(summary['labels'])}")
    for split, per in summary["counts"].items():
        unit = "images" if summary["kind"] == "images" else "recordings"
        lines.append(f"{split}: {sum(per.values())} {unit} ({', '.join(f'{k} {v}' for k, v in per.items())})")
    return lines


def import_sources(sources: Sequence[Path], out: Path, **kwargs: Any) -> dict[str, Any]:
    """Shorthand of import_dataset for tests and scripts: keyword arguments of ImportRequest and ReadOptions."""
    read_keys = set(ReadOptions.__dataclass_fields__)
    read = ReadOptions(**{k: v for k, v in kwargs.items() if k in read_keys})
    rest = {k: v for k, v in kwargs.items() if k not in read_keys}
    return import_dataset(ImportRequest(list(map(Path, sources)), Path(out), read=read, **rest))
