"""Time-series recipes: any channels, any rate, feature MLP / 1-D CNN / dense families, baselines, per recording.

Recordings (edgeloop-recording v2 or edgeloop-imu-csv v1, e.g. written by
`edgeloop dataset import`) are split by models/data/splits.py (whole
recordings or subjects, never leaking), then each recording or case is cut into
windows of `window` samples every `hop` (a window never crosses a case or a
split). A window's label is the strict majority of its samples' labels.

Defaults (printed by `edgeloop train`, docs/byod.md): the IMU tasks keep
theirs (activity 256/128 at 100 Hz, fall 400/100 at 200 Hz); otherwise the
window is 2 seconds of samples, at most the shortest recording (so every case
gives at least one window) and at least 4 samples, and the hop is half the
window. Training windows overlap 4× more (hop/4): more, equally valid examples.

Families (recipes.FAMILIES): `feature-mlp` on standardised window features
(FeatureSet, computed on the host), `cnn1d` and `dense` on raw windows
standardised per channel (SPEC.md §9.3 norm_mode 1), `auto` trains the cheap
ones and keeps the best on the validation split (ties: the smaller).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgeloop import InputError, require
from edgeloop.models.data.imagesets import natural_key
from edgeloop.models.data.recording import IMU_CHANNELS, Recording, RecordingError, find_recordings, read_recording
from edgeloop.models.data.splits import assign_splits, check_classes
from edgeloop.models.features import FEATURE_NAMES, FeatureNorm, FeatureSet, window_starts
from edgeloop.models.quantize import ModelMeta, labels_json
from edgeloop.models.train.baselines import baseline_rows
from edgeloop.models.train.common import FitConfig, Stopwatch, fit, setup_tensorflow
from edgeloop.models.train.families import build_cnn1d, build_dense_raw, build_feature_mlp, cnn1d_depth
from edgeloop.models.train.finish import finish
from edgeloop.models.train.scoring import stream_scores
from edgeloop.models.train.selection import DENSE_MAX_INPUTS, refit_epochs, select_family

if TYPE_CHECKING:
    from edgeloop.models.train.recipes import TrainRequest

# task -> (default window, default hop, width, depth, epochs) for the built-in IMU tasks
IMU_DEFAULTS = {"imu-activity": (256, 128, 32, 2, 80), "fall": (400, 100, 32, 2, 80)}
DEFAULT_WINDOW_SECONDS = 2.0
MIN_WINDOW = 4
AUTO_FAMILIES = ("feature-mlp", "cnn1d", "dense")
FAMILY_SIZES = {"feature-mlp": (32, 2), "cnn1d": (8, 0), "dense": (16, 1)}  # width, depth (0: by the window)
SPLIT_NAMES = ("train", "val", "test")


@dataclass
class SplitWindows:
    """The windows of one split: features (W, F), labels, recording index and start sample of each,
    and the raw windows (W, window, C) when a raw family needs them."""

    features: np.ndarray
    y: np.ndarray
    group: np.ndarray
    start: np.ndarray
    raw: np.ndarray | None


def window_labels(rec: Recording, window: int, starts: np.ndarray, classes: list[str],
                  mapper: Callable[[str], str | None]) -> np.ndarray:
    """The class index of each window's strict-majority mapped label, -1 where there is none."""
    codes = np.array([classes.index(m) if (m := mapper(str(s))) is not None and m in classes else -1
                      for s in rec.labels], np.int64)
    onehot = np.zeros((len(codes) + 1, len(classes)), np.int32)
    valid = codes >= 0
    onehot[1:][valid, codes[valid]] = 1
    cum = np.cumsum(onehot, axis=0)
    counts = cum[starts + window] - cum[starts]
    best = counts.argmax(1)
    return np.where(counts.max(1) * 2 > window, best, -1) if len(starts) else np.zeros(0, np.int64)


def _raw_windows(data: np.ndarray, starts: np.ndarray, window: int) -> np.ndarray:
    view = np.lib.stride_tricks.sliding_window_view(data, window, axis=0)  # (N-window+1, C, window)
    return np.ascontiguousarray(view[starts].transpose(0, 2, 1))


def cut_split(pieces: list[Recording], window: int, hop: int, classes: list[str],
              mapper: Callable[[str], str | None], fs: FeatureSet, keep_raw: bool, first_group: int = 0,
              chunk: int = 2048) -> SplitWindows:
    """Windows of every piece (a recording or case) of one split, with features and, if asked, raw samples."""
    feats, ys, groups, starts_all, raws = [], [], [], [], []
    for g, rec in enumerate(pieces):
        starts = window_starts(len(rec), window, hop)
        y = window_labels(rec, window, starts, classes, mapper)
        keep = starts[y >= 0]
        for i in range(0, len(keep), chunk):
            w = _raw_windows(rec.data, keep[i : i + chunk], window)
            feats.append(fs.compute(w))
            if keep_raw:
                raws.append(w)
        ys.append(y[y >= 0])
        groups.append(np.full(len(keep), first_group + g, np.int64))
        starts_all.append(keep)
    n_feat = len(pieces[0].channels) * fs.per_channel if pieces else 0
    cat = (lambda arrs, shape, dt: np.concatenate(arrs) if arrs else np.zeros(shape, dt))  # noqa: E731
    n_ch = len(pieces[0].channels) if pieces else 0
    return SplitWindows(cat(feats, (0, n_feat), np.float32), cat(ys, (0,), np.int64), cat(groups, (0,), np.int64),
                        cat(starts_all, (0,), np.int64),
                        cat(raws, (0, window, n_ch), np.float32) if keep_raw else None)


def load_recordings(req: "TrainRequest") -> list[Recording]:
    """Every recording of --data (split metadata kept) and of --test (split test); data without a split is
    train when --test is given."""
    recs = [read_recording(p) for p in find_recordings(req.data)]
    if req.test:
        tests = [read_recording(p) for p in find_recordings(req.test)]
        for r in tests:
            r.meta["split"] = "test"
        for r in recs:
            if r.meta.get("split") == "test":
                raise RecordingError(f"{r.name} is marked split test but is in --data while --test is given; "
                                     "move it to the --test folder")
            r.meta.setdefault("split", "train")
        recs += tests
    first = recs[0]
    for r in recs:
        if r.channels != first.channels:
            raise RecordingError(f"{r.name}: channels {list(r.channels)} differ from {list(first.channels)} "
                                 f"({first.name}); train on recordings with the same channels")
    rates = sorted({r.rate_hz for r in recs})
    if len(rates) != 1:
        eg = {rate: next(r.name for r in recs if r.rate_hz == rate) for rate in rates}
        raise RecordingError("recordings have different sample rates: " + "; ".join(
            f"{rate:g} Hz (e.g. {eg[rate]})" for rate in rates) + "; re-import them with "
            "`edgeloop dataset import ... --resample HZ` or train on one rate at a time")
    return recs


def class_order(discovered: set[str], data: list[Path]) -> list[str]:
    """Labels in output order: a data set's dataset.json order when it lists them all, else natural sort."""
    for root in data:
        info = Path(root) / "dataset.json"
        if info.is_file():
            labels = json.loads(info.read_text(encoding="utf-8")).get("labels") or []
            if discovered <= set(labels):
                return [lab for lab in labels if lab in discovered]
    return sorted(discovered, key=natural_key)


def default_window(req: "TrainRequest", rate: float, pieces: list[tuple[Recording, str]]) -> tuple[int, int, str]:
    """(window, hop, the sentence that explains them) for `req`."""
    if req.task in IMU_DEFAULTS:
        w, h = IMU_DEFAULTS[req.task][:2]
        why = f"the {req.task} task's defaults"
    else:
        shortest = min(len(r) for r, _ in pieces)
        w = max(MIN_WINDOW, min(int(round(DEFAULT_WINDOW_SECONDS * rate)), shortest))
        h = max(1, w // 2)
        why = (f"default: {DEFAULT_WINDOW_SECONDS:g} s of samples, at most the shortest recording "
               f"({shortest} samples), hop half the window")
    window, hop = req.window or w, req.hop or (h if not req.window else max(1, req.window // 2))
    if req.window or req.hop:
        why = "given"
    return window, hop, (f"window {window} samples ({window / rate:.3g} s at {rate:g} Hz), hop {hop} ({why})")


def _fit_family(family: str, req: "TrainRequest", data: dict[str, SplitWindows], norm: Any, n_classes: int,
                window: int, n_ch: int, widths: dict[str, Any], epochs: int, counts: np.ndarray,
                on_train_val: bool = False, fixed_epochs: int | None = None,
                teacher: Any = None, initial: Any = None) -> tuple[Any, dict[str, list[float]]]:
    """Build and train one family; returns (model, history). `teacher` (distill.SeriesTeacher): learn its
    softened probabilities too (knowledge distillation). `initial`: fine-tune this model (e.g. a pruned one)
    instead, at a quarter of the learning rate."""
    model = initial if initial is not None else _build_family(family, req.name, data, n_classes, window, n_ch,
                                                               *widths[family])
    x, y = inputs(family, data["train"], norm[family]), data["train"].y
    xv, yv = inputs(family, data["val"], norm[family]), data["val"].y
    if on_train_val:
        x, y = np.concatenate([x, xv]), np.concatenate([y, yv])
    cfg = FitConfig(epochs=fixed_epochs or epochs, batch_size=64,
                    learning_rate=(3e-3 if family == "feature-mlp" else 5e-3) / (4 if initial is not None else 1),
                    patience=(fixed_epochs or epochs) if fixed_epochs else 12, progress=req.progress,
                    class_weight={i: float(len(data["train"].y) / (n_classes * max(c, 1))) for i, c in
                                  enumerate(counts)})
    if teacher is None:
        return model, fit(model, x, y, xv, yv, cfg, desc=f"{req.name} {family}")
    from edgeloop.models.train.distill import distillation_loss, distillation_targets

    soft = teacher.predict(data["train"].features, data["train"].raw)
    if on_train_val:
        soft = np.concatenate([soft, teacher.predict(data["val"].features, data["val"].raw)])
    # trained through a view that shares its layers: the exported model carries no compiled custom loss
    view = require("keras").Model(model.inputs, model.outputs, name=f"{model.name}_distill")
    return model, fit(view, x, distillation_targets(y, soft, n_classes), xv, distillation_targets(yv, None, n_classes),
                      replace(cfg, class_weight=None), desc=f"{req.name} {family}", loss=distillation_loss(),
                      metrics=())


def _build_family(family: str, name: str, data: dict[str, SplitWindows], n_classes: int, window: int, n_ch: int,
                  width: int, depth: int) -> Any:
    """An untrained model of a time-series family at `width` and `depth`."""
    if family == "feature-mlp":
        return build_feature_mlp(data["train"].features.shape[1], n_classes, width=width, depth=depth, name=name)
    if family == "cnn1d":
        return build_cnn1d(window, n_ch, n_classes, width=width, depth=depth, name=name)
    return build_dense_raw((window, n_ch), n_classes, width=width, depth=depth, name=name)


def inputs(family: str, split: SplitWindows, norm: FeatureNorm) -> np.ndarray:
    """The network input of a split: standardised features, or raw windows standardised per channel."""
    if family == "feature-mlp":
        return norm.apply(split.features)
    assert split.raw is not None
    return norm.apply(split.raw)


def _sizes(req: "TrainRequest", family: str, window: int) -> tuple[int, int]:
    if req.task in IMU_DEFAULTS and family == "feature-mlp":
        return (req.width or IMU_DEFAULTS[req.task][2], req.depth or IMU_DEFAULTS[req.task][3])
    w, d = FAMILY_SIZES[family]
    return (req.width or w, req.depth or d or cnn1d_depth(window))


def train_timeseries(req: "TrainRequest") -> dict[str, Any]:
    """Train the recipe's family (or the best of the cheap ones) on time-series recordings; export and report."""
    from edgeloop.models.train.imu import WindowSet, event_metrics, fall_events, label_mapper

    clock = Stopwatch()
    setup_tensorflow(req.seed)
    notes: list[str] = []
    recs = load_recordings(req)
    rate, channels = recs[0].rate_hz, recs[0].channels
    fixed_labels, mapper = label_mapper(req.task)
    pairs = assign_splits(recs, req.seed, ignore_split=req.ignore_split, mapper=mapper, notes=notes)
    check_classes(pairs, mapper)
    pieces = [(case, split) for rec, split in pairs for case in rec.cases()]
    window, hop, why = default_window(req, rate, pieces)
    notes.append(why)
    short = [(r.name, len(r)) for r, _ in pieces if len(r) < window]
    if short:
        raise RecordingError(f"{len(short)} recording(s) are shorter than the {window}-sample window: "
                             + ", ".join(f"{n} ({k} samples)" for n, k in short[:5])
                             + "; lower --window or drop them")
    discovered = {m for rec, _ in pieces for s in set(rec.labels.tolist()) if (m := mapper(str(s))) is not None}
    labels = labels_json(fixed_labels or class_order(discovered, req.data))
    fs = FeatureSet.parse(req.features)
    family = "feature-mlp" if req.family in ("default",) else req.family
    if family not in (*AUTO_FAMILIES, "auto"):
        raise InputError(f"family {family!r} does not train on time series; use feature-mlp, cnn1d, dense or auto")
    candidates = list(AUTO_FAMILIES) if family == "auto" else [family]
    if family == "auto" and window * len(channels) > DENSE_MAX_INPUTS:
        candidates.remove("dense")
    keep_raw = any(f != "feature-mlp" for f in candidates)
    by_split = {s: [r for r, sp in pieces if sp == s] for s in SPLIT_NAMES}
    data, first = {}, 0
    for split in SPLIT_NAMES:
        step = max(1, hop // 4) if split == "train" else hop
        data[split] = cut_split(by_split[split], window, step, labels, mapper, fs, keep_raw, first)
        first += len(by_split[split])
        if len(data[split].y) == 0:
            raise RecordingError(f"no labelled {window}-sample windows in the {split} split; lower --window, "
                                 "or check the labels")
    counts = np.bincount(data["train"].y, minlength=len(labels))
    if (counts == 0).any():
        raise RecordingError(f"no training windows of class(es) {[labels[i] for i in np.flatnonzero(counts == 0)]}")
    norm = {"feature-mlp": FeatureNorm.fit(data["train"].features)}
    if keep_raw:
        flat = data["train"].raw.reshape(-1, len(channels))  # type: ignore[union-attr]
        norm["cnn1d"] = norm["dense"] = FeatureNorm.fit(flat)
    epochs = req.epochs or (IMU_DEFAULTS[req.task][4] if req.task in IMU_DEFAULTS else 60)
    widths = {f: _sizes(req, f, window) for f in AUTO_FAMILIES}
    teacher = None
    if req.teacher:
        from edgeloop.models.train.distill import load_series_teacher

        if family == "auto":
            raise InputError("--teacher distils one model: give its --family (feature-mlp, cnn1d or dense), not auto")
        teacher = load_series_teacher(Path(req.teacher), raw=family != "feature-mlp", window=window,
                                      channels=list(channels), feature_set_id=fs.set_id, labels=list(labels))
        notes.append(f"distilled from the teacher {req.teacher} (half label cross-entropy, half its softened "
                     "probabilities, computed with its own exported norm)")

    # baselines on the same split and the same features
    baselines = baseline_rows(data["train"].features, data["train"].y, data["test"].features, data["test"].y,
                              len(labels), req.seed,
                              lambda p: stream_scores(p, data["test"].y, data["test"].group, recipe_rule(req)))

    def fit_one(fam: str) -> tuple[Any, dict[str, list[float]]]:
        return _fit_family(fam, req, data, norm, len(labels), window, len(channels), widths, epochs, counts,
                           teacher=teacher)

    best, tried = select_family(candidates, fit_one, lambda fam, m: m.predict(
        inputs(fam, data["val"], norm[fam]), verbose=0, batch_size=512), data["val"].y, notes)
    model, family, hist = best.model, best.family, best.history
    trained_on = int(len(data["train"].y))
    if req.refit:
        best_epochs = refit_epochs(hist)
        model, _ = _fit_family(family, req, data, norm, len(labels), window, len(channels), widths, epochs,
                               counts, on_train_val=True, fixed_epochs=best_epochs, teacher=teacher)
        trained_on += int(len(data["val"].y))
        notes.append(f"--refit: the final {family} model retrained on train + val ({trained_on} windows) for "
                     f"{best_epochs} epochs")
    width, depth = widths[family]
    pruned = ""
    if req.prune_keep is not None:
        from edgeloop.models.train.pruning import copy_kept_weights, pruned_width

        narrow_width = pruned_width(width, req.prune_keep)
        narrow = copy_kept_weights(model, _build_family(family, req.name, data, len(labels), window, len(channels),
                                                        narrow_width, depth))
        # half the training's epochs (--refit: half its fixed epochs on train + val)
        tune_epochs, fixed = (epochs, max(1, refit_epochs(hist) // 2)) if req.refit else (max(1, epochs // 2), None)
        model, _ = _fit_family(family, req, data, norm, len(labels), window, len(channels), widths, tune_epochs,
                               counts, on_train_val=req.refit, fixed_epochs=fixed, teacher=teacher, initial=narrow)
        pruned = f", pruned to width {narrow_width} (keeping {req.prune_keep:g} of each layer) and fine-tuned"
        notes.append(f"--prune-keep {req.prune_keep:g}: trained at width {width}, kept the neurons/filters of "
                     f"largest L1 norm (width {narrow_width}) and fine-tuned them at a quarter of the learning rate")
    fam_norm = norm[family]
    compat_imu = channels == IMU_CHANNELS and fs == FeatureSet() and req.task in ("imu", "imu-activity", "fall")
    if family == "feature-mlp":
        kind = "imu-features" if compat_imu else "timeseries-features"
        preprocess = {"features": "edgeloop window statistics" if fs == FeatureSet() else "edgeloop feature set",
                      "feature_set": fs.to_json(), "feature_set_id": fs.set_id, "channels": list(channels),
                      "feature_norm": fam_norm.to_json()}
    else:
        kind = "timeseries-window"
        preprocess = {"channels": list(channels), "channel_norm": fam_norm.to_json()}
    meta = ModelMeta(labels=tuple(labels), input_kind=kind, sample_rate_hz=rate, window=window, hop=hop,
                     preprocess=preprocess, decision=req.decision)
    extra = None
    if req.task == "fall":
        fall_index = labels.index("fall")
        test_pieces = by_split["test"]
        first_test = len(by_split["train"]) + len(by_split["val"])
        events = {first_test + i: fall_events(r.labels.astype(str)) for i, r in enumerate(test_pieces)}
        ws = WindowSet(rec=data["test"].group.tolist(), start=data["test"].start.tolist())
        extra = lambda pred: event_metrics(pred, fall_index, ws, events, window)  # noqa: E731
    x_train = inputs(family, data["train"], fam_norm)
    n_test_recs = len(np.unique(data["test"].group))
    described = {"feature-mlp": f"Dense network ({width} units, depth {depth}) on {fs.per_channel} features per "
                                f"channel ({fs.spec()})",
                 "cnn1d": f"1-D CNN (width {width}) on raw windows standardised per channel",
                 "dense": f"Dense network ({width} units, depth {depth}) on raw windows standardised per channel"}
    return finish(model, name=req.name, task=req.task, out_dir=req.out, meta=meta, representative=x_train,
                  x_test=inputs(family, data["test"], fam_norm), y_test=data["test"].y, seed=req.seed,
                  recipe=[req.command()], history=hist, extra_metrics=extra, groups=data["test"].group,
                  baselines=baselines,
                  evaluated_on=f"{len(data['test'].y)} windows of {n_test_recs} held-out recording(s)/case(s)",
                  description=f"{described[family]}{pruned} of {len(channels)} channel(s) "
                              f"({', '.join(channels)}), {window}-sample windows (hop {hop}) at {rate:g} Hz.",
                  info={"train_seconds": clock.seconds(), "train_samples": int(len(data["train"].y)),
                        "val_samples": int(len(data["val"].y)), "refit": req.refit,
                        "final_training_windows": trained_on, "family": family, "families_tried": tried,
                        "notes": notes, "channels": list(channels), "window": window, "hop": hop},
                  resolved=replace(req.recipe(), family=family, features=fs.spec(), window=window, hop=hop,
                                   width=width, depth=depth, epochs=epochs))


def recipe_rule(req: "TrainRequest") -> Any:
    """The decision rule of the recipe (the identity rule when none is given)."""
    from edgeloop.models.decision import DecisionRule

    return DecisionRule.from_json(req.decision)


__all__ = ["FEATURE_NAMES", "IMU_DEFAULTS", "SplitWindows", "cut_split", "default_window", "train_timeseries",
           "window_labels"]
