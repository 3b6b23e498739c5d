"""After the search: repeated seeds for the finalists, the pick rule, the refit and the one test.

Pick rule: among finalists (the smallest trained trials within --tolerance
points of the best single-seed CV accuracy, and the best one), each is
cross-validated again with more seeds; the chosen model is the smallest
whose mean CV accuracy is within --tolerance points of the best mean. It is
then refitted with `edgeloop train` (the recipe) on train + val and tested
once on the untouched test split, int8, per window and per recording.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from edgeloop.models.design import adapter
from edgeloop.models.design.search import SearchConfig, cross_validate, trained
from edgeloop.models.train.baselines import fit_baselines

PTQ_LOSS_LIMIT = 1.0  # accuracy points int8 may lose against float before quantization-aware training is due


def finalists(rows: list[dict[str, Any]], tolerance: float, limit: int) -> list[dict[str, Any]]:
    """The best trained trial plus the smallest ones within `tolerance` points of it (at most `limit`)."""
    done = trained(rows)
    if not done:
        return []
    best = max(done, key=lambda r: r["cv_accuracy"])
    near = sorted((r for r in done if r["cv_accuracy"] >= best["cv_accuracy"] - tolerance / 100),
                  key=lambda r: (r["flash_bytes"], -r["cv_accuracy"]))
    picked = near[: max(1, limit - 1)]
    if best not in picked:
        picked.append(best)
    return picked


def repeat_seeds(td: adapter.TaskData, rows: list[dict[str, Any]], cfg: SearchConfig, seeds: int,
                 log: Any = print) -> list[dict[str, Any]]:
    """Cross-validate each finalist with `seeds` seeds in all (the search's seed counts as the first)."""
    out = []
    for r in rows:
        means = [r["cv_accuracy"]]
        for s in range(1, seeds):
            accs, _ = cross_validate(td, r["family"], r["params"], cfg, cfg.seed + 1000 * s)
            means.append(float(np.mean(accs)))
        res = dict(r, seed_means=means, cv_mean=float(np.mean(means)), cv_seed_spread=float(np.std(means)))
        log(f"finalist trial {r['number']} ({r['family']}, {r['flash_bytes']:,} B): CV "
            f"{100 * res['cv_mean']:.2f} ± {100 * res['cv_seed_spread']:.2f} % over {len(means)} seed(s)")
        out.append(res)
    return out


def pick(final: list[dict[str, Any]], tolerance: float) -> dict[str, Any]:
    """The smallest finalist whose mean CV accuracy is within `tolerance` points of the best mean."""
    best = max(r["cv_mean"] for r in final)
    ok = [r for r in final if r["cv_mean"] >= best - tolerance / 100]
    return min(ok, key=lambda r: (r["flash_bytes"], -r["cv_mean"]))


def exported_input(td: adapter.TaskData, family: str, model_dir: Path, name: str) -> Any:
    """A function from raw rows (features, windows or uint8 images) to what the exported model takes: features
    or raw windows standardised with the exported norm (per feature, or per channel); images scaled to [0, 1]."""
    if td.kind == "imu":
        from edgeloop.models.features import FeatureNorm

        pre = json.loads((model_dir / f"{name}.preprocess.json").read_text(encoding="utf-8"))
        norm = FeatureNorm.from_json(pre["feature_norm"] if family == "feature_mlp" else pre["channel_norm"])
        return norm.apply
    return lambda x: adapter.model_input(td.kind, x)


def _test_inputs(td: adapter.TaskData, family: str, params: dict[str, Any], model_dir: Path, name: str
                 ) -> tuple[np.ndarray, adapter.Arrays]:
    """The test split as the exported model takes it (exported_input)."""
    _, test = td.arrays(params, family)
    return exported_input(td, family, model_dir, name)(test.x), test


def evaluate_int8(td: adapter.TaskData, family: str, params: dict[str, Any], model_dir: Path,
                  name: str) -> dict[str, Any]:
    """int8 accuracy of the exported model on the test split: per window, per recording, confusion matrix."""
    from edgeloop.models.decision import rule_from_meta
    from edgeloop.models.quantize import read_meta
    from edgeloop.models.report import Int8Model

    x, test = _test_inputs(td, family, params, model_dir, name)
    probs = Int8Model((model_dir / f"{name}.tflite").read_bytes()).predict(x)
    pred = probs.argmax(-1)
    n = td.n_classes
    confusion = np.zeros((n, n), np.int64)
    np.add.at(confusion, (test.y, pred), 1)
    out: dict[str, Any] = {"window_accuracy": float(np.mean(pred == test.y)), "windows": int(len(pred)),
                           "confusion": confusion.tolist()}
    decisions = adapter.case_decisions(test.case, test.y, probs, rule_from_meta(read_meta(model_dir / f"{name}.tflite")))
    if decisions:
        out["recording_accuracy"] = float(np.mean([d["truth"] == d["decided"] for d in decisions]))
        out["recordings"] = decisions
    return out


def baselines(td: adapter.TaskData, family: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """The training report's two baselines (models/train/baselines.py) on the same inputs and split.

    Images are reduced to about 16x16 pixels for them, scaled to [0, 1]. Time series: the nine window
    statistics at the chosen window and hop, whatever the chosen model reads (as `edgeloop train` does).
    """
    if td.kind == "imu":
        params = {**params, "features": "stats9"}
    dev, test = td.arrays(params, "feature_mlp" if td.kind == "imu" else family)

    def flat(a: np.ndarray) -> np.ndarray:
        if a.ndim == 2:
            return a.astype(np.float32)
        step = max(1, a.shape[1] // 16)
        return a[:, ::step, ::step].reshape(len(a), -1).astype(np.float32) / 255.0

    x, xt = flat(dev.x[dev.evaluate]), flat(test.x)
    out = []
    for fitted in fit_baselines(x, dev.y[dev.evaluate], td.n_classes, td.seed):
        probs = fitted.predict_proba(xt)
        row = {"name": fitted.name, "test_window_accuracy": float(np.mean(probs.argmax(1) == test.y)),
               "bytes": fitted.size_bytes}
        decisions = adapter.case_decisions(test.case, test.y, probs)
        if decisions:
            row["test_recording_accuracy"] = float(np.mean([d["truth"] == d["decided"] for d in decisions]))
        out.append(row)
    return out


def quantization_note(report: dict[str, Any]) -> dict[str, Any]:
    """Whether int8 lost more than PTQ_LOSS_LIMIT points against float on the test split."""
    fl, q = report["float"].get("accuracy"), report["int8"].get("accuracy")
    loss = 100 * (fl - q) if fl is not None and q is not None else 0.0
    if loss > PTQ_LOSS_LIMIT:
        return {"ptq_loss_points": loss, "qat": f"needed: int8 loses more than {PTQ_LOSS_LIMIT:g} point against float"}
    return {"ptq_loss_points": loss, "qat": f"skipped: post-training int8 stays within {PTQ_LOSS_LIMIT:g} point "
            "of float"}


def compression_summary(family: str, quant: dict[str, Any], distill: dict[str, Any],
                        pruning: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """design.json's `compression`: per method, the chosen model's family, whether it was applied to the exported
    model, why (measured, or why it was skipped) and its figures."""
    qat = {"applied": bool(quant.get("qat_applied")), "why": quant.get("qat_why") or quant["qat"],
           **{k: v for k, v in quant.items() if k not in ("qat", "qat_applied", "qat_why")}}
    return {method: {"family": family, **{k: v for k, v in entry.items() if k not in ("applied", "why")},
                     "applied": bool(entry.get("applied")), "why": entry.get("why", "")}
            for method, entry in (("quantization_aware_training", qat), ("distillation", distill),
                                  ("channel_pruning", pruning))}
