"""Baselines in every training report: a logistic regression and a small random forest (scikit-learn).

They see the same split and the same window features as the network (the
feature set of the recipe; raw-window networks are compared with baselines on
the default feature set), and are scored per window and per recording with
the same decision code (edgeloop.models.decision). A small network that is
not more accurate than a forest of a few kilobytes is not worth its flash:
the report says so.

Size estimates (bytes a C implementation would need, float32 parameters):
- logistic regression: (features + 1) × classes × 4 for weights and biases,
  plus 8 per feature for the standardisation table;
- random forest: 12 bytes per node (u16 feature or class, f32 threshold,
  two u16 child indices, u16 padding), summed over the trees.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

LOGREG_NAME = "logistic regression"
FOREST_NAME = "random forest"
FOREST_TREES = 20
FOREST_DEPTH = 8
NODE_BYTES = 12


@dataclass
class Baseline:
    """A fitted baseline: its name, size estimate and a `predict_proba` over all classes."""

    name: str
    size_bytes: int
    model: Any
    n_classes: int
    description: str

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities (N, n_classes), columns for classes missing from training filled with 0."""
        p = self.model.predict_proba(x)
        out = np.zeros((len(x), self.n_classes))
        out[:, self.model.classes_.astype(int)] = p
        return out


def fit_baselines(x: np.ndarray, y: np.ndarray, n_classes: int, seed: int) -> list[Baseline]:
    """Fit the logistic regression (on standardised features) and the random forest (raw features)."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    n_feat = x.shape[1]
    logreg = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0))
    logreg.fit(x, y)
    forest = RandomForestClassifier(n_estimators=FOREST_TREES, max_depth=FOREST_DEPTH, random_state=seed,
                                    n_jobs=1, class_weight="balanced")
    forest.fit(x, y)
    nodes = sum(int(t.tree_.node_count) for t in forest.estimators_)
    return [
        Baseline(LOGREG_NAME, (n_feat + 1) * n_classes * 4 + 8 * n_feat, logreg, n_classes,
                 f"multinomial logistic regression on {n_feat} standardised features"),
        Baseline(FOREST_NAME, nodes * NODE_BYTES, forest, n_classes,
                 f"{FOREST_TREES} trees of depth ≤ {FOREST_DEPTH} ({nodes} nodes) on {n_feat} features"),
    ]


def baseline_verdict(net_accuracy: float, net_bytes: int | None, baselines: list[dict[str, Any]],
                     key: str) -> str | None:
    """A plain sentence when a baseline is at least as accurate (on `key`) and smaller than the network."""
    if net_bytes is None:
        return None
    better = [b for b in baselines if b.get(key) is not None and b[key] >= net_accuracy and b["size_bytes"] < net_bytes]
    if not better:
        return None
    b = max(better, key=lambda b: (b[key], -b["size_bytes"]))
    return (f"The {b['name']} baseline is as accurate as the network ({100 * b[key]:.1f} % vs "
            f"{100 * net_accuracy:.1f} % {key.replace('_', ' ')}) and smaller ({b['size_bytes']:,} B vs "
            f"{net_bytes:,} B flash): prefer it, or make the network earn its flash.")
