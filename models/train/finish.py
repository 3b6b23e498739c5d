"""The last step of every recipe: export the trained model, evaluate float vs int8, write the report."""

from __future__ import annotations

import shlex
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgeloop.models.quantize import ExportResult, ModelMeta, export_model
from edgeloop.models.report import (
    Int8Model, classification_metrics, compiler_analysis, count_params_and_macc, regression_metrics, write_report,
)
from edgeloop.models.decision import rule_from_meta
from edgeloop.models.train.baselines import baseline_verdict
from edgeloop.models.train.common import file_sizes
from edgeloop.models.train.scoring import stream_scores
from edgeloop.models.train.recipes import RECIPE_SUFFIX, Recipe


def recipe_lines(argv: Sequence[str] | None) -> list[str]:
    """The shell command(s) that reproduce a run, for the report's Recipe section."""
    return [shlex.join(["edgeloop", *argv])] if argv else []


def finish(model: Any, *, name: str, task: str, out_dir: Path, meta: ModelMeta, representative: np.ndarray,
           x_test: np.ndarray, y_test: np.ndarray, seed: int, recipe: Sequence[str] = (),
           history: dict[str, list[float]] | None = None, regression: bool = False,
           extra_metrics: Callable[[np.ndarray], dict[str, float]] | None = None,
           evaluated_on: str = "held-out test split", description: str = "",
           info: dict[str, Any] | None = None, resolved: "Recipe | None" = None,
           groups: np.ndarray | None = None, baselines: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """Export `model` into `out_dir`, evaluate it on (x_test, y_test) in float and on the int8 oracle,
    write REPORT.md / report.json / confusion.png and return the report dict.

    `extra_metrics(pred)` adds task-specific figures (e.g. event-level fall
    recall) computed from predicted class indices, for float and int8 alike.
    `resolved` (every default filled in) is written to NAME.recipe.json, which
    `edgeloop train --recipe` reproduces. `groups` (the recording or case of
    each test window, windows in stream order) adds per-recording and decided
    scores under the model's decision rule; `baselines` (dicts with name,
    size_bytes, window_accuracy, recording_accuracy) go beside the network.
    The int8 model's `window_accuracy`, `recording_accuracy` and `flash_bytes`
    (compiler total: weights, code, labels and normalisation table) are also
    top-level keys of report.json.
    """
    out = Path(out_dir)
    exported: ExportResult = export_model(model, representative, out, name, meta, seed=seed)
    float_out = np.asarray(model.predict(x_test, verbose=0, batch_size=256))
    int8_out = Int8Model(exported.tflite_int8.read_bytes()).predict(x_test)
    if regression:
        fl = regression_metrics(y_test, float_out)
        q = regression_metrics(y_test, int8_out)
    else:
        labels = list(meta.labels)
        fl = classification_metrics(y_test, float_out.argmax(-1), labels)
        q = classification_metrics(y_test, int8_out.argmax(-1), labels)
        if extra_metrics is not None:
            fl.update(extra_metrics(float_out.argmax(-1)))
            q.update(extra_metrics(int8_out.argmax(-1)))
        rule = rule_from_meta(meta)
        fl.update(stream_scores(float_out, y_test, groups, rule))
        q.update(stream_scores(int8_out, y_test, groups, rule))
    params, macc = count_params_and_macc(model)
    sizes = file_sizes({"int8 .tflite bytes": exported.tflite_int8, "float .tflite bytes": exported.tflite_float,
                        ".keras bytes": exported.keras, ".onnx bytes": exported.onnx})
    report: dict[str, Any] = {
        "name": name, "task": task, "labels": list(meta.labels), "description": description,
        "float": fl, "int8": q, "params": params, "macc": macc, "sizes": sizes,
        "analysis": compiler_analysis(exported.tflite_int8, kernels=resolved.kernels if resolved else None),
        "evaluated_on": evaluated_on,
        "recipe": list(recipe), "seed": seed, "history_epochs": len(next(iter((history or {"": []}).values()))),
        "onnx_error": exported.onnx_error, **(info or {}),
    }
    analysis = report["analysis"] or {}
    if not regression:
        report["window_accuracy"] = q["window_accuracy"]
        if "recording_accuracy" in q:
            report["recording_accuracy"] = q["recording_accuracy"]
        report["decision"] = {**rule.to_json(), "describe": rule.describe()}
    report["flash_bytes"] = analysis.get("flash_bytes")
    if baselines:
        report["baselines"] = list(baselines)
        key = "recording_accuracy" if "recording_accuracy" in q else "window_accuracy"
        report["baseline_verdict"] = baseline_verdict(q[key], report["flash_bytes"], list(baselines), key)
    if resolved is not None:
        report["recipe_file"] = resolved.write(out / f"{name}{RECIPE_SUFFIX}").name
        report["resolved_recipe"] = resolved.recipe_json()
    write_report(out, report)
    return report
