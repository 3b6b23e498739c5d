"""The search: Optuna trials that size a candidate first, then cross-validate it if it fits.

Why multi-objective (accuracy up, flash down) and not budgets-as-constraints
with a single objective: the user's question is "the smallest model that does
the job", and the pick rule (smallest within --tolerance of the best) reads
it off the accuracy/flash trade-off, which a multi-objective sampler explores
along its whole front while a single objective would chase accuracy at the
budget edge. Hard budgets are still constraints: a candidate over flash, RAM
or latency is known before training (deploy.py), is recorded with its
violation (Trial.set_constraint: the sampler steers away from it) and never
trained. Optuna does not prune multi-objective trials, so our own early
stopping ends a cross-validation whose first folds show it dominated: an
existing trial is no larger and was more accurate on the same first folds by
more than `stop_margin` points.

Cross-validation is k-fold grouped by recording/subject (images: stratified),
on the train + val pool only; the test split is never seen by the search.
Each fold trains on the other folds with early stopping on a grouped slice of
them, and scores windows at the deployed hop.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgeloop import InputError, require

from edgeloop.models.design import adapter
from edgeloop.models.design.budgets import fmt_bytes
from edgeloop.models.design.deploy import Sizer
from edgeloop.models.design.space import SpaceContext, suggest, trial_values
from edgeloop.models.design.study import worker_id

REPORT_BUDGETS = (2 * 1024, 5 * 1024, 16 * 1024, 32 * 1024, 64 * 1024)


@dataclass
class SearchConfig:
    """How to search: folds, epochs per fold, tolerance and early-stopping margin (accuracy points)."""

    folds: int = 4
    epochs: int = 40
    seed: int = 0
    tolerance: float = 1.0
    stop_margin: float = 2.0
    families: tuple[str, ...] = ()
    ctx: SpaceContext = field(default_factory=lambda: SpaceContext("imu"))


def fold_indices(arrays: adapter.Arrays, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, held-out) row indices of each fold: grouped by recording/subject when there are groups."""
    _model_selection = require("sklearn.model_selection")
    GroupKFold = _model_selection.GroupKFold
    StratifiedKFold = _model_selection.StratifiedKFold

    groups = arrays.groups
    n_groups = len(set(groups.tolist()))
    if n_groups < len(groups):  # rows share groups: keep each group on one side
        if n_groups < 2:
            raise InputError("cross-validation needs at least 2 recordings/subjects in the train and val splits")
        k = min(folds, n_groups)
        return list(GroupKFold(n_splits=k).split(arrays.x, arrays.y, groups))
    k = max(2, min(folds, int(np.bincount(arrays.y).min())))
    return list(StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(arrays.x, arrays.y))


def _inner_val(arrays: adapter.Arrays, train_idx: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split a fold's training rows into fit and early-stopping rows (grouped when there are groups)."""
    _model_selection = require("sklearn.model_selection")
    GroupShuffleSplit = _model_selection.GroupShuffleSplit
    StratifiedShuffleSplit = _model_selection.StratifiedShuffleSplit

    g = arrays.groups[train_idx]
    if len(set(g.tolist())) < len(g):
        if len(set(g.tolist())) < 2:
            return train_idx, train_idx
        a, b = next(GroupShuffleSplit(n_splits=1, test_size=0.2, random_state=seed).split(train_idx, groups=g))
    else:
        try:
            a, b = next(StratifiedShuffleSplit(n_splits=1, test_size=0.15, random_state=seed).split(
                train_idx, arrays.y[train_idx]))
        except ValueError:  # a class too small to stratify
            rng = np.random.default_rng(seed).permutation(len(train_idx))
            cut = max(1, len(rng) * 15 // 100)
            a, b = rng[cut:], rng[:cut]
    return train_idx[a], train_idx[b]


def cross_validate(td: adapter.TaskData, family: str, params: dict[str, Any], cfg: SearchConfig, seed: int,
                   stop: Callable[[list[float]], bool] | None = None) -> tuple[list[float], bool]:
    """Window accuracy (0..1) of each fold; stops early when `stop(fold accuracies so far)` says so.

    Returns (fold accuracies, stopped early).
    """
    dev, _ = td.arrays(params, family)
    accs: list[float] = []
    folds = fold_indices(dev, cfg.folds, seed)
    n_folds = len(folds)
    for k, (tr, held) in enumerate(folds):
        fit_idx, val_idx = _inner_val(dev, tr, seed + k)
        fitted = adapter.fit(td, family, params, dev.take(fit_idx), dev.take(val_idx), seed + k, cfg.epochs)
        scored = held[dev.evaluate[held]]
        pred = fitted.predict(td.kind, dev.x[scored]).argmax(-1)
        accs.append(float(np.mean(pred == dev.y[scored])))
        _release()
        if stop is not None and k + 1 < n_folds and stop(accs):
            return accs, True
    return accs, False


def _release() -> None:
    keras = require("keras")

    keras.backend.clear_session()


def dominated_stop(study: Any, flash: int, margin_points: float) -> Callable[[list[float]], bool]:
    """Our early stopping: after k folds, stop when a finished trial no larger than this one was more than
    `margin_points` more accurate on its own first k folds (fold-matched: folds differ in difficulty, so
    a partial mean is compared with partial means). Such a trial cannot reach the Pareto front."""
    optuna = require("optuna")

    done = [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
            if t.user_attrs.get("status") == "trained" and t.values and t.values[1] <= flash]
    rivals = [t.user_attrs.get("fold_accuracy", []) for t in done]

    def stop(accs: list[float]) -> bool:
        k = len(accs)
        mine = float(np.mean(accs))
        return any(len(r) >= k and float(np.mean(r[:k])) > mine + margin_points / 100 for r in rivals)

    return stop


def make_sampler(seed: int) -> Any:
    """Multi-objective TPE; trials carry budget constraints (Trial.set_constraint), which it honours."""
    import warnings

    optuna = require("optuna")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True, n_startup_trials=8)


class Objective:
    """One trial: suggest a candidate, size it, reject it or cross-validate it."""

    def _finished_twin(self, family: str, params: dict[str, Any]) -> Any:
        """A finished trial (same seed and settings) of exactly this candidate, if there is one."""
        optuna = require("optuna")

        for t in self.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,
                                                               optuna.trial.TrialState.PRUNED)):
            if t.user_attrs.get("family") == family and t.user_attrs.get("params") == params \
                    and "time ran out" not in t.user_attrs.get("reason", ""):
                return t
        return None

    def __init__(self, td: adapter.TaskData, sizer: Sizer, cfg: SearchConfig, study: Any,
                 deadline: float | None = None) -> None:
        self.td, self.sizer, self.cfg, self.study = td, sizer, cfg, study
        self.deadline = deadline  # time.monotonic() after which a trial stops at its next fold

    def __call__(self, trial: Any) -> tuple[float, float]:
        optuna = require("optuna")

        t0 = time.monotonic()
        family, params = suggest(trial, self.cfg.families, self.cfg.ctx)
        trial.set_user_attr("family", family)
        trial.set_user_attr("params", params)
        trial.set_user_attr("worker", worker_id())
        dep = self.sizer.check(family, params)
        trial.set_user_attr("deploy", dep.to_json())
        v = dep.violations
        for limit in ("flash", "ram", "latency"):  # relative excess; <= 0 is within budget
            trial.set_constraint(limit, v.get(limit, 0.0))
        twin = self._finished_twin(family, params) if dep.fits else None
        if twin is not None:  # samplers re-suggest points; a repeat would only re-train the same recipe
            for key in ("fold_accuracy", "cv_spread", "status", "reason"):
                if key in twin.user_attrs:
                    trial.set_user_attr(key, twin.user_attrs[key])
            trial.set_user_attr("duplicate_of", twin.number)
            trial.set_user_attr("status", "duplicate")
            trial.set_user_attr("reason", f"same recipe as trial {twin.number}: its result, not trained again")
            trial.set_user_attr("seconds", round(time.monotonic() - t0, 2))
            if twin.state == optuna.trial.TrialState.PRUNED:
                raise optuna.TrialPruned()
            return float(twin.values[0]), float(twin.values[1])
        if not dep.fits:
            trial.set_user_attr("status", "rejected")
            trial.set_user_attr("reason", "over " + ", ".join(f"{k} by {100 * x:.0f} %" for k, x in v.items()))
            trial.set_user_attr("seconds", round(time.monotonic() - t0, 2))
            return 0.0, float(dep.flash_bytes)
        dominated = dominated_stop(self.study, dep.flash_bytes, self.cfg.stop_margin)
        out_of_time = lambda: self.deadline is not None and time.monotonic() > self.deadline  # noqa: E731
        accs, stopped = cross_validate(self.td, family, params, self.cfg, self.cfg.seed,
                                       lambda a: out_of_time() or dominated(a))
        trial.set_user_attr("fold_accuracy", accs)
        trial.set_user_attr("cv_spread", float(np.std(accs)))
        trial.set_user_attr("seconds", round(time.monotonic() - t0, 2))
        if stopped:
            trial.set_user_attr("status", "stopped")
            why = "time ran out" if out_of_time() else "dominated"
            trial.set_user_attr("reason", f"{why} after {len(accs)} fold(s): mean {100 * np.mean(accs):.1f} %")
            raise optuna.TrialPruned()
        trial.set_user_attr("status", "trained")
        return float(np.mean(accs)), float(dep.flash_bytes)


def enqueue_presets(study: Any, td: adapter.TaskData, sizer: Sizer, cfg: SearchConfig,
                    fresh: bool | None = None) -> list[str]:
    """Seed a new study with the training side's presets that fit the budget and the search limits, as its first
    trials: TPE's start-up phase is otherwise random, and a known-good recipe gives the front an anchor from the
    first trials on. Returns what was enqueued (nothing when the study already has trials). `fresh`: whether the
    study was new before the user's recipes were queued (enqueue_recipes; None: it has no trial now); a preset
    already queued among them is not queued twice."""
    trials = study.get_trials(deepcopy=False)
    if not (not trials if fresh is None else fresh):
        return []
    waiting = [t.system_attrs.get("fixed_params") for t in trials]
    seeded = []
    for name, family, params in [*adapter.preset_candidates(td.kind), *adapter.timeseries_presets(td)]:
        if family not in cfg.families or params.get("input_size", 0) > cfg.ctx.max_side \
                or params.get("width", 0) > cfg.ctx.max_width:
            continue
        values = trial_values(family, params, cfg.families)
        if values is None or values in waiting or not _suggests_exactly(values, family, params, cfg) \
                or not sizer.check(family, params).fits:
            continue
        study.enqueue_trial(values, user_attrs={"seeded_from": name})
        seeded.append(name)
    return seeded


def enqueue_recipes(study: Any, recipes: list[tuple[str, str, dict[str, Any]]], sizer: Sizer,
                    cfg: SearchConfig) -> tuple[list[str], list[str]]:
    """Put the user's recipes ((name, family, params), from `edgeloop design --enqueue`) first in the study's queue,
    before the presets and the sampler's own trials: e.g. the best recipes of an earlier study when a training
    option (teacher, data, epochs) starts a new one. A recipe the study already has (finished, running or
    waiting: a resumed run given the same --enqueue) is not queued twice; one over the budget is left out and
    said so. Returns (what was enqueued, why each left-out one was). InputError, before anything is queued,
    for a recipe the search space cannot express."""
    planned = []
    for name, family, params in recipes:
        values = trial_values(family, params, cfg.families) if family in cfg.families else None
        if values is None or not _suggests_exactly(values, family, params, cfg):
            raise InputError(f"{name}: the search cannot express this recipe ({_space_limits(family, cfg)}); "
                             "change the recipe, or widen --max-side / --max-width / --families")
        planned.append((name, family, params, values))
    # a failed trial, or one stopped because time ran out, is tried again (as a re-suggested recipe would be)
    trials = [t for t in study.get_trials(deepcopy=False)
              if t.state.name != "FAIL" and "time ran out" not in t.user_attrs.get("reason", "")]
    queued = [(t.user_attrs.get("family"), t.user_attrs.get("params")) for t in trials]
    # a waiting (enqueued, not yet started) trial has its values only in Optuna's fixed_params
    queued_values = [t.params or t.system_attrs.get("fixed_params") for t in trials]
    enqueued, left_out = [], []
    for name, family, params, values in planned:
        if (family, params) in queued or values in queued_values:
            left_out.append(f"{name}: already in the study")
            continue
        dep = sizer.check(family, params)
        if not dep.fits:
            over = ", ".join(f"{k} by {100 * x:.0f} %" for k, x in dep.violations.items())
            left_out.append(f"{name}: over the budget ({over}; {fmt_bytes(dep.flash_bytes)} flash with the "
                            f"{dep.kernel_set} kernels)")
            continue
        study.enqueue_trial(values, user_attrs={"seeded_from": name})
        queued_values.append(values)
        enqueued.append(name)
    return enqueued, left_out


def _space_limits(family: str, cfg: SearchConfig) -> str:
    """What the search space offers a family, in the words of its recipe fields (for a refused --enqueue)."""
    from edgeloop.models.design.space import IMAGE_CAP_GROWTH, IMAGE_SIDES

    if family not in cfg.families:
        return f"family {family} is not searched here: {', '.join(cfg.families)}"
    if family == "image_cnn":
        sides = [s for s in IMAGE_SIDES if s <= cfg.ctx.max_side]
        return (f"input_size one of {', '.join(map(str, sides))}, width 2-{min(16, cfg.ctx.max_width)}, max_channels "
                f"= width × {', '.join(f'{g:g}' for g in IMAGE_CAP_GROWTH)}, a depth the side holds (1-4)")
    return ("a window the search offers at this rate, a hop of ¼, ½ or 1 window, the searched widths and depths "
            "(docs/design.md, Search space)")


def _suggests_exactly(values: dict[str, Any], family: str, params: dict[str, Any], cfg: SearchConfig) -> bool:
    """Whether these trial values make the space suggest exactly (family, params) on this data (a preset's
    window may be no window the space offers at this sample rate: enqueuing it would fail the trial)."""
    optuna = require("optuna")

    try:
        return suggest(optuna.trial.FixedTrial(values), cfg.families, cfg.ctx) == (family, params)
    except ValueError:
        return False


# ---- reading a study -------------------------------------------------------------------------------------------

def trial_rows(study: Any) -> list[dict[str, Any]]:
    """Every trial as a plain dict: number, state, status, family, params, sizes, accuracy, reason."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        a = t.user_attrs
        dep = a.get("deploy", {})
        status = a.get("status") or t.state.name.lower()
        if t.state.name == "FAIL":
            status = "failed"
        elif t.state.name == "RUNNING":
            status = "running"
        rows.append({
            "number": t.number, "state": t.state.name, "status": status, "family": a.get("family"),
            "params": a.get("params", {}), "flash_bytes": dep.get("flash_bytes"), "ram_bytes": dep.get("ram_bytes"),
            "least_flash_bytes": dep.get("least_flash_bytes") or dep.get("flash_bytes"),
            "macc": dep.get("macc"), "latency_ms_estimate": dep.get("latency_ms_estimate"),
            "kernel_set": dep.get("kernel_set", "fast") if dep else None,
            "cv_accuracy": t.values[0] if t.values and status == "trained" else
            (float(np.mean(a["fold_accuracy"])) if a.get("fold_accuracy") else None),
            "cv_spread": a.get("cv_spread"), "folds": len(a.get("fold_accuracy", [])),
            "reason": a.get("reason", ""), "worker": a.get("worker", ""), "seconds": a.get("seconds"),
            "seeded_from": a.get("seeded_from", ""),  # a preset or an --enqueue recipe this trial was queued from
        })
    return rows


def trained(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if r["status"] == "trained" and r["cv_accuracy"] is not None]


def pareto_front(rows: list[dict[str, Any]], size_key: str = "flash_bytes") -> list[dict[str, Any]]:
    """Trained trials no other trained trial beats on both accuracy and size (ties keep the smaller)."""
    pts = sorted(trained(rows), key=lambda r: (r[size_key], -r["cv_accuracy"]))
    front, best = [], -1.0
    for r in pts:
        if r["cv_accuracy"] > best:
            front.append(r)
            best = r["cv_accuracy"]
    return front


def best_at_budgets(rows: list[dict[str, Any]], budgets: tuple[int, ...] = REPORT_BUDGETS) -> dict[int, float]:
    """Best cross-validated accuracy among trained trials deployable at or under each flash budget: a trial counts
    at its least flash over the kernel sets that meet the study's budgets (the set a design run with that flash
    limit would deploy), not only at the set chosen for the study's own limits."""
    out = {}
    for b in budgets:
        accs = [r["cv_accuracy"] for r in trained(rows) if (r.get("least_flash_bytes") or r["flash_bytes"]) <= b]
        if accs:
            out[b] = max(accs)
    return out


def progress_line(rows: list[dict[str, Any]], started: float, planned: int | None, time_limit: float | None,
                  done_before: int = 0) -> str:
    """'12 trials (8 trained, 3 rejected, 1 stopped) | best ≤2 KB 90.1 % ... | 3m05s elapsed, ETA 4m'."""
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    done = sum(v for k, v in counts.items() if k != "running")
    best = best_at_budgets(rows)
    elapsed = time.monotonic() - started
    this_run = done - done_before  # trials this process has seen finish since it started
    eta = ""
    if planned:
        left = max(0, planned - done)
        eta = f", ETA {_dur(elapsed / this_run * left)}" if this_run > 0 else ""
    elif time_limit:
        eta = f", {_dur(max(0.0, time_limit - elapsed))} left"
    parts = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
    bests = " · ".join(f"≤{fmt_bytes(b)} {100 * a:.1f} %" for b, a in best.items()) or "none trained yet"
    return f"{done} trials ({parts}) | best {bests} | {_dur(elapsed)} elapsed{eta}"


def _dur(s: float) -> str:
    if not math.isfinite(s):
        return "?"
    s = int(s)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"
