"""Decision rules (edgeloop.models.decision): one Decider gives the shown class everywhere."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgeloop.models.decision import (
    UNCERTAIN, Decider, DecisionRule, DecisionRuleError, decide, decide_recording, rule_from_meta,
)

# three windows lean to class 0, then one wild window of class 1, then class 1 for real
STREAM = np.array([[0.8, 0.2], [0.7, 0.3], [0.9, 0.1], [0.1, 0.9], [0.6, 0.4], [0.2, 0.8], [0.3, 0.7],
                   [0.1, 0.9]])


def test_identity_rule_is_the_argmax() -> None:
    assert decide(DecisionRule(), STREAM).tolist() == STREAM.argmax(1).tolist()
    assert DecisionRule().is_identity


def test_moving_average_rides_out_one_wild_window() -> None:
    got = decide(DecisionRule("mean", k=3), STREAM)
    # window 3 alone says 1; the mean of windows 1..3 is (0.7+0.9+0.1)/3 = 0.57 for class 0
    assert got.tolist() == [0, 0, 0, 0, 0, 1, 1, 1]


def test_majority_vote_and_its_confidence() -> None:
    decider = Decider(DecisionRule("vote", k=3), 2)
    decisions = [decider.update(p) for p in STREAM]
    assert [d.cls for d in decisions] == [0, 0, 0, 0, 0, 1, 1, 1]
    assert [d.raw_cls for d in decisions] == STREAM.argmax(1).tolist()
    assert decisions[3].confidence == pytest.approx(2 / 3)


def test_recording_mode_averages_since_reset() -> None:
    decider = Decider(DecisionRule("recording"), 2)
    shown = [decider.update(p).cls for p in STREAM]
    assert shown[-1] == int(STREAM.mean(0).argmax())
    decider.reset()
    assert decider.update([0.1, 0.9]).cls == 1  # nothing of the previous recording remains
    assert decide_recording(DecisionRule(), STREAM) == int(STREAM.mean(0).argmax())
    assert decide_recording(DecisionRule(), np.zeros((0, 2))) == UNCERTAIN


def test_threshold_gives_uncertain() -> None:
    got = decide(DecisionRule("none", threshold=0.75), STREAM)
    assert got.tolist() == [0, UNCERTAIN, 0, 1, UNCERTAIN, 0 * 0 + 1, UNCERTAIN, 1]


def test_debounce_needs_consecutive_windows() -> None:
    # a fall detector: a lone 'fall' window (class 1) raises nothing, two in a row do
    a, b = [0.9, 0.1], [0.2, 0.8]
    got = decide(DecisionRule("none", debounce=2), np.array([a, a, b, a, b, b, a]))
    assert got.tolist() == [UNCERTAIN, 0, 0, 0, 0, 1, 1]


def test_round_trip_and_command_line_form() -> None:
    rule = DecisionRule.parse("mean:4,threshold=0.6,debounce=2")
    assert rule == DecisionRule("mean", 4, 0.6, 2)
    assert DecisionRule.from_json(json.loads(json.dumps(rule.to_json()))) == rule
    assert rule_from_meta({"labels": ["a"], "decision": rule.to_json()}) == rule
    assert rule_from_meta({"labels": ["a"]}) == DecisionRule()
    assert "mean of the last 4" in rule.describe()


@pytest.mark.parametrize("bad", ["median:3", "mean:0", "mean:4,threshold=1.5", "vote:x", "mean,colour=3"])
def test_bad_rules_are_refused_with_the_fix(bad: str) -> None:
    with pytest.raises(DecisionRuleError):
        DecisionRule.parse(bad)
    with pytest.raises(DecisionRuleError, match="unknown keys"):
        DecisionRule.from_json({"mode": "mean", "window": 3})


def test_meta_json_carries_the_rule_and_the_compiler_accepts_it(tmp_path) -> None:
    from edgeloop.models.compiler.meta import load_meta
    from edgeloop.models.quantize import ModelMeta, read_meta, write_meta

    rule = DecisionRule("vote", 5, 0.5)
    meta = ModelMeta(labels=("a", "b"), input_kind="timeseries-features", sample_rate_hz=12.5, window=32, hop=8,
                     decision=rule.to_json())
    tfl = tmp_path / "m.tflite"
    write_meta(tfl, meta)
    back = read_meta(tfl)
    assert rule_from_meta(back) == rule and back.sample_rate_hz == 12.5
    compiled = load_meta(tmp_path / "m.meta.json")
    assert compiled.input_kind_code == 5 and compiled.sample_rate_mhz == 12500 and compiled.sample_rate_hz == 12
