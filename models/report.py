"""Evaluation and reports of trained models: float vs int8, per class, with a confusion matrix.

Int8 results come from the TFLite Micro interpreter (the oracle the
firmware is checked against), never from a float re-implementation.
`write_report()` writes REPORT.md, report.json and confusion.png (drawn
with OpenCV) into a model directory.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeloop import os_errors_explained, require
from edgeloop.models import metrics
from edgeloop.models.quantize import dequantize, io_quant_params, quantize


@dataclass
class Int8Model:
    """An int8 .tflite model run on the TFLite Micro oracle, with float in and float out."""

    tflite: bytes

    def __post_init__(self) -> None:
        self.input_qp, self.output_qp = io_quant_params(self.tflite)

    def predict_q(self, xq: np.ndarray) -> np.ndarray:
        """Run already-quantized int8 inputs (N, ...) and return int8 outputs (N, ...)."""
        from edgeloop.models.reference import run_reference_batch

        return run_reference_batch(self.tflite, np.asarray(xq, np.int8)).reshape(len(xq), -1)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Quantize float inputs with the model's input scale, run them, dequantize the outputs."""
        return dequantize(self.predict_q(quantize(x, self.input_qp)), self.output_qp)


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[str]) -> dict[str, Any]:
    """Accuracy, per-class precision/recall/support and the confusion matrix (rows = true class).

    The figures come from edgeloop.models.metrics, as `edgeloop validate`'s do; a report
    shows an undefined precision or recall (no such prediction, no such sample) as 0.
    """
    cm = metrics.confusion_matrix(y_true, y_pred, len(labels))
    return {
        "accuracy": metrics.accuracy(y_true, y_pred) or 0.0,
        "n": int(cm.sum()),
        "per_class": {row["label"]: {"precision": row["precision"] or 0.0, "recall": row["recall"] or 0.0,
                                     "support": row["support"]} for row in metrics.per_class(cm, labels)},
        "confusion": cm.tolist(),
    }


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float | int]:
    """Mean absolute error, RMS error, the largest error and the count (edgeloop.models.metrics.regression)."""
    return metrics.regression(y_true, y_pred)


def count_params_and_macc(model: Any) -> tuple[int, int]:
    """Return (parameters, multiply-accumulates per inference) of a Keras model's layers we use."""
    macc = 0
    for layer in model.layers:
        cls = type(layer).__name__
        try:
            out_shape = layer.output.shape
            in_shape = layer.input.shape
        except (AttributeError, ValueError):
            continue
        if cls == "Dense":
            macc += int(in_shape[-1]) * int(out_shape[-1])
        elif cls == "Conv2D":
            kh, kw = layer.kernel_size
            macc += int(np.prod(out_shape[1:])) * kh * kw * int(in_shape[-1])
        elif cls == "DepthwiseConv2D":
            kh, kw = layer.kernel_size
            macc += int(np.prod(out_shape[1:])) * kh * kw
        elif cls == "SeparableConv2D":
            kh, kw = layer.kernel_size
            mid = int(np.prod(out_shape[1:3])) * int(in_shape[-1]) * layer.depth_multiplier
            macc += mid * kh * kw + mid * int(out_shape[-1])
        elif cls == "Conv1D":
            (k,) = layer.kernel_size
            macc += int(np.prod(out_shape[1:])) * k * int(in_shape[-1])
    return int(model.count_params()), int(macc)


def compiler_analysis(tflite_path: Path, timeout: float = 300.0, kernels: str | None = None) -> dict[str, Any] | None:
    """MACC, flash and RAM from `edgeloop analyze --json` (the model compiler) with kernel set `kernels`
    (None: the default, fast), or None if it fails.

    Returns {"macc", "flash_bytes" (weights + code estimate), "ram_bytes"
    (planned arena incl. scratch), "arm_flash_bytes" (Cortex-M7 section sizes,
    when the ARM toolchain is there)}.
    """
    try:
        proc = subprocess.run([sys.executable, "-m", "edgeloop", "analyze", "--json", "--no-tflm", str(tflite_path),
                               *(["--kernels", kernels] if kernels else [])],
                              capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0 or not proc.stdout.strip():
        return None
    try:
        totals = json.loads(proc.stdout.strip().splitlines()[-1])["totals"]
    except (json.JSONDecodeError, KeyError, TypeError):
        return None
    out = {"macc": totals.get("macc"), "flash_bytes": totals.get("flash_bytes_estimate"),
           "ram_bytes": totals.get("arena_bytes")}
    if kernels:
        out["kernel_set"] = totals.get("kernel_set")
    arm = totals.get("arm") or {}
    if "flash" in arm:
        out["arm_flash_bytes"] = arm["flash"]
    return out


def draw_confusion(cm: np.ndarray, labels: Sequence[str], title: str, path: Path) -> None:
    """Draw a confusion matrix (rows true, columns predicted, shaded by row share) as a PNG."""
    cv2 = require("cv2", needed_for="the confusion-matrix PNG")

    cm = np.asarray(cm)
    k = len(labels)
    cell, left, top = 64, 130, 70
    img = np.full((top + cell * k + 40, left + cell * k + 20, 3), 255, np.uint8)
    font = cv2.FONT_HERSHEY_SIMPLEX
    cv2.putText(img, title[:60], (8, 22), font, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, "predicted ->", (left, top - 30), font, 0.45, (80, 80, 80), 1, cv2.LINE_AA)
    row_sum = np.maximum(cm.sum(axis=1, keepdims=True), 1)
    share = cm / row_sum
    for i in range(k):
        cv2.putText(img, labels[i][:14], (6, top + i * cell + cell // 2 + 5), font, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        cv2.putText(img, labels[i][:7], (left + i * cell + 4, top - 8), font, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
        for j in range(k):
            x0, y0 = left + j * cell, top + i * cell
            shade = int(255 - 200 * share[i, j])
            colour = (255, shade, shade) if i == j else (shade, shade, 255)
            cv2.rectangle(img, (x0, y0), (x0 + cell - 2, y0 + cell - 2), colour, -1)
            text = str(int(cm[i, j]))
            cv2.putText(img, text, (x0 + 8, y0 + cell // 2 + 5), font, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.imwrite(str(path), img)


def _pct(x: float) -> str:
    return f"{100 * x:.2f} %"


def write_report(out_dir: Path, report: dict[str, Any]) -> None:
    """Write report.json, REPORT.md and (for classifiers) confusion.png into `out_dir`.

    `report` holds "name", "task", "labels", "float" and "int8" metric dicts
    (from classification_metrics or regression_metrics), "params", "macc",
    optional "analysis" (compiler figures), "sizes" and "recipe".
    """
    out = Path(out_dir)
    with os_errors_explained(f"write the training report to {out}"):
        _write_report(out, report)


def _write_report(out: Path, report: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    lines = [f"# {report['name']}: {report['task']}", ""]
    if report.get("description"):
        lines += [report["description"], ""]
    fl, q = report["float"], report["int8"]
    lines += ["| metric | float (Keras) | int8 (TFLite Micro oracle) |", "|---|---|---|"]
    if "accuracy" in fl:
        lines.append(f"| accuracy | {_pct(fl['accuracy'])} | {_pct(q['accuracy'])} |")
        for extra in ("event_recall", "event_false_alarm"):
            if extra in fl:
                lines.append(f"| {extra.replace('_', ' ')} | {_pct(fl[extra])} | {_pct(q[extra])} |")
    else:
        for key in ("mae", "rmse", "max_abs_error"):
            lines.append(f"| {key} | {fl[key]:.4f} | {q[key]:.4f} |")
    for key in ("recording_accuracy", "decided_accuracy"):
        if key in q:
            lines.append(f"| {key.replace('_', ' ')} | {_pct(fl[key])} | {_pct(q[key])} |")
    lines.append(f"| samples | {fl['n']} | {q['n']} |")
    if "recordings" in q:
        lines.append(f"| recordings / cases | {fl['recordings']} | {q['recordings']} |")
    lines += ["", f"Evaluated on: {report.get('evaluated_on', 'held-out test split')}.", ""]
    if report.get("decision"):
        lines += [f"Decision rule (meta.json `decision`): {report['decision']['describe']}. Per recording: the "
                  "mean of the recording's window probabilities (majority for a vote rule); decided accuracy: "
                  "each window's shown class after the rule.", ""]
    if report.get("baselines"):
        lines += ["## Baselines (same split, same features)", "",
                  "| model | window accuracy | recording accuracy | size (bytes) |", "|---|---|---|---|",
                  f"| **network (int8)** | {_pct(q['accuracy'])} | "
                  f"{_pct(q['recording_accuracy']) if 'recording_accuracy' in q else '–'} | "
                  f"{report.get('flash_bytes') or '–'} (flash) |"]
        for b in report["baselines"]:
            rec = _pct(b["recording_accuracy"]) if b.get("recording_accuracy") is not None else "–"
            lines.append(f"| {b['name']} | {_pct(b['window_accuracy'])} | {rec} | ~{b['size_bytes']} (estimate) |")
        lines += ["", report.get("baseline_verdict") or "No baseline is both as accurate and smaller than the network.",
                  ""]
    lines += ["## Size", "", "| figure | value |", "|---|---|",
              f"| parameters | {report['params']} |", f"| MACC (Keras layer count) | {report['macc']} |"]
    for key, value in report.get("sizes", {}).items():
        lines.append(f"| {key} | {value} |")
    analysis = report.get("analysis")
    if analysis:
        for key in ("macc", "flash_bytes", "ram_bytes", "arm_flash_bytes"):
            if key in analysis:
                lines.append(f"| {key} (edgeloop analyze) | {analysis[key]} |")
    else:
        lines.append("| flash / RAM | the model compiler's analysis was not available when this report was made |")
    if "per_class" in q:
        lines += ["", "## Per class (int8)", "", "| class | precision | recall | support |", "|---|---|---|---|"]
        for name, m in q["per_class"].items():
            lines.append(f"| {name} | {_pct(m['precision'])} | {_pct(m['recall'])} | {m['support']} |")
        lines += ["", "Confusion matrix (rows: true class, columns: predicted): confusion.png", ""]
        draw_confusion(np.array(q["confusion"]), report["labels"], f"{report['name']} int8", out / "confusion.png")
    if report.get("recipe"):
        lines += ["", "## Recipe", "", "```sh", *report["recipe"], "```"]
    (out / "REPORT.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def refresh_analysis(model_dir: Path) -> dict[str, Any]:
    """Re-run the compiler's analysis of a trained model directory and rewrite its report files.

    The flash/RAM estimates come from the model compiler; when it changes, a
    report can be brought up to date without retraining.
    """
    model_dir = Path(model_dir)
    report = json.loads((model_dir / "report.json").read_text(encoding="utf-8"))
    report["analysis"] = compiler_analysis(model_dir / f"{report['name']}.tflite")
    write_report(model_dir, report)
    return report
