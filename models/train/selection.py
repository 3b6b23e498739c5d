"""`--family auto` and `--refit`, shared by the time-series and image trainers so both choose the same way.

`select_family` trains each candidate family and keeps the one with the best
accuracy on the validation split; on a tie (within 1e-9) the one with fewer
parameters wins, because on a microcontroller smaller is better at equal
accuracy. `refit_epochs` is how long `--refit` retrains the kept family on
train + val: the epoch count at which its validation loss was lowest (the
retrained model has no validation split left to stop on).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

DENSE_MAX_INPUTS = 1024  # auto tries the dense family only on inputs this small (raw windows or pixels)
TIE = 1e-9


@dataclass
class Fitted:
    """One trained candidate: its family, model, training history and validation accuracy."""

    family: str
    model: Any
    history: dict[str, list[float]]
    val_accuracy: float

    def row(self) -> dict[str, Any]:
        """The report's `families_tried` entry."""
        return {"family": self.family, "val_accuracy": self.val_accuracy, "params": int(self.model.count_params())}


def select_family(candidates: Sequence[str], fit_one: Callable[[str], tuple[Any, dict[str, list[float]]]],
                  predict_val: Callable[[str, Any], np.ndarray], y_val: np.ndarray,
                  notes: list[str] | None = None) -> tuple[Fitted, list[dict[str, Any]]]:
    """Train every family of `candidates` with `fit_one(family) -> (model, history)` and keep the most accurate
    on val (`predict_val(family, model)` gives the val probabilities); ties go to fewer parameters.

    Returns the kept candidate and the `families_tried` rows; with several candidates a note naming every
    family's val accuracy and the choice is appended to `notes`.
    """
    if not candidates:
        raise ValueError("select_family needs at least one candidate family")
    tried: list[Fitted] = []
    best: Fitted | None = None
    for family in candidates:
        model, history = fit_one(family)
        accuracy = float(np.mean(np.asarray(predict_val(family, model)).argmax(-1) == y_val))
        cand = Fitted(family, model, history, accuracy)
        tried.append(cand)
        if best is None or accuracy > best.val_accuracy + TIE or (
                abs(accuracy - best.val_accuracy) <= TIE and model.count_params() < best.model.count_params()):
            best = cand
    assert best is not None
    if len(candidates) > 1 and notes is not None:
        notes.append("auto: " + ", ".join(f"{c.family} val {100 * c.val_accuracy:.1f} %" for c in tried)
                     + f" → {best.family}")
    return best, [c.row() for c in tried]


def refit_epochs(history: dict[str, list[float]]) -> int:
    """Epochs for the train + val retraining: where the validation loss was lowest (at least 1)."""
    val_loss = history.get("val_loss") or [0.0]
    return max(1, int(np.argmin(val_loss)) + 1)


__all__ = ["DENSE_MAX_INPUTS", "Fitted", "refit_epochs", "select_family"]
