"""The session store: read, list, summarise, merge and replay recorded sessions (no Qt).

A session is a folder written by `edgeloop.app.sessions.recording.Recorder` (layout in
docs/workflow.md). Reading is tolerant of what a crash can leave behind: a
partial last line (power loss during a write) is skipped and reported, and a
manifest entry whose PNG is missing is skipped and counted, so an interrupted
session is still usable.

Example::

    for path in find_sessions(["sessions/"]):
        s = load_session(path)
        print(s.name, s.kind, s.n_samples, dict(s.counts), f"{s.duration_s:.1f} s")
    merge_sessions(["sessions/a", "sessions/b"], "datasets/bottles-v2")   # -> edgeloop train --data ...
    with SessionReplaySource("sessions/a", speed=2.0) as src:              # a session as a live source
        for capture in src: ...
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgeloop import EdgeloopError, ExistingFileError, InputError, MissingFileError, require
from edgeloop.app.sessions.recording import (
    IMU_FILE,
    MANIFEST_FILE,
    PREDICTIONS_FILE,
    SESSION_FILE,
    SESSION_FORMAT,
    check_label,
    write_json_atomic,
)
from edgeloop.app.live.sources.base import END, Capture, Source, _End
from edgeloop.models.data.imagesets import IMAGE_SET_FORMAT, ImageRecord, write_manifest
from edgeloop.models.data.imu_csv import ImuRecording, read_imu_csv, write_imu_csv
from edgeloop.models.data.recording import IMU_CHANNELS, write_recording

MERGE_FILE = "merge.json"


class SessionError(EdgeloopError, ValueError):
    """A folder is not a readable edgeloop session; the message names the file and the fix."""


@dataclass
class RecordedSession:
    """One session as read from disk. `counts` are images per label, or IMU samples per label."""

    path: Path
    kind: str
    info: dict[str, Any]
    labels: tuple[str, ...]
    counts: Counter
    n_samples: int
    duration_s: float
    records: list[dict[str, Any]] = field(default_factory=list)  # image sessions: manifest entries
    imu: ImuRecording | None = None  # IMU sessions: the samples
    predictions: list[dict[str, Any]] = field(default_factory=list)
    torn_lines: int = 0  # partial last lines skipped (a crash mid-write)
    missing_files: int = 0  # manifest entries whose PNG is gone

    @property
    def name(self) -> str:
        """The session folder's name."""
        return self.path.name

    @property
    def status(self) -> str:
        """complete, failed, or `interrupted` when the recorder never closed it (killed, crashed)."""
        status = str(self.info.get("status", "unknown"))
        return "interrupted" if status == "recording" else status

    @property
    def source(self) -> str:
        """Where the samples came from, in words."""
        src = self.info.get("source") or {}
        return str(src.get("spec") or src.get("name") or "unknown")

    @property
    def board(self) -> str:
        """The board predictions were recorded from ('' when none)."""
        board = self.info.get("board") or {}
        return str(board.get("board") or "")

    def summary(self) -> dict[str, Any]:
        """Plain-JSON summary (what `edgeloop sessions show --json` prints)."""
        predicted = [r for r in self.records if "prediction" in r] if self.kind == "image" else self.predictions
        return {
            "path": str(self.path), "name": self.name, "kind": self.kind, "status": self.status,
            "labels": list(self.labels), "counts": {k: self.counts.get(k, 0) for k in self._label_order()},
            "samples": self.n_samples, "duration_s": round(self.duration_s, 3), "source": self.source,
            "started": self.info.get("started", ""), "board": self.info.get("board"),
            "model": self.info.get("model"), "predictions": len(predicted),
            "torn_lines": self.torn_lines, "missing_files": self.missing_files,
            **({"rate_hz": self.imu.rate_hz} if self.imu is not None else {}),
        }

    def _label_order(self) -> list[str]:
        return list(self.labels) + sorted(set(self.counts) - set(self.labels))


def _read_jsonl(path: Path) -> tuple[list[dict[str, Any]], int]:
    """Records of a JSON-lines file and how many torn lines were skipped (only the last line may be torn)."""
    if not path.exists():
        return [], 0
    raw = path.read_bytes()
    lines = raw.split(b"\n")
    torn = 0
    if lines and lines[-1] == b"":
        lines.pop()
    elif lines:  # no newline at the end: the writer died mid-line
        lines.pop()
        torn = 1
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise SessionError(f"{path}:{number}: not a JSON line ({exc}); the file was edited or damaged: "
                               "fix or delete that line") from exc
        if not isinstance(obj, dict):
            raise SessionError(f"{path}:{number}: expected a JSON object per line")
        records.append(obj)
    return records, torn


def _read_imu(path: Path) -> tuple[ImuRecording, int]:
    """Read imu.csv, skipping a partial last line; returns the recording and the torn-line count."""
    text = path.read_bytes()
    if text.endswith(b"\n") or not text:
        return read_imu_csv(path), 0
    whole = text[: text.rfind(b"\n") + 1]
    with tempfile.NamedTemporaryFile("wb", suffix=".csv", delete=False) as tmp:
        tmp.write(whole)
    try:
        return read_imu_csv(tmp.name), 1
    finally:
        os.unlink(tmp.name)


def is_session(path: Path | str) -> bool:
    """True when `path` is a folder holding an edgeloop session.json."""
    return (Path(path) / SESSION_FILE).is_file()


def load_session(path: Path | str) -> RecordedSession:
    """Read a session folder; raises SessionError (a ValueError) when it is not one."""
    path = Path(path)
    meta_path = path / SESSION_FILE
    if not meta_path.is_file():
        raise SessionError(f"{path} is not a recorded session: it has no {SESSION_FILE} "
                           "(record one with `edgeloop record`)")
    try:
        info = json.loads(meta_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SessionError(f"{meta_path} is not valid JSON ({exc})") from exc
    if info.get("format") != SESSION_FORMAT:
        raise SessionError(f"{meta_path}: format is {info.get('format')!r}, expected {SESSION_FORMAT!r}")
    kind = info.get("kind")
    labels = tuple(info.get("labels") or ())
    if kind == "image":
        entries, torn = _read_jsonl(path / MANIFEST_FILE)
        records, missing = [], 0
        for entry in entries:
            if "file" not in entry or "label" not in entry:
                raise SessionError(f"{path / MANIFEST_FILE}: an entry lacks 'file' or 'label': {entry}")
            if (path / entry["file"]).is_file():
                records.append(entry)
            else:
                missing += 1
        counts = Counter(str(r["label"]) for r in records)
        times = [float(r["t"]) for r in records if isinstance(r.get("t"), (int, float))]
        duration = max(times) - min(times) if times else 0.0
        return RecordedSession(path, kind, info, labels, counts, len(records), duration, records=records,
                               torn_lines=torn, missing_files=missing)
    if kind == "imu":
        predictions, torn_p = _read_jsonl(path / PREDICTIONS_FILE)
        if not (path / IMU_FILE).exists():  # stopped before the first sample arrived
            return RecordedSession(path, kind, info, labels, Counter(), 0, 0.0, predictions=predictions,
                                   torn_lines=torn_p)
        rec, torn = _read_imu(path / IMU_FILE)
        counts = Counter(str(lab) for lab in rec.labels)
        duration = len(rec) / rec.rate_hz if len(rec) else 0.0
        return RecordedSession(path, kind, info, labels, counts, len(rec), duration, imu=rec,
                               predictions=predictions, torn_lines=torn + torn_p)
    raise SessionError(f"{meta_path}: unknown session kind {kind!r} (expected image or imu)")


def find_sessions(paths: Iterable[Path | str]) -> list[Path]:
    """Session folders among `paths`: each path is a session, or a folder searched recursively for them."""
    found: list[Path] = []
    for path in map(Path, paths):
        if not path.exists():
            raise MissingFileError(f"{path} does not exist")
        if is_session(path):
            found.append(path)
        elif path.is_dir():
            found.extend(sorted(p.parent for p in path.rglob(SESSION_FILE)))
    return found


# -- merging ----------------------------------------------------------------------------------------------
@dataclass
class MergeSummary:
    """What merge_sessions() wrote."""

    out: Path
    kind: str
    labels: list[str]
    counts: dict[str, int]
    sessions: list[str]
    skipped: int  # samples left out (labels not kept)


def _parse_renames(renames: Mapping[str, str] | None) -> dict[str, str]:
    return {check_label(k): check_label(v) for k, v in (renames or {}).items()}


def merge_sessions(paths: Sequence[Path | str], out: Path | str, *, labels: Sequence[str] | None = None,
                   rename: Mapping[str, str] | None = None) -> MergeSummary:
    """Merge sessions (all image or all IMU) into one training set that `edgeloop train --data OUT` reads.

    Image sessions become an `edgeloop-image-set v1` folder (folder-per-class
    PNGs, manifest.jsonl with each sample's session and prediction,
    dataset.json); IMU sessions become one edgeloop-imu-csv v1 file per
    session. `rename` maps old label → new (merging classes); `labels` keeps
    only those labels, in that order (default: every label with samples, in
    first-seen order). `out` must not exist or be empty.
    """
    out = Path(out)
    sessions = [load_session(p) for p in find_sessions(paths)]
    if not sessions:
        raise SessionError(f"no recorded sessions under {', '.join(map(str, paths))}")
    kinds = {s.kind for s in sessions}
    if len(kinds) > 1:
        raise SessionError("cannot merge image and IMU sessions into one set: "
                           + ", ".join(f"{s.name} ({s.kind})" for s in sessions))
    if out.exists() and any(out.iterdir()):
        raise ExistingFileError(f"{out} exists and is not empty: merge into a new folder")
    renames = _parse_renames(rename)
    keep = [check_label(lab) for lab in labels] if labels else None

    def mapped(label: str) -> str | None:
        label = renames.get(label, label)
        return label if keep is None or label in keep else None

    order: list[str] = []
    for s in sessions:
        for lab in list(s.labels) + sorted(s.counts):
            m = mapped(lab)
            if m is not None and m not in order and any(mapped(k) == m and n for k, n in s.counts.items()):
                order.append(m)
    if keep is not None:
        order = [lab for lab in keep if lab in order]
    names = _unique_names([s.name for s in sessions])
    out.mkdir(parents=True, exist_ok=True)
    counts: Counter[str] = Counter()
    skipped = 0
    kind = sessions[0].kind
    if kind == "image":
        records: list[ImageRecord] = []
        for s, name in zip(sessions, names):
            for entry in s.records:
                label = mapped(str(entry["label"]))
                if label is None:
                    skipped += 1
                    continue
                rel = f"{label}/{name}-{Path(entry['file']).name}"
                (out / label).mkdir(exist_ok=True)
                _link_or_copy(s.path / entry["file"], out / rel)
                extra = {k: v for k, v in entry.items() if k not in ("file", "label", "split")}
                extra.update({"session": name, "session_file": entry["file"]})
                records.append(ImageRecord(rel, label, str(entry.get("split", "train")), extra))
                counts[label] += 1
        write_manifest(out, records, order, sessions=names)
    else:
        for s, name in zip(sessions, names):
            if s.imu is None or not len(s.imu):
                continue
            rec = s.imu
            new_labels = np.array([mapped(str(lab)) for lab in rec.labels], dtype=object)
            keep_mask = np.array([lab is not None for lab in new_labels], dtype=bool)
            skipped += int((~keep_mask).sum())
            if not keep_mask.any():
                continue
            meta = {k: v for k, v in rec.meta.items() if k not in ("format", "rate_hz", "units")}
            meta["session"] = name
            # Dropped spans leave gaps in time, which the CSV allows (time only has to increase).
            kept = ImuRecording(rec.t[keep_mask], rec.data[keep_mask], new_labels[keep_mask], rec.rate_hz, meta,
                                rec.channels, dict(rec.units))
            # six IMU channels stay v1 (what older readers take); any other channels are v2
            (write_imu_csv if rec.channels == IMU_CHANNELS else write_recording)(out / f"{name}.csv", kept)
            counts.update(str(lab) for lab in new_labels[keep_mask])
    if not counts:
        raise SessionError(f"the sessions hold no samples with the kept labels {keep or order}")
    write_json_atomic(out / MERGE_FILE, {
        "format": IMAGE_SET_FORMAT if kind == "image" else "edgeloop-imu-set v1", "kind": kind,
        "labels": order, "counts": dict(counts), "skipped": skipped,
        "sessions": [{"name": n, "path": str(s.path.resolve()), "status": s.status, "source": s.source}
                     for s, n in zip(sessions, names)],
        "rename": renames, "created_unix": round(time.time(), 3),
    })
    return MergeSummary(out, kind, order, dict(counts), names, skipped)


def _unique_names(names: Sequence[str]) -> list[str]:
    seen: Counter[str] = Counter()
    result = []
    for name in names:
        seen[name] += 1
        result.append(name if seen[name] == 1 else f"{name}-{seen[name]}")
    return result


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)  # same file system: no copy needed, and PNGs are never modified in place
    except OSError:
        shutil.copy2(src, dst)


# -- replay ------------------------------------------------------------------------------------------------
class SessionReplaySource(Source):
    """Replays a recorded session as a source: its images, or its IMU samples in chunks.

    Every capture carries its recorded label in `meta["label"]` (plus
    `session` and, for images, `file`), so a replay can feed a board, a
    validation or another recording with ground truth. `speed` 1 keeps the
    recorded timing, 2 plays twice as fast, 0 as fast as the consumer takes
    it. IMU chunks hold `chunk_s` seconds of samples and never span a label
    change.
    """

    def __init__(self, path: Path | str, *, speed: float = 1.0, loop: bool = False, chunk_s: float = 0.1) -> None:
        if speed < 0 or not math.isfinite(speed):
            raise InputError(f"speed must be >= 0 (0 = as fast as possible), got {speed}")
        if chunk_s <= 0:
            raise InputError(f"chunk_s must be > 0 seconds, got {chunk_s}")
        self.session = load_session(path)
        super().__init__(name=f"session {self.session.name}")
        self.kind = "image" if self.session.kind == "image" else "imu"  # type: ignore[misc]
        if self.session.n_samples == 0:
            raise SessionError(f"session {self.session.path} holds no samples to replay")
        self.speed = speed
        self.loop = loop
        self._pos = 0
        self._clock_start: float | None = None
        self._chunks = self._imu_chunks(chunk_s) if self.session.imu is not None else []

    def __len__(self) -> int:
        """Captures in one pass (images, or IMU chunks)."""
        return len(self._chunks) if self.session.kind == "imu" else len(self.session.records)

    def _imu_chunks(self, chunk_s: float) -> list[tuple[int, int]]:
        rec = self.session.imu
        assert rec is not None
        size = max(1, int(round(chunk_s * rec.rate_hz)))
        chunks, start = [], 0
        labels = rec.labels
        while start < len(rec):
            stop = min(start + size, len(rec))
            change = np.flatnonzero(labels[start + 1:stop] != labels[start])
            if change.size:
                stop = start + 1 + int(change[0])
            chunks.append((start, stop))
            start = stop
        return chunks

    def _time_of(self, pos: int) -> float:
        if self.session.kind == "image":
            t = self.session.records[pos].get("t")
            return float(t) if isinstance(t, (int, float)) else pos * 0.1
        assert self.session.imu is not None
        return float(self.session.imu.t[self._chunks[pos][0]])

    def _read_internal(self, timeout: float | None) -> Capture | None | _End:
        if self._pos >= len(self):
            if not self.loop:
                return END
            self._pos, self._clock_start = 0, None
        if self.speed > 0:
            now = time.monotonic()
            if self._clock_start is None:
                self._clock_start = now - (self._time_of(self._pos) - self._time_of(0)) / self.speed
            due = self._clock_start + (self._time_of(self._pos) - self._time_of(0)) / self.speed
            wait = due - now
            if wait > 0:
                if timeout is not None and wait > timeout:
                    time.sleep(timeout)
                    return None
                time.sleep(wait)
        pos = self._pos
        self._pos += 1
        if self.session.kind == "image":
            entry = self.session.records[pos]
            file = self.session.path / entry["file"]
            cv2 = require("cv2", needed_for="image sessions")
            image = cv2.imread(str(file), cv2.IMREAD_UNCHANGED)
            if image is None:
                raise SessionError(f"cannot read {file}: the PNG is damaged")
            if image.ndim == 3 and image.shape[2] >= 3:
                image = cv2.cvtColor(image[:, :, :3], cv2.COLOR_BGR2RGB)
            meta = dict(entry.get("source") or {})
            meta.update({"label": entry["label"], "session": self.session.name, "file": entry["file"]})
            return self._image(image, meta)
        rec = self.session.imu
        assert rec is not None
        start, stop = self._chunks[pos]
        return self._imu(rec.data[start:stop], rec.rate_hz,
                         meta={"label": str(rec.labels[start]), "session": self.session.name}, channels=rec.channels)
