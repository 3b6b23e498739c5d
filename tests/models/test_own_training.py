"""Training on imported data: time-series families with baselines and per-recording scores, small images
at their own size; tiny epochs (seconds), on the committed fixtures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgeloop.models.data.ingest import import_sources

FIX = Path(__file__).parent / "fixtures" / "ingest"


def _train(*args: str) -> dict:
    from edgeloop.app.cli import main

    assert main(["train", *args, "--no-progress"]) == 0
    out = Path(args[args.index("--out") + 1])
    return json.loads((out / "report.json").read_text())


@pytest.mark.slow
def test_timeseries_auto_family_report_has_baselines_and_recording_scores(tmp_path: Path,
                                                                           capsys: pytest.CaptureFixture[str]) -> None:
    import_sources([FIX / "uea"], tmp_path / "set", rate=10)
    report = _train("--task", "timeseries", "--data", str(tmp_path / "set"), "--out", str(tmp_path / "m"),
                    "--family", "auto", "--epochs", "4", "--decision", "mean:3")
    out = capsys.readouterr().out
    assert {t["family"] for t in report["families_tried"]} == {"feature-mlp", "cnn1d", "dense"}
    assert report["family"] in ("feature-mlp", "cnn1d", "dense")
    for key in ("window_accuracy", "recording_accuracy", "flash_bytes"):
        assert report[key] is not None, key
    assert report["int8"]["recordings"] == 6 and report["decision"]["mode"] == "mean"
    assert {b["name"] for b in report["baselines"]} == {"logistic regression", "random forest"}
    assert all(b["size_bytes"] > 0 and 0 <= b["recording_accuracy"] <= 1 for b in report["baselines"])
    assert "note: window 18 samples" in out and "baseline random forest" in out
    meta = json.loads((tmp_path / "m" / "m.meta.json").read_text())
    assert meta["decision"]["mode"] == "mean" and meta["input_kind"].startswith("timeseries-")
    text = (tmp_path / "m" / "REPORT.md").read_text()
    assert "## Baselines (same split, same features)" in text and "recording accuracy" in text
    # flash counts the normalisation table: analyze of the exported model with its sidecar
    assert report["flash_bytes"] == report["analysis"]["flash_bytes"]


@pytest.mark.slow
def test_small_images_keep_their_size_and_labels_sort_naturally(tmp_path: Path) -> None:
    import_sources([FIX / "digits"], tmp_path / "set")
    report = _train("--task", "images", "--data", str(tmp_path / "set"), "--out", str(tmp_path / "m"),
                    "--epochs", "2")
    assert report["input"]["size"] == 8 and report["input"]["depth"] == 1
    assert report["labels"] == ["1", "2", "10"]
    assert any("not upscaled" in n for n in report["notes"])
    dense = _train("--task", "images", "--data", str(tmp_path / "set"), "--out", str(tmp_path / "d"),
                   "--epochs", "2", "--family", "dense")
    assert dense["family"] == "dense" and dense["analysis"]["flash_bytes"] < 8000
