"""Per-window and per-recording scores, through the one decision code (edgeloop.models.decision).

A recording's (or case's) true class is the majority of its windows' labels;
its predicted class is `decide_recording()` over its windows' probabilities.
`decided_accuracy` replays each test recording through a `Decider` with the
model's rule, window by window, exactly as `edgeloop run`, the GUI and
`validate` do, and scores the shown class against each window's label
(an "uncertain" window counts as wrong).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgeloop.models.decision import UNCERTAIN, DecisionRule, decide, decide_recording


def recording_truth(y: np.ndarray, groups: np.ndarray) -> dict[int, int]:
    """The majority window label of each group (ties: the smaller class index)."""
    return {int(g): int(np.bincount(y[groups == g]).argmax()) for g in np.unique(groups)}


def stream_scores(probs: np.ndarray, y: np.ndarray, groups: np.ndarray | None, rule: DecisionRule) -> dict[str, Any]:
    """window_accuracy (argmax), recording_accuracy and recordings (when groups are given), decided_accuracy
    and uncertain_share under `rule`. Windows must be in stream order within each group."""
    p = np.asarray(probs, np.float64)
    y = np.asarray(y, np.int64)
    out: dict[str, Any] = {"window_accuracy": float(np.mean(p.argmax(1) == y)) if len(y) else 0.0}
    if groups is None:
        return out
    groups = np.asarray(groups)
    truth = recording_truth(y, groups)
    hits = [decide_recording(rule, p[groups == g]) == c for g, c in truth.items()]
    decided = np.empty(len(y), np.int64)
    for g in truth:
        idx = np.flatnonzero(groups == g)
        decided[idx] = decide(rule, p[idx])
    out.update({"recording_accuracy": float(np.mean(hits)) if hits else 0.0, "recordings": len(hits),
                "decided_accuracy": float(np.mean(decided == y)) if len(y) else 0.0,
                "uncertain_share": float(np.mean(decided == UNCERTAIN)) if len(y) else 0.0})
    return out
