"""Classification and regression figures shared by training reports and on-board validation (numpy only).

`edgeloop train` (models/report.py) and `edgeloop validate` (app/validate)
present them differently, but compute them here, once: the accuracy of a model
in its training report and on a board are the same number for the same data.
A negative truth marks an unlabeled sample: it counts in no figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def confusion_matrix(truth: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts `[true, predicted]`; samples with a negative or out-of-range truth or prediction are left out."""
    truth, predicted = np.asarray(truth, np.int64), np.asarray(predicted, np.int64)
    keep = (truth >= 0) & (predicted >= 0) & (truth < n_classes) & (predicted < n_classes)
    matrix = np.zeros((n_classes, n_classes), np.int64)
    np.add.at(matrix, (truth[keep], predicted[keep]), 1)
    return matrix


def per_class(matrix: np.ndarray, labels: Sequence[str]) -> list[dict[str, Any]]:
    """Support, correct, recall (per-class accuracy), precision and F1 per class; None where undefined."""
    rows = []
    for i, label in enumerate(labels):
        support, predicted, hit = int(matrix[i].sum()), int(matrix[:, i].sum()), int(matrix[i, i])
        recall = hit / support if support else None
        precision = hit / predicted if predicted else None
        f1 = (2 * precision * recall / (precision + recall) if precision and recall else
              (0.0 if precision is not None and recall is not None else None))
        rows.append({"label": label, "support": support, "correct": hit, "recall": recall,
                     "precision": precision, "f1": f1})
    return rows


def accuracy(truth: np.ndarray, predicted: np.ndarray) -> float | None:
    """Share of labeled samples predicted right (None without labeled samples)."""
    truth, predicted = np.asarray(truth), np.asarray(predicted)
    keep = truth >= 0
    return float(np.mean(truth[keep] == predicted[keep])) if keep.any() else None


def regression(truth: np.ndarray, predicted: np.ndarray) -> dict[str, float | int]:
    """Mean absolute error, RMS error, the largest error and the number of values compared."""
    err = np.asarray(predicted, np.float64).ravel() - np.asarray(truth, np.float64).ravel()
    return {"mae": float(np.mean(np.abs(err))), "rmse": float(np.sqrt(np.mean(err ** 2))),
            "max_abs_error": float(np.max(np.abs(err))), "n": int(err.size)}
