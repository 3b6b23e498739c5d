"""Validation metrics and the HTML/JSON report, on synthetic arrays with known answers."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from edgeloop.app.validate.validator import (
    ValidationData,
    ValidationResult,
    accuracy,
    agreement_metrics,
    compute_metrics,
    confusion_matrix,
    latency_stats,
    per_class_metrics,
)
from edgeloop.app.validate.report import render_html, svg_confusion, write_report
from edgeloop.protocol import DType, InputKind, ModelDescriptor, TensorDesc, TimingSource

pytestmark = pytest.mark.timeout(60)


def test_confusion_accuracy_and_per_class() -> None:
    truth = np.array([0, 0, 1, 1, 2, 2, -1])
    pred = np.array([0, 1, 1, 1, 0, 2, 2])
    cm = confusion_matrix(truth, pred, 3)
    assert cm.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]  # the unlabeled sample is left out
    assert accuracy(truth, pred) == pytest.approx(4 / 6)
    rows = per_class_metrics(cm, ["a", "b", "c"])
    assert [r["recall"] for r in rows] == [0.5, 1.0, 0.5]
    assert [r["precision"] for r in rows] == [0.5, 2 / 3, 1.0]
    assert rows[1]["f1"] == pytest.approx(0.8)
    empty = per_class_metrics(np.zeros((2, 2), np.int64), ["x", "y"])
    assert empty[0]["recall"] is None and empty[0]["precision"] is None
    assert accuracy(np.array([-1]), np.array([0])) is None


def test_agreement_metrics_known_values() -> None:
    ref = np.array([[10, -20, 5], [0, 0, 0]], np.int8)
    same = agreement_metrics(ref, ref, 0.5, 0)
    assert same["exact_match_rate"] == 1.0 and same["max_abs_diff_q"] == 0 and same["rmse"] == 0
    assert same["cosine_mean"] == 1.0 and same["l2_relative"] == 0.0
    board = ref.copy()
    board[0, 1] = -18  # 2 steps off
    m = agreement_metrics(board, ref, 0.5, 0)
    assert m["exact_match_rate"] == 0.5 and m["element_exact_rate"] == pytest.approx(5 / 6)
    assert m["max_abs_diff_q"] == 2 and m["max_abs_diff"] == pytest.approx(1.0)
    assert m["mae"] == pytest.approx(1.0 / 6)
    assert m["rmse"] == pytest.approx(math.sqrt(1.0 / 6))
    assert m["l2_relative"] == pytest.approx(1.0 / (0.5 * math.sqrt(100 + 400 + 25)))
    b, r = 0.5 * np.array([10, -18, 5.0]), 0.5 * np.array([10, -20, 5.0])
    assert m["cosine_min"] == pytest.approx(b @ r / (np.linalg.norm(b) * np.linalg.norm(r)))
    # zero point: real = scale * (q - zp)
    z = agreement_metrics(np.array([[3]]), np.array([[1]]), 0.25, 1)
    assert z["max_abs_diff"] == pytest.approx(0.5) and z["l2_relative"] == math.inf
    with pytest.raises(ValueError, match="shape"):
        agreement_metrics(np.zeros((2, 3)), np.zeros((2, 4)))


def test_latency_stats_label_units_by_timing_source() -> None:
    ticks = np.array([1000, 2000, 3000])
    measured = latency_stats(ticks, 480_000_000, TimingSource.DWT_CYCLES, macc=100, cpu_hz=480_000_000)
    assert measured["timing"] == "measured" and measured["ticks"]["mean"] == 2000
    assert measured["us"]["min"] == pytest.approx(1000 / 480)
    assert measured["per_macc"] == {"value": 20.0, "unit": "cycles/MACC", "timing": "measured"}
    systick = latency_stats(ticks, 1_000_000, TimingSource.SYSTICK, macc=100, cpu_hz=480_000_000)
    assert systick["per_macc"]["value"] == pytest.approx(2000 * 480 / 100)
    emulated = latency_stats(ticks, 25_000_000, TimingSource.QEMU_ICOUNT, macc=1000)
    assert emulated["timing"] == "emulated" and emulated["per_macc"]["unit"] == "emulated instructions/MACC"
    assert emulated["per_macc"]["value"] == pytest.approx(80.0)  # 2000 SysTick ticks at 25 MHz = 80,000 instr.
    # A 1.1 board says what a tick counts (INFO instr_per_tick): that figure, not 1 ns per instruction, is used.
    measured_tick = latency_stats(ticks, 25_000_000, TimingSource.QEMU_ICOUNT, macc=1000, instr_per_tick=20)
    assert measured_tick["per_macc"]["value"] == pytest.approx(40.0)
    host = latency_stats(ticks, 1_000_000_000, TimingSource.HOST_CLOCK, macc=2)
    assert host["timing"] == "host clock" and host["per_macc"] == {"value": 1000.0, "unit": "host ns/MACC",
                                                                    "timing": "host clock"}
    assert host["us"]["std"] == pytest.approx(np.std([1.0, 2.0, 3.0]))
    assert sum(host["histogram"]["counts"]) == 3


def _model(labels=("cat", "dog", "owl")) -> ModelDescriptor:
    return ModelDescriptor(name="toy", hash=bytes(range(32)), macc=1234, flash_bytes=2000, ram_bytes=300,
                           input_kind=InputKind.TENSOR, input=TensorDesc(DType.INT8, (1, 4), 0.1, 0),
                           output=TensorDesc(DType.INT8, (1, len(labels)), 1 / 256, -128), labels=labels)


def _result(n: int = 30, done: int | None = None, error: str = "") -> ValidationResult:
    rng = np.random.default_rng(1)
    model = _model()
    ref = rng.integers(-128, 127, (n, 3)).astype(np.int8)
    board = ref.copy()
    board[::7, 0] += 1  # a few one-step differences
    done = n if done is None else done
    truth = rng.integers(0, 3, n)
    ticks = {k: rng.integers(100, 200, done) for k in ("t_rx", "t_pre", "t_infer", "t_encode")}
    data = ValidationData([b"\0" * 4] * n, truth, [f"s{i}" for i in range(n)], "synthetic <arrays>")
    result = ValidationResult(model, {"board": "qemu-mps2-an500", "timing": "emulated",
                                      "timing_source": "qemu-icount", "tick_hz": 25_000_000, "cpu_hz": 0},
                              data, "ab" * 32, "toy.tflite", board[:done], ref, ticks, 25_000_000,
                              TimingSource.QEMU_ICOUNT, "partial" if error else "complete", error)
    result.metrics = compute_metrics(truth, board[:done], ref, model.labels, model.output, ticks["t_infer"],
                                     25_000_000, TimingSource.QEMU_ICOUNT, macc=model.macc)
    return result


def test_compute_metrics_and_report_files(tmp_path: Path) -> None:
    result = _result()
    cls = result.metrics["classification"]
    b_pred = np.argmax(result.board_outputs, axis=1)
    assert cls["accuracy"]["board"] == pytest.approx(np.mean(b_pred == result.data.truth))
    assert np.sum(cls["confusion"]["board"]) == 30
    assert result.metrics["agreement"]["exact_match_rate"] == pytest.approx(1 - 5 / 30)
    json_path, html_path = write_report(result, tmp_path / "rep")
    report = json.loads(json_path.read_text())
    assert report["format"] == "edgeloop-validation v1" and report["completed"] == 30
    assert report["metrics"]["latency"]["timing"] == "emulated"
    assert report["samples"][0]["board"] in ("cat", "dog", "owl")
    page = html_path.read_text()
    assert page.count("<svg") == 4  # per-class bars, two confusion matrices, latency histogram
    assert "emulated" in page and "not measured MCU cycles" in page
    assert not re.search(r"(src|href)=['\"]https?:", page)  # nothing fetched from the network
    assert render_html(report) == page  # the HTML is a pure function of the JSON


def test_partial_report_says_why_and_covers_done_samples(tmp_path: Path) -> None:
    result = _result(n=20, done=8, error="the board stopped answering after 8 of 20 samples")
    assert result.metrics["samples"] == 8 and result.metrics["agreement"]["samples"] == 8
    json_path, html_path = write_report(result, tmp_path)
    report = json.loads(json_path.read_text())
    assert report["status"] == "partial" and report["completed"] == 8 and report["total"] == 20
    assert "stopped answering" in html_path.read_text()


def test_svg_escapes_label_text() -> None:
    svg = svg_confusion([[1, 0], [0, 1]], ["<b>", "a&b"], "t")
    assert "&lt;b&gt;" in svg and "a&amp;b" in svg and "<b>" not in svg


def test_a_run_with_no_reply_yet_still_reports() -> None:
    empty = agreement_metrics(np.zeros((0, 4), np.int8)[:0].reshape(0, 4), np.zeros((0, 4), np.int8))
    assert empty["samples"] == 0
