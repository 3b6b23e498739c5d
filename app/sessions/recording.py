"""Record labeled sessions to disk, crash-safe, in the open edgeloop formats (no Qt).

A session is one folder (docs/workflow.md, "Sessions", describes it)::

    DIR/session.json          label set, source, start time, board/model info (rewritten atomically)
    image sessions:
    DIR/<label>/000123.png    one PNG per sample, folder per class
    DIR/manifest.jsonl        one JSON line per sample: file, label, time, prediction, source metadata
    IMU sessions:
    DIR/imu.csv               edgeloop-imu-csv v1 (six IMU channels) or edgeloop-recording v2 (any
                              other channels): header comments, header row, one row per sample
    DIR/predictions.jsonl     one JSON line per board result while recording (when a board is connected)

Crash safety: every sample is appended with a single `os.write` of complete
lines to a file opened with O_APPEND (a PNG is first written under a temporary
name and renamed into place), so a killed process leaves every sample it
finished intact; files are fsynced at most every `fsync_interval` seconds.
A failed write (full disk, unwritable folder) is rolled back to the last
complete line, raises `RecordingError` and stops the recorder; what was
already written stays readable.

Example::

    rec = Recorder("sessions/bottle-1", LabelSet(["empty", "half", "full"]), kind="image",
                   source={"spec": "camera:0"})
    rec.start()
    rec.labels.hotkey(3)                  # current label: full
    for capture in source:
        rec.add_capture(capture)          # or rec.add_result(record) when a board is connected
    rec.close()
"""

from __future__ import annotations

import errno
import json
import math
import os
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from edgeloop import EdgeloopError, ExistingFileError, InputError, require
from edgeloop.app.live.sources.base import END, Capture, ImageFrame, ImuSamples, Source, _End
from edgeloop.models.data.imu_csv import HEADER as IMU_HEADER
from edgeloop.models.data.imu_csv import IMU_CSV_FORMAT, UNITS as IMU_UNITS
from edgeloop.models.data.recording import IMU_CHANNELS, RECORDING_FORMAT

if TYPE_CHECKING:
    from edgeloop.app.live.pipeline import ResultRecord

SESSION_FORMAT: Final = "edgeloop-session v1"
SESSION_FILE: Final = "session.json"
MANIFEST_FILE: Final = "manifest.jsonl"
IMU_FILE: Final = "imu.csv"
PREDICTIONS_FILE: Final = "predictions.jsonl"
KINDS: Final = ("image", "imu")
MAX_HOTKEYS: Final = 9
_FORBIDDEN_IN_LABELS = set('/\\,"\n\r\t:')


class RecordingError(EdgeloopError, OSError):
    """The recording had to stop (disk full, folder not writable...); what was written before is intact."""


# -- labels ----------------------------------------------------------------------------------------------
def check_label(name: str) -> str:
    """Return `name` stripped if it can be a label (a folder name and a CSV field), else raise ValueError."""
    name = name.strip()
    if not name:
        raise InputError("a label may not be empty")
    if len(name) > 64:
        raise InputError(f"label {name[:20]!r}... is longer than 64 characters")
    bad = sorted(_FORBIDDEN_IN_LABELS & set(name))
    if bad or name.startswith("."):
        raise InputError(f"label {name!r} may not start with '.' or contain any of / \\ , \" : or whitespace "
                         f"other than spaces (it names a folder and a CSV field)")
    return name


class LabelSet:
    """An editable, ordered set of labels and the current one; hotkeys 1–9 pick the first nine.

    Listeners registered with `subscribe(fn)` are called with no arguments
    after every change (the GUI redraws from the properties).
    """

    def __init__(self, labels: Iterable[str] = (), current: str | None = None) -> None:
        self._labels: list[str] = []
        self._current: str | None = None
        self._listeners: list[Callable[[], None]] = []
        for name in labels:
            self.add(name)
        if current is not None:
            self.select(current)

    @classmethod
    def parse(cls, text: str) -> LabelSet:
        """Build a label set from `a,b,c` (as given to `--labels`)."""
        names = [part for part in text.split(",") if part.strip()]
        if not names:
            raise InputError(f"--labels {text!r} names no labels; give them comma-separated, e.g. empty,half,full")
        return cls(names)

    @property
    def labels(self) -> tuple[str, ...]:
        """The labels in order."""
        return tuple(self._labels)

    @property
    def current(self) -> str | None:
        """The label new samples get (None while the set is empty)."""
        return self._current

    def __len__(self) -> int:
        return len(self._labels)

    def __contains__(self, name: object) -> bool:
        return name in self._labels

    def __iter__(self):
        return iter(self._labels)

    def subscribe(self, listener: Callable[[], None]) -> None:
        """Call `listener()` after each change of the labels or of the current label."""
        self._listeners.append(listener)

    def _changed(self) -> None:
        for listener in list(self._listeners):
            listener()

    def add(self, name: str) -> str:
        """Append a label (the first one added becomes current); returns the cleaned name."""
        name = check_label(name)
        if name in self._labels:
            raise InputError(f"label {name!r} is already in the set")
        self._labels.append(name)
        if self._current is None:
            self._current = name
        self._changed()
        return name

    def remove(self, name: str) -> None:
        """Remove a label; the current label moves to the first remaining one."""
        if name not in self._labels:
            raise InputError(f"no label {name!r} in the set {self._labels}")
        self._labels.remove(name)
        if self._current == name:
            self._current = self._labels[0] if self._labels else None
        self._changed()

    def rename(self, old: str, new: str) -> str:
        """Rename a label in place (keeps its hotkey); returns the cleaned new name."""
        if old not in self._labels:
            raise InputError(f"no label {old!r} in the set {self._labels}")
        new = check_label(new)
        if new != old and new in self._labels:
            raise InputError(f"label {new!r} is already in the set")
        self._labels[self._labels.index(old)] = new
        if self._current == old:
            self._current = new
        self._changed()
        return new

    def select(self, name: str) -> None:
        """Make `name` the current label."""
        if name not in self._labels:
            raise InputError(f"no label {name!r} in the set {self._labels}; add it first")
        self._current = name
        self._changed()

    def hotkey(self, number: int) -> str | None:
        """Select the label of hotkey `number` (1–9); returns it, or None when no label has that key."""
        if not 1 <= number <= MAX_HOTKEYS:
            raise InputError(f"hotkeys are 1..{MAX_HOTKEYS}, got {number}")
        if number > len(self._labels):
            return None
        self.select(self._labels[number - 1])
        return self._current


# -- durable file writing --------------------------------------------------------------------------------
def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json_atomic(path: Path | str, obj: Any) -> None:
    """Write `obj` as JSON to `path` atomically: temp file in the same folder, fsync, os.replace, fsync dir."""
    path = Path(path)
    # NaN and infinities are not JSON: they become null, so any strict reader takes the file.
    data = (json.dumps(_clean(obj), indent=2, ensure_ascii=False, default=_json_default, allow_nan=False)
            + "\n").encode("utf-8")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        _write_all(fd, data)
        os.fsync(fd)
        os.close(fd)
        fd = -1
        os.replace(tmp, path)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(path.parent)


def _write_all(fd: int, data: bytes) -> None:
    """os.write until every byte is out (a regular file may accept a write partly)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class AppendLog:
    """An append-only file that takes whole records, each with one write, and never keeps a torn one.

    `append()` writes all bytes of a record or, when the write fails (ENOSPC,
    EIO...), truncates the file back to its last complete record and raises
    the OSError. `sync()` fsyncs; `append()` does so itself at most every
    `fsync_interval` seconds.
    """

    def __init__(self, path: Path | str, fsync_interval: float = 1.0) -> None:
        self.path = Path(path)
        self.fsync_interval = fsync_interval
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
        self._size = os.fstat(self._fd).st_size
        self._last_sync = time.monotonic()
        self._dirty = False

    @property
    def size(self) -> int:
        """Bytes of complete records in the file."""
        return self._size

    def append(self, record: bytes) -> None:
        """Append one complete record (e.g. a line with its newline)."""
        if self._fd < 0:
            raise ValueError(f"{self.path} is closed")
        try:
            _write_all(self._fd, record)
        except OSError:
            try:  # leave no partial record behind: readers then see only whole lines
                os.ftruncate(self._fd, self._size)
            except OSError:
                pass
            raise
        self._size += len(record)
        self._dirty = True
        if self.sync_due():
            self.sync()

    def sync_due(self) -> bool:
        """True when the next append() will fsync (the fsync interval has passed)."""
        return time.monotonic() - self._last_sync >= self.fsync_interval

    def sync(self) -> None:
        """fsync the file if anything was appended since the last sync."""
        if self._fd >= 0 and self._dirty:
            os.fsync(self._fd)
            self._dirty = False
        self._last_sync = time.monotonic()

    def close(self) -> None:
        """Sync and close (safe to call twice; a failing sync still closes)."""
        if self._fd < 0:
            return
        try:
            self.sync()
        finally:
            os.close(self._fd)
            self._fd = -1


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist() if value.size <= 64 else f"<array {value.dtype} {list(value.shape)}>"
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return dict(value)
    return repr(value)


def _finite(value: float) -> float | None:
    """JSON has no NaN: None for NaN/inf, the value otherwise."""
    return float(value) if value is not None and math.isfinite(value) else None


def json_line(obj: Mapping[str, Any]) -> bytes:
    """One compact JSON line (UTF-8, newline-terminated); NaN becomes null."""
    return (json.dumps(_clean(obj), separators=(",", ":"), ensure_ascii=False, default=_json_default,
                       allow_nan=False) + "\n").encode("utf-8")


def _clean(value: Any) -> Any:
    if isinstance(value, float):
        return _finite(value)
    if isinstance(value, np.floating):
        return _finite(float(value))
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def prediction_fields(record: ResultRecord) -> dict[str, Any]:
    """The board's answer in a result record as plain JSON fields (what a sample stores)."""
    if not record.ok:
        return {"model": record.model_name, "error": record.error}
    return {
        "model": record.model_name,
        "class": record.class_index,
        "label": record.label,
        "confidence": _finite(record.confidence),
        "seq": record.seq,
        "tick_hz": record.tick_hz,
        "ticks": dict(record.ticks),
        "us": {k: round(float(v), 3) for k, v in record.timings_us.items()},
        "timing": record.timing_label,
        "rtt_ms": _finite(record.rtt_s * 1e3),
    }


def _utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _what_to_do(exc: OSError) -> str:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "the disk is full: free some space and start a new recording"
    if exc.errno == errno.EFBIG:
        return "the file grew past the size limit of this process or file system"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "the folder is not writable: record into a folder you may write to (--out)"
    return "check the disk and the folder, then start a new recording"


# -- the recorder ------------------------------------------------------------------------------------------
class Recorder:
    """Writes one labeled session (see the module doc). Thread-safe: GUI, capture and link threads may call it.

    Args:
        out_dir: the session folder; created, and it must not hold a session yet.
        labels: the label set (shared with a GUI, which edits it while recording).
        kind: "image" or "imu": what the source gives.
        source: metadata of the source (spec, name, ...), stored in session.json.
        board: metadata of the connected board (None when recording without one).
        model: descriptor fields of the model whose predictions are recorded, if any.
        fsync_interval: longest time in seconds between two fsyncs of the data files.
        label_from_source: label each capture with its source's ground truth (`meta["label"]`,
            e.g. synthetic scenes and session replays) instead of the current label; labels the
            set does not know yet are added.
    """

    def __init__(self, out_dir: Path | str, labels: LabelSet | Sequence[str], *, kind: str,
                 source: Mapping[str, Any] | None = None, board: Mapping[str, Any] | None = None,
                 model: Mapping[str, Any] | None = None, fsync_interval: float = 1.0,
                 label_from_source: bool = False) -> None:
        if kind not in KINDS:
            raise InputError(f"recording kind must be one of {', '.join(KINDS)}, not {kind!r}")
        if fsync_interval < 0:
            raise InputError(f"fsync_interval must be >= 0 seconds, got {fsync_interval}")
        self.out_dir = Path(out_dir)
        self.labels = labels if isinstance(labels, LabelSet) else LabelSet(labels)
        if not len(self.labels) and not label_from_source:
            raise InputError("a recording needs at least one label (e.g. --labels empty,half,full)")
        self.kind = kind
        self.source = dict(source or {})
        self.board = dict(board) if board else None
        self.model = dict(model) if model else None
        self.fsync_interval = fsync_interval
        self.label_from_source = label_from_source
        self.counts: Counter[str] = Counter()
        self.samples = 0  # images, or IMU samples (rows)
        self.predictions = 0
        self.error: RecordingError | None = None
        self._lock = threading.RLock()
        self._state = "idle"
        self._snapshot: str | None = None
        self._snapshot_armed = False
        self._files: dict[str, AppendLog] = {}
        self._written_since_sync: list[Path] = []
        self._last_dir_sync = 0.0
        self._t0_mono = 0.0
        self._t0_wall = 0.0
        self._started = ""
        self._imu_rate = 0.0
        self._imu_channels: tuple[str, ...] = IMU_CHANNELS
        self._imu_last_t = -math.inf

    # -- state --------------------------------------------------------------------------------------
    @property
    def state(self) -> str:
        """idle, recording, paused, stopped or failed."""
        return self._state

    @property
    def recording(self) -> bool:
        """True between start() and close() (also while paused)."""
        return self._state in ("recording", "paused")

    @property
    def paused(self) -> bool:
        """True while paused: spans are not recorded, snapshots still are."""
        return self._state == "paused"

    def start(self) -> Recorder:
        """Create the folder and session.json; raises RecordingError if that is impossible."""
        with self._lock:
            if self._state != "idle":
                raise RuntimeError(f"this recorder was already started (state {self._state})")
            if (self.out_dir / SESSION_FILE).exists():
                raise ExistingFileError(f"{self.out_dir} already holds a recorded session; "
                                      "record into a new folder (sessions are never overwritten)")
            try:
                self.out_dir.mkdir(parents=True, exist_ok=True)
                self._t0_mono, self._t0_wall = time.monotonic(), time.time()
                self._started = _utc_now()
                self._write_session_json("recording")
                if self.kind == "image":
                    self._files["manifest"] = AppendLog(self.out_dir / MANIFEST_FILE, self.fsync_interval)
            except OSError as exc:
                self._state = "failed"
                self.error = RecordingError(exc.errno or errno.EIO,
                                            f"cannot record into {self.out_dir}: {exc.strerror or exc}; "
                                            f"{_what_to_do(exc)}")
                raise self.error from exc
            self._state = "recording"
            return self

    def pause(self) -> None:
        """Stop recording spans (snapshots still work)."""
        with self._lock:
            if self._state == "recording":
                self._state = "paused"

    def resume(self) -> None:
        """Record spans again."""
        with self._lock:
            if self._state == "paused":
                self._state = "recording"

    def snapshot(self, label: str | None = None) -> None:
        """Record the next capture once, with `label` (default: the current label), even while paused."""
        with self._lock:
            if label is not None and label not in self.labels:
                raise InputError(f"no label {label!r} in the set {list(self.labels)}")
            self._snapshot = label
            self._snapshot_armed = True

    def elapsed(self) -> float:
        """Seconds since start()."""
        return time.monotonic() - self._t0_mono if self._t0_mono else 0.0

    # -- adding samples -------------------------------------------------------------------------------
    def _take_label(self, meta: Mapping[str, Any]) -> tuple[str | None, str]:
        """(label, mode) for the next sample, or (None, "") when it is not to be recorded."""
        if self._state not in ("recording", "paused"):
            return None, ""
        if self._snapshot_armed:
            mode, label = "snapshot", self._snapshot
            self._snapshot_armed, self._snapshot = False, None
        elif self._state == "recording":
            mode, label = "span", None
        else:
            return None, ""
        if label is None and self.label_from_source and meta.get("label") is not None:
            label = str(meta["label"])
            if label not in self.labels:
                self.labels.add(label)
        if label is None:
            label = self.labels.current
        return label, mode

    def add_capture(self, capture: Capture, prediction: ResultRecord | None = None) -> int:
        """Record a capture (if recording, or if a snapshot is armed); returns the samples written."""
        with self._lock:
            self._check_usable()
            label, mode = self._take_label(capture.meta)
            if label is None:
                return 0
            try:
                if self.kind == "image":
                    if not isinstance(capture, ImageFrame):
                        raise InputError(f"this is an image recording, but the source gave {type(capture).__name__}")
                    return self._write_image(capture.data, capture.timestamp, capture.index, capture.meta,
                                             label, mode, prediction)
                if not isinstance(capture, ImuSamples):
                    raise InputError(f"this is an IMU recording, but the source gave {type(capture).__name__}")
                return self._write_imu(capture, label)
            except OSError as exc:
                self._fail(exc)
                raise self.error from exc  # type: ignore[misc]

    def add_result(self, record: ResultRecord) -> int:
        """Record a board result: an image sample with its prediction, or an IMU prediction line."""
        with self._lock:
            self._check_usable()
            if self.kind == "image":
                if record.frame is None:
                    return 0
                label, mode = self._take_label(record.meta)
                if label is None:
                    return 0
                try:
                    return self._write_image(record.frame, record.timestamp, record.capture_index, record.meta,
                                             label, mode, record)
                except OSError as exc:
                    self._fail(exc)
                    raise self.error from exc  # type: ignore[misc]
            if self._state != "recording":
                return 0
            line = {"t": round(record.timestamp - self._t0_mono, 6), "label": self.labels.current,
                    "capture": record.capture_index, "prediction": prediction_fields(record)}
            try:
                self._log(PREDICTIONS_FILE).append(json_line(line))
            except OSError as exc:
                self._fail(exc)
                raise self.error from exc  # type: ignore[misc]
            self.predictions += 1
            return 0

    def _check_usable(self) -> None:
        if self._state == "failed":
            raise self.error or RecordingError(errno.EIO, "the recording failed earlier")

    def _log(self, name: str) -> AppendLog:
        log = self._files.get(name)
        if log is None:
            log = self._files[name] = AppendLog(self.out_dir / name, self.fsync_interval)
        return log

    def _write_image(self, image: np.ndarray, timestamp: float, index: int, meta: Mapping[str, Any],
                     label: str, mode: str, prediction: ResultRecord | None) -> int:
        image = np.asarray(image)
        if image.dtype != np.uint8 or image.ndim not in (2, 3):
            raise InputError(f"cannot record a {image.dtype} {image.shape} array as an image")
        number = self.samples
        rel = f"{label}/{number:06d}.png"
        folder = self.out_dir / label
        folder.mkdir(exist_ok=True)
        cv2 = require("cv2", needed_for="image recordings")
        bgr = image if image.ndim == 2 or image.shape[2] == 1 else cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
        ok, png = cv2.imencode(".png", bgr)
        if not ok:
            raise InputError(f"OpenCV could not encode a {image.shape} image as PNG")
        final = self.out_dir / rel
        tmp = folder / f".{number:06d}.png.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        try:
            _write_all(fd, png.tobytes())
        except OSError:
            os.close(fd)
            os.unlink(tmp)
            raise
        os.close(fd)
        os.replace(tmp, final)  # the manifest line below only ever names a complete PNG
        self._written_since_sync.append(final)
        entry: dict[str, Any] = {
            "file": rel, "label": label, "t": round(timestamp - self._t0_mono, 6),
            "time": round(self._t0_wall + (timestamp - self._t0_mono), 6), "index": number,
            "capture": index, "mode": mode, "shape": list(image.shape),
        }
        if prediction is not None:
            entry["prediction"] = prediction_fields(prediction)
        if meta:
            entry["source"] = dict(meta)
        manifest = self._files["manifest"]
        if manifest.sync_due():
            self._sync_images()  # PNGs reach the disk before the manifest lines that name them
        manifest.append(json_line(entry))
        self.samples += 1
        self.counts[label] += 1
        return 1

    def _sync_images(self) -> None:
        for path in self._written_since_sync:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        if self._written_since_sync:
            for folder in {p.parent for p in self._written_since_sync}:
                _fsync_dir(folder)
        self._written_since_sync.clear()

    def _write_imu(self, chunk: ImuSamples, label: str) -> int:
        data = np.asarray(chunk.data, dtype=np.float64)
        channels = tuple(getattr(chunk, "channels", IMU_CHANNELS))
        if data.ndim != 2 or not len(data):
            return 0
        if data.shape[1] != len(channels):
            raise InputError(f"a chunk of {data.shape[1]} columns names {len(channels)} channels {channels}")
        rate = float(chunk.rate_hz)
        if rate <= 0:
            raise InputError("IMU samples without a sample rate cannot be recorded; the source must report one")
        log = self._files.get("imu")
        if log is None:
            self._imu_rate = rate
            self._imu_channels = channels
            # the six IMU channels keep edgeloop-imu-csv v1; any other channels are edgeloop-recording v2
            v1 = channels == IMU_CHANNELS
            header = [f"# format: {IMU_CSV_FORMAT if v1 else RECORDING_FORMAT}", f"# rate_hz: {_fmt_rate(rate)}",
                      *([f"# units: {IMU_UNITS}"] if v1 else []),
                      f"# source: {_one_line(self.source.get('name') or self.source.get('spec') or 'unknown')}",
                      f"# session: {self._started}",
                      ",".join(IMU_HEADER) if v1 else ",".join(("t", *channels, "label"))]
            log = self._files["imu"] = AppendLog(self.out_dir / IMU_FILE, self.fsync_interval)
            if log.size == 0:
                log.append(("\n".join(header) + "\n").encode("utf-8"))
        elif abs(rate - self._imu_rate) > 0.01 * self._imu_rate:
            raise InputError(f"the IMU rate changed from {self._imu_rate} Hz to {rate} Hz mid-recording; "
                             "start a new session for the new rate")
        elif channels != self._imu_channels:
            raise InputError(f"the channels changed from {self._imu_channels} to {channels} mid-recording; "
                             "start a new session for the new channels")
        period = 1.0 / self._imu_rate
        start = chunk.timestamp - self._t0_mono
        expected = self._imu_last_t + period
        # A contiguous stream keeps its sample clock (no jitter); after a pause or gap, time jumps ahead.
        if abs(start - expected) < 0.5 * period or start < expected:
            start = expected if math.isfinite(expected) else max(start, 0.0)
        t = start + np.arange(len(data)) * period
        if channels == IMU_CHANNELS:
            rows = "".join(f"{t[i]:.6f},{d[0]:.5f},{d[1]:.5f},{d[2]:.5f},{d[3]:.4f},{d[4]:.4f},{d[5]:.4f},{label}\n"
                           for i, d in enumerate(data))
        else:
            rows = "".join(f"{t[i]:.6f}," + ",".join(f"{v:.6g}" for v in d) + f",{label}\n"
                           for i, d in enumerate(data.tolist()))
        log.append(rows.encode("utf-8"))
        self._imu_last_t = float(t[-1])
        self.samples += len(data)
        self.counts[label] += len(data)
        return len(data)

    # -- ending ---------------------------------------------------------------------------------------
    def _fail(self, exc: OSError) -> None:
        what = exc.filename or self.out_dir
        self._state = "failed"
        self.error = RecordingError(exc.errno or errno.EIO,
                                    f"recording stopped: writing {what} failed ({exc.strerror or exc}); "
                                    f"{self.samples} samples before it are intact in {self.out_dir}; "
                                    f"{_what_to_do(exc)}")
        self._close_files(final_state="failed")

    def _close_files(self, final_state: str) -> None:
        for log in self._files.values():
            try:
                log.close()
            except OSError:
                pass
        try:
            self._sync_images()
        except OSError:
            pass
        self._files.clear()
        try:  # best effort: on a full disk the session.json from start() stays as it was
            self._write_session_json(final_state)
        except OSError:
            pass

    def close(self) -> None:
        """Finish the session: sync everything and mark session.json complete (safe to call twice)."""
        with self._lock:
            if self._state in ("recording", "paused"):
                self._state = "stopped"
                self._close_files(final_state="complete")

    def __enter__(self) -> Recorder:
        return self.start() if self._state == "idle" else self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def summary(self) -> dict[str, Any]:
        """What session.json holds: format, kind, labels, source, times, counts, status."""
        return {
            "format": SESSION_FORMAT,
            "kind": self.kind,
            "labels": list(self.labels.labels),
            "source": self.source,
            "started": self._started,
            "started_unix": round(self._t0_wall, 3),
            "board": self.board,
            "model": self.model,
            "files": {"data": MANIFEST_FILE if self.kind == "image" else IMU_FILE,
                      **({"predictions": PREDICTIONS_FILE} if self.kind == "imu" else {})},
        }

    def _write_session_json(self, status: str) -> None:
        info = self.summary()
        info["status"] = status
        if status != "recording":
            info.update({"ended": _utc_now(), "duration_s": round(self.elapsed(), 3), "samples": self.samples,
                         "counts": dict(self.counts), "predictions": self.predictions})
        if self.error is not None:
            info["error"] = str(self.error)
        write_json_atomic(self.out_dir / SESSION_FILE, info)


def _fmt_rate(rate: float) -> str:
    return str(int(rate)) if float(rate).is_integer() else repr(float(rate))


def _one_line(text: Any) -> str:
    return " ".join(str(text).split())


# -- tapping a source ------------------------------------------------------------------------------------------
class TappedSource(Source):
    """Wraps a source and hands every capture to `on_capture` before passing it on (e.g. to a Pipeline).

    An IMU recording with a board connected records every sample this way,
    even when the link is slower than the sensor and the pipeline skips
    captures.
    """

    def __init__(self, inner: Source, on_capture: Callable[[Capture], object]) -> None:
        super().__init__(name=inner.name)
        self.inner = inner
        self.kind = inner.kind  # type: ignore[misc]
        self.live = inner.live
        self.on_capture = on_capture

    def _read_internal(self, timeout: float | None) -> Capture | None | _End:
        item = self.inner.read(timeout)
        if item is None:
            return END if self.inner.finished else None
        self.on_capture(item)
        return item

    def _close_internal(self) -> None:
        self.inner.close()
