"""The prediction timeline (decision rule, truth marks, running accuracy) and the Cortex-M7 figure."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math

import pytest

import edgeloop
from edgeloop.app.gui.timeline import QtPredictionTimeline
from edgeloop.app.gui.widgets import QtDevicePanel
from edgeloop.app.live import model_facts
from edgeloop.app.live.pipeline import ResultRecord
from edgeloop.models.decision import DecisionRule
from edgeloop.protocol import Info, TimingSource

pytestmark = pytest.mark.timeout(60)
ZOO = edgeloop.PACKAGE_ROOT / "models" / "zoo"


def _result(probs: tuple[float, ...], t: float, truth: str | None = None, labels=("a", "b", "c")) -> ResultRecord:
    best = max(range(len(probs)), key=probs.__getitem__)
    return ResultRecord(seq=1, capture_index=0, timestamp=t, model_index=0, model_name="m", class_index=best,
                        label=labels[best], confidence=probs[best], probabilities=probs, labels=labels, tick_hz=1,
                        ticks={}, timings_us={}, timing_source=TimingSource.HOST_CLOCK, rtt_s=0.0, latency_s=0.0,
                        host_overhead_s=0.0, attempts=1, meta={"label": truth} if truth else {})


def test_timeline_applies_the_decision_rule_and_scores_it_against_the_truth(qtbot) -> None:
    timeline = QtPredictionTimeline(history=50)
    qtbot.addWidget(timeline)
    timeline.set_model(("a", "b", "c"), DecisionRule(mode="vote", k=3))
    stream = [((0.8, 0.1, 0.1), "a"), ((0.1, 0.8, 0.1), "a"), ((0.8, 0.1, 0.1), "a"), ((0.1, 0.8, 0.1), "b"),
              ((0.1, 0.8, 0.1), "b")]
    for i, (probs, truth) in enumerate(stream):
        timeline.add_record(_result(probs, 10 + i / 10, truth))
    assert timeline.judged == 5
    assert timeline.decided_label == "b"  # b won the last three votes 2:1
    assert timeline.decision == ("b", pytest.approx(2 / 3))  # what the window's banner shows under this rule
    assert timeline.right == sum(1 for d in _decisions(stream) if d)
    assert timeline.redraw() and not timeline.redraw()  # nothing new: no redraw
    title = timeline.plot.titleLabel.text
    assert "majority vote of the last 3 windows" in title and f"{timeline.right}/5" in title
    timeline.add_record(_result((0.9, 0.1), 11.0, "a", labels=("x", "y")))  # another model's result: ignored
    assert timeline.judged == 5
    timeline.reset()
    assert math.isnan(timeline.accuracy) and timeline.decided_label == ""


def _decisions(stream) -> list[bool]:
    from edgeloop.models.decision import Decider

    decider = Decider(DecisionRule(mode="vote", k=3), 3)
    return [decider.update(p).cls == "abc".index(t) for p, t in stream]


def _info(model, timing: TimingSource) -> Info:
    return Info(1, 0, 2, timing, 0, 1_000_000_000, 4096, 0, "fw", "host", (model,))


def test_cortex_m7_figure_is_shown_only_where_a_count_exists(qtbot, kit) -> None:
    tflite = ZOO / "bottles_demo" / "bottles_demo.tflite"
    stored = json.loads((ZOO / "bottles_demo" / "c" / "bottles_demo.qemu.json").read_text())
    model = dataclasses.replace(kit.image_model("bottles_demo"), hash=hashlib.sha256(tflite.read_bytes()).digest())
    panel = QtDevicePanel()
    qtbot.addWidget(panel)
    panel.set_info(_info(model, TimingSource.HOST_CLOCK))
    text = panel.values["Cortex-M7"].text()
    count = model_facts.instruction_count(model)
    assert count is not None and count.instructions == stored["emulated_instructions"]
    assert "emulated" in text and "480 MHz" in text and "estimate from emulated instructions" in text
    assert "1 instruction per cycle" in text
    assert f"{count.instructions / 480e6 * 1e3:.3g} ms" in text
    # A model never measured under QEMU shows no figure at all, never a guess.
    panel.set_info(_info(kit.image_model("own_model"), TimingSource.HOST_CLOCK))
    assert panel.values["Cortex-M7"].text().startswith("no emulated count")
    # A real board measures its cycles: those stay the figure.
    panel.set_info(_info(model, TimingSource.DWT_CYCLES))
    assert "measured" in panel.values["Cortex-M7"].text() and "estimate" not in panel.values["Cortex-M7"].text()


def test_the_zoo_decision_rule_is_found_by_hash(kit) -> None:
    tflite = ZOO / "fall" / "fall.tflite"
    model = dataclasses.replace(kit.imu_model(), hash=hashlib.sha256(tflite.read_bytes()).digest())
    meta = json.loads((ZOO / "fall" / "fall.meta.json").read_text())
    expected = DecisionRule.from_json(meta["decision"]) if meta.get("decision") else DecisionRule()
    assert model_facts.decision_rule(model) == expected
    assert model_facts.decision_rule(kit.imu_model()) == DecisionRule()  # not a zoo model: each window alone
