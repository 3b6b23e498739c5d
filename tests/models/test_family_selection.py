"""`--refit` (the kept model retrained on train + val, never on test) and `--family auto` on images (the same
selection code as time series: best on val, ties to the smaller). Tiny sets, 2 epochs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgeloop.models.data.ingest import import_sources
from edgeloop.models.train import selection

FIX = Path(__file__).parent / "fixtures" / "ingest"


def _train(*args: str) -> dict:
    from edgeloop.app.cli import main

    assert main(["train", *args, "--no-progress"]) == 0
    out = Path(args[args.index("--out") + 1])
    return json.loads((out / "report.json").read_text())


class _FakeModel:
    def __init__(self, params: int) -> None:
        self.params = params

    def count_params(self) -> int:
        return self.params


def test_select_family_keeps_best_on_val_and_ties_go_to_the_smaller() -> None:
    y_val = np.array([0, 1, 1, 0])
    right = np.eye(2)[y_val]
    wrong_once = right.copy()
    wrong_once[0] = [0, 1]
    params = {"big": 500, "small": 40, "worse": 10}
    probs = {"big": right, "small": right, "worse": wrong_once}
    notes: list[str] = []
    best, tried = selection.select_family(["big", "small", "worse"], lambda f: (_FakeModel(params[f]), {}),
                                          lambda f, m: probs[f], y_val, notes)
    assert best.family == "small" and best.val_accuracy == 1.0
    assert [(t["family"], t["val_accuracy"], t["params"]) for t in tried] == \
        [("big", 1.0, 500), ("small", 1.0, 40), ("worse", 0.75, 10)]
    assert notes == ["auto: big val 100.0 %, small val 100.0 %, worse val 75.0 % → small"]
    assert selection.refit_epochs({"val_loss": [0.9, 0.4, 0.5]}) == 2 and selection.refit_epochs({}) == 1


@pytest.mark.slow
def test_refit_trains_on_train_plus_val_and_never_on_test(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from edgeloop.models.train import timeseries

    fits: list[tuple[np.ndarray, np.ndarray]] = []
    tested: list[np.ndarray] = []
    real_fit, real_finish = timeseries.fit, timeseries.finish

    def spy_fit(model: Any, x: np.ndarray, y: Any, x_val: np.ndarray, *a: Any, **k: Any) -> Any:
        fits.append((np.asarray(x), np.asarray(x_val)))
        return real_fit(model, x, y, x_val, *a, **k)

    def spy_finish(model: Any, **k: Any) -> Any:
        tested.append(np.asarray(k["x_test"]))
        return real_finish(model, **k)

    monkeypatch.setattr(timeseries, "fit", spy_fit)
    monkeypatch.setattr(timeseries, "finish", spy_finish)
    import_sources([FIX / "uea"], tmp_path / "set", rate=10)
    report = _train("--task", "timeseries", "--data", str(tmp_path / "set"), "--out", str(tmp_path / "m"),
                    "--family", "feature-mlp", "--epochs", "2", "--refit")
    n_train, n_val = report["train_samples"], report["val_samples"]
    assert len(fits) == 2, "one selection fit, one refit"
    (x_sel, x_val), (x_refit, _) = fits
    assert len(x_sel) == n_train and len(x_val) == n_val
    assert report["refit"] is True and report["final_training_windows"] == n_train + n_val == len(x_refit)
    assert np.array_equal(x_refit, np.concatenate([x_sel, x_val]))
    # not one test window went into either training
    test_rows = {row.tobytes() for row in tested[0]}
    assert test_rows and not test_rows & {row.tobytes() for x, _ in fits for row in x}
    assert json.loads((tmp_path / "m" / "m.recipe.json").read_text())["refit"] is True
    assert any(n.startswith("--refit: the final feature-mlp model retrained on train + val") for n in report["notes"])


@pytest.mark.slow
def test_images_auto_tries_cnn_and_dense_and_keeps_the_best_on_val(tmp_path: Path) -> None:
    import_sources([FIX / "digits"], tmp_path / "set")
    report = _train("--task", "images", "--data", str(tmp_path / "set"), "--out", str(tmp_path / "m"),
                    "--family", "auto", "--epochs", "2", "--refit")
    tried = {t["family"]: t for t in report["families_tried"]}
    assert set(tried) == {"image-cnn", "dense"}
    best = max(tried.values(), key=lambda t: (t["val_accuracy"], -t["params"]))
    assert report["family"] == best["family"] == report["resolved_recipe"]["family"]
    assert report["params"] == best["params"]
    assert any(n.startswith("auto: image-cnn val") for n in report["notes"])
    # --refit on images too: the kept family retrained on train + val
    assert report["refit"] is True
    assert report["final_training_windows"] == report["train_samples"] + report["val_samples"]
