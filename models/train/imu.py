"""IMU recipes: activity recognition, fall detection and any labeled edgeloop-imu-csv recordings.

Recordings are cut into windows (window/hop samples); a window's label is
the majority of its samples' labels (windows whose majority is unlabeled
are skipped). Features are the edgeloop window statistics, standardised
with statistics of the training windows, and feed a small dense network.
Splits follow the recordings' `split` metadata (synthetic sets are split by
subject); recordings without one are assigned whole, seeded, or, when there
are fewer than three, cut in time (70/15/15).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from edgeloop import InputError
from edgeloop.models.data.imu import ACTIVITY_LABELS, FALL_EVENT, FALL_LABELS
from edgeloop.models.data.imu_csv import CHANNELS, ImuRecording, find_imu_csvs, read_imu_csv
from edgeloop.models.features import FeatureNorm, extract_features, window_starts
from edgeloop.models.quantize import ModelMeta, labels_json
from edgeloop.models.train.common import FitConfig, Stopwatch, fit, setup_tensorflow
from edgeloop.models.train.families import build_feature_mlp
from edgeloop.models.train.finish import finish

if TYPE_CHECKING:
    from edgeloop.models.train.recipes import TrainRequest

# task -> (default window, default hop, MLP width, MLP depth, epochs)
IMU_DEFAULTS = {"imu-activity": (256, 128, 32, 2, 80), "fall": (400, 100, 32, 2, 80)}


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


def _split_recordings(recs: list[ImuRecording], seed: int) -> list[tuple[ImuRecording, str]]:
    """Pair each recording (or piece of one) with its split."""
    if all(r.meta.get("split") in ("train", "val", "test") for r in recs):
        return [(r, r.meta["split"]) for r in recs]
    if len(recs) >= 3:
        order = np.random.default_rng(seed).permutation(len(recs))
        n_test, n_val = max(1, len(recs) * 15 // 100), max(1, len(recs) * 15 // 100)
        split_of = {int(i): ("test" if k < n_test else "val" if k < n_test + n_val else "train")
                    for k, i in enumerate(order)}
        return [(r, split_of[i]) for i, r in enumerate(recs)]
    pieces = []
    for r in recs:
        n = len(r)
        cuts = [0, int(n * 0.7), int(n * 0.85), n]
        for split, a, b in zip(("train", "val", "test"), cuts, cuts[1:]):
            pieces.append((ImuRecording(r.t[a:b], r.data[a:b], r.labels[a:b], r.rate_hz, dict(r.meta)), split))
    return pieces


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
    """Train a dense network on IMU feature windows for `req.task`, export and report."""
    clock = Stopwatch()
    setup_tensorflow(req.seed)
    recs = [read_imu_csv(p) for p in find_imu_csvs(req.data)]
    rates = {r.rate_hz for r in recs}
    if len(rates) != 1:
        raise InputError(f"recordings have different sample rates {sorted(rates)} Hz; train on one rate at a time")
    rate = rates.pop()
    d_window, d_hop, width, depth, epochs = IMU_DEFAULTS.get(req.task, (int(2 * rate), int(rate), 32, 2, 80))
    window, hop = req.window or d_window, req.hop or d_hop
    labels, mapper = label_mapper(req.task)
    discovered: list[str] = []
    sets = {s: WindowSet() for s in ("train", "val", "test")}
    events: dict[int, list[tuple[int, int]]] = {}
    pieces = _split_recordings(recs, req.seed)
    for rec_index, (rec, split) in enumerate(pieces):
        # Training windows overlap 4× more than deployed ones: more, equally valid examples.
        step = max(1, hop // 4) if split == "train" else hop
        if req.task == "fall" and split == "test":
            events[rec_index] = fall_events(rec.labels.astype(str))
        feats, names, starts = labeled_windows(rec, window, step, mapper)
        for f, name, s0 in zip(feats, names, starts):
            if labels is None:
                if name not in discovered:
                    discovered.append(name)
                cls = discovered.index(name)
            else:
                cls = labels.index(name)
            ws = sets[split]
            ws.x.append(f[None])
            ws.y.append(cls)
            ws.rec.append(rec_index)
            ws.start.append(int(s0))
    if labels is None:
        order = sorted(discovered)
        remap = np.array([order.index(n) for n in discovered], np.int64)
        for ws in sets.values():
            ws.y = [int(remap[c]) for c in ws.y]
        labels = order
    labels = labels_json(labels)
    n_feat = len(CHANNELS) * 9
    (x, y), (x_val, y_val), (x_test, y_test) = (sets[s].arrays(n_feat) for s in ("train", "val", "test"))
    for split, arr in (("train", y), ("val", y_val), ("test", y_test)):
        if len(arr) == 0:
            raise InputError(f"no labeled {window}-sample windows in the {split} split; record longer sessions "
                             "or lower --window")
    counts = np.bincount(y, minlength=len(labels))
    if (counts == 0).any():
        raise InputError(f"no training windows of class(es) {[labels[i] for i in np.flatnonzero(counts == 0)]}")
    norm = FeatureNorm.fit(x)
    xn, xn_val, xn_test = norm.apply(x), norm.apply(x_val), norm.apply(x_test)
    width, depth, epochs = req.width or width, req.depth or depth, req.epochs or epochs
    model = build_feature_mlp(n_feat, len(labels), width=width, depth=depth, name=req.name)
    cfg = FitConfig(epochs=epochs, batch_size=64, learning_rate=3e-3, patience=12,
                    progress=req.progress,
                    class_weight={i: float(len(y) / (len(labels) * c)) for i, c in enumerate(counts)})
    hist = fit(model, xn, y, xn_val, y_val, cfg, desc=req.name)
    meta = ModelMeta(labels=tuple(labels), input_kind="imu-features", sample_rate_hz=int(round(rate)),
                     window=window, hop=hop,
                     preprocess={"features": "edgeloop window statistics", "channels": list(CHANNELS),
                                 "feature_norm": norm.to_json()}, decision=req.decision)
    extra = None
    if req.task == "fall":
        fall_index = labels.index("fall")
        extra = lambda pred: event_metrics(pred, fall_index, sets["test"], events, window)  # noqa: E731
    n_subj = len({r.meta.get("subject", i) for i, (r, s) in enumerate(pieces) if s == "test"})
    return finish(model, name=req.name, task=req.task, out_dir=req.out, meta=meta, representative=xn,
                  x_test=xn_test, y_test=y_test, seed=req.seed, recipe=[req.command()], history=hist,
                  extra_metrics=extra,
                  evaluated_on=f"{len(y_test)} windows of {n_subj} held-out recording(s)/subject(s)",
                  description=f"Dense network ({width} units, depth {depth}) on the "
                              f"{n_feat} edgeloop window statistics of {window}-sample windows (hop {hop}) at "
                              f"{rate:g} Hz, standardised with feature_norm from {req.name}.preprocess.json.",
                  info={"train_seconds": clock.seconds(), "train_samples": int(len(y)),
                        "val_samples": int(len(y_val))},
                  resolved=replace(req.recipe(), family="feature-mlp", features="stats9", window=window, hop=hop,
                                   width=width, depth=depth, epochs=epochs))
