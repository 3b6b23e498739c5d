"""One decision rule, one answer: the training report's decided classes and `edgeloop run`'s CSV come from the
same Decider (edgeloop.models.decision) and agree window by window."""

from __future__ import annotations

import csv
import io

import numpy as np

from edgeloop.app.live.pipeline import ResultRecord
from edgeloop.app.live.runner import ResultCsvWriter
from edgeloop.models.decision import DecisionRule, decide
from edgeloop.models.train.scoring import stream_scores
from edgeloop.protocol import TimingSource

LABELS = ("adl", "fall")


def _record(i: int, probs: np.ndarray) -> ResultRecord:
    cls = int(np.argmax(probs))
    return ResultRecord(seq=i, capture_index=i, timestamp=float(i), model_index=0, model_name="m", class_index=cls,
                        label=LABELS[cls], confidence=float(probs[cls]), probabilities=tuple(map(float, probs)),
                        labels=LABELS, tick_hz=1_000_000_000, ticks={}, timings_us={},
                        timing_source=TimingSource.HOST_CLOCK, rtt_s=0.001, latency_s=0.002, host_overhead_s=0.0,
                        attempts=1)


def test_run_csv_and_report_decide_alike() -> None:
    rng = np.random.default_rng(3)
    fall = rng.random(40)
    probs = np.stack([1 - fall, fall], axis=1)
    rule = DecisionRule("mean", 3, threshold=0.55, debounce=2)
    stream = io.StringIO()
    writer = ResultCsvWriter(stream, rule)
    for i, p in enumerate(probs):
        writer.write(_record(i, p))
    rows = list(csv.DictReader(io.StringIO(stream.getvalue())))
    from_run = [int(r["decided_index"]) for r in rows]
    assert from_run == decide(rule, probs).tolist()
    assert [r["class_index"] for r in rows] == [str(int(c)) for c in probs.argmax(1)]  # the raw class stays
    assert {r["decided_label"] for r in rows} <= {"adl", "fall", "uncertain"}
    # the report scores the very same decided classes
    y = (fall > 0.5).astype(int)
    scores = stream_scores(probs, y, np.zeros(len(y), int), rule)
    assert scores["decided_accuracy"] == np.mean(np.array(from_run) == y)


def test_validate_decides_with_the_same_code() -> None:
    """validate's metrics: per-recording and decided accuracy from the board's int8 outputs, equal to the training
    report's scoring of the same dequantized probabilities."""
    from edgeloop.app.validate.validator import compute_metrics
    from edgeloop.models import quantization
    from edgeloop.protocol import DType, TensorDesc

    rng = np.random.default_rng(4)
    fall = rng.random(30)
    out = TensorDesc(dtype=int(DType.INT8), dims=(1, 2), scale=1 / 256, zero_point=-128)
    q = quantization.quantize(np.stack([1 - fall, fall], axis=1), out.scale, out.zero_point, "int8")
    truth = (fall > 0.4).astype(np.int64)
    groups = np.repeat([0, 1, 2], 10)
    rule = DecisionRule("vote", 3)
    figures = compute_metrics(truth, q, q, LABELS, out, np.ones(30, np.int64), 1_000_000_000,
                              TimingSource.HOST_CLOCK, groups=groups, rule=rule)
    decisions = figures["classification"]["decisions"]
    probs = quantization.dequantize(q, out.scale, out.zero_point).astype(np.float64)
    assert decisions["board"] == stream_scores(probs, truth, groups, rule)
    assert decisions["rule"]["mode"] == "vote" and decisions["board"]["recordings"] == 3
