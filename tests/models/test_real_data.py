"""A real public data set end to end: JapaneseVowels (12 channels, 156.25 Hz, unequal-length cases, shipped in
sktime's wheel) imported from its UEA .ts files and trained with its recipe at a small size."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgeloop.app.cli import main as cli
from edgeloop.models.data.public import RATES_HZ, RECIPES, bundled_uea


@pytest.mark.slow
def test_japanese_vowels_imports_and_trains_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    train_ts, test_ts = bundled_uea("JapaneseVowels")
    assert cli(["dataset", "import", str(train_ts), str(test_ts), "--rate", str(RATES_HZ["JapaneseVowels"]),
                "--out", str(tmp_path / "jv")]) == 0
    out = capsys.readouterr().out
    assert "12 dimension(s)" in out and "(unequal)" in out and "test: 370 recordings" in out
    assert cli(["train", "--task", "timeseries", "--data", str(tmp_path / "jv"), "--out", str(tmp_path / "m"),
                "--epochs", "12", "--no-progress", *RECIPES["JapaneseVowels"]]) == 0
    report = json.loads((tmp_path / "m" / "report.json").read_text())
    assert report["int8"]["recordings"] == 370 and report["window"] == 7
    assert report["recording_accuracy"] >= 0.9 and report["window_accuracy"] >= 0.85
    assert report["flash_bytes"] <= 5 * 1024
    assert {b["name"] for b in report["baselines"]} == {"logistic regression", "random forest"}
    meta = json.loads((tmp_path / "m" / "m.meta.json").read_text())
    assert meta["sample_rate_hz"] == 156.25 and meta["input_kind"] == "timeseries-features"
