"""Cleaner training labels for data with a continuous value behind its classes (the bottle sets' fill level).

A frame whose fill level sits on the boundary between two fill classes has no
right label: the generator draws whole bins with `--margin 0`, so a training
set holds such frames. `--train-margin M` leaves the training images whose
value lies within M of a boundary between two classes out of training only:
validation and test keep every image, so the reported accuracy is still the
whole-bin one. The boundaries come from the data's dataset.json `fill_bins`
(class -> [low, high] of the value), which `edgeloop dataset synth bottles` writes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np

from edgeloop import InputError


def class_boundaries(roots: Sequence[Path]) -> list[float]:
    """The values where one class's bin ends and another's begins, from every root's dataset.json `fill_bins`."""
    edges: set[float] = set()
    for root in map(Path, roots):
        info = root / "dataset.json"
        bins = json.loads(info.read_text(encoding="utf-8")).get("fill_bins") if info.is_file() else None
        if not isinstance(bins, dict) or not bins:
            raise InputError(f"--train-margin needs classes with value bins, but {root} has no dataset.json "
                             "`fill_bins`; generate the set with `edgeloop dataset synth bottles` or leave "
                             "--train-margin out")
        lows = {float(lo) for lo, _ in bins.values()}
        edges |= {float(hi) for _, hi in bins.values() if float(hi) in lows}  # shared by two bins
    return sorted(edges)


def clean_rows(values: np.ndarray, boundaries: Sequence[float], margin: float) -> np.ndarray:
    """Mask of the rows to train on: no value (NaN: e.g. no container) or at least `margin` from every boundary."""
    if not 0.0 <= margin < 0.5:
        raise InputError(f"--train-margin {margin} must be in [0, 0.5): a distance from a class boundary")
    values = np.asarray(values, np.float64)
    if not boundaries or margin == 0.0:
        return np.ones(len(values), bool)
    dist = np.min(np.abs(values[:, None] - np.asarray(boundaries)[None, :]), axis=1)
    return np.isnan(values) | (dist >= margin)
