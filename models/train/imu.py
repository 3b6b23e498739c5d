"""IMU task helpers: class lists of the activity and fall tasks, fall events and event-level metrics.

Training itself is the generic time-series trainer (timeseries.py): windows
of window/hop samples, a window's label the strict majority of its samples'
labels, splits by models/data/splits.py.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from edgeloop import InputError
from edgeloop.models.data.imu import ACTIVITY_LABELS, FALL_EVENT, FALL_LABELS
from edgeloop.models.data.imu_csv import ImuRecording
from edgeloop.models.features import extract_features, window_starts

if TYPE_CHECKING:
    from edgeloop.models.train.recipes import TrainRequest


@dataclass
class WindowSet:
    """Feature windows of one split, with where each came from (for event-level metrics)."""

    x: list[np.ndarray] = field(default_factory=list)
    y: list[int] = field(default_factory=list)
    rec: list[int] = field(default_factory=list)
    start: list[int] = field(default_factory=list)

    def arrays(self, n_features: int) -> tuple[np.ndarray, np.ndarray]:
        if not self.x:
            return np.zeros((0, n_features), np.float32), np.zeros(0, np.int64)
        return np.concatenate(self.x), np.asarray(self.y, np.int64)


def label_mapper(task: str) -> tuple[list[str] | None, Callable[[str], str | None]]:
    """Class list (None: discover) and a function mapping sample labels to class names (None: skip)."""
    if task == "imu-activity":
        return list(ACTIVITY_LABELS), lambda s: s if s in ACTIVITY_LABELS else None
    if task == "fall":
        return list(FALL_LABELS), lambda s: None if s == "" else ("fall" if s == FALL_EVENT else "adl")
    return None, lambda s: s or None


def fall_events(labels: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) sample spans of contiguous fall-event labels."""
    is_fall = np.asarray(labels == FALL_EVENT, np.int8)
    edges = np.diff(np.concatenate([[0], is_fall, [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


def event_metrics(pred: np.ndarray, fall_index: int, windows: WindowSet, events: dict[int, list[tuple[int, int]]],
                  window: int) -> dict[str, float]:
    """Event-level fall figures from per-window predictions.

    event_recall: share of fall events (contiguous fall-labelled spans) that
    at least one window overlapping them flags as fall. event_false_alarm:
    share of windows overlapping no fall event that are flagged as fall.
    """
    hit: set[tuple[int, int]] = set()
    false_alarms = clean = 0
    for p, rec, start in zip(pred, windows.rec, windows.start):
        overlapping = [e for e in events.get(rec, []) if start < e[1] and e[0] < start + window]
        if overlapping:
            if p == fall_index:
                hit.update((rec, e[0]) for e in overlapping)
        else:
            clean += 1
            false_alarms += int(p == fall_index)
    n_events = sum(len(v) for v in events.values())
    return {"event_recall": len(hit) / n_events if n_events else 0.0, "events": n_events,
            "event_false_alarm": false_alarms / clean if clean else 0.0, "clean_windows": clean}


def labeled_windows(rec: ImuRecording, window: int, hop: int,
                    mapper: Callable[[str], str | None]) -> tuple[np.ndarray, list[str], list[int]]:
    """Features, class names and start samples of the windows of `rec` that have a majority label.

    `mapper` turns a sample label into a class name (None: unlabeled). A
    window whose mapped labels have no strict majority (a transition) is
    skipped rather than guessed.
    """
    starts = window_starts(len(rec), window, hop)
    if not len(starts):
        return np.zeros((0, rec.data.shape[1] * 9), np.float32), [], []
    feats = extract_features(rec.data, window, hop)
    mapped = [mapper(str(s)) for s in rec.labels]
    keep, names, kept_starts = [], [], []
    for k, s0 in enumerate(starts):
        votes = Counter(v for v in mapped[s0 : s0 + window] if v is not None)
        if not votes:
            continue
        name, count = votes.most_common(1)[0]
        if count * 2 <= window:
            continue
        keep.append(k)
        names.append(name)
        kept_starts.append(int(s0))
    return feats[keep], names, kept_starts


def train_imu(req: "TrainRequest") -> dict[str, Any]:
    """The IMU tasks run the generic time-series trainer (models/train/timeseries.py)."""
    from edgeloop.models.train.timeseries import train_timeseries

    return train_timeseries(req)
