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
