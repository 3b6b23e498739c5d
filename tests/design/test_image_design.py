"""`edgeloop design` on tiny images through finalize: the chosen model's recipe, its exported C validated bit-exact
on the host board, the compression each method measured, and report.html."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from edgeloop.models.design import adapter
from edgeloop.models.design.pruning import pruned_widths

from .conftest import design_tiny_images


def test_image_design_finalizes_exports_c_and_validates(tiny_bottles: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    # the first trial is a recipe the user gives (--enqueue), as `edgeloop train` wrote it
    mine = {"input_size": 16, "color": "gray", "width": 3, "depth": 1, "max_channels": 6, "stem_stride": 2,
            "pool": "avg", "head": "flatten", "block": "plain"}
    td = adapter.TaskData("bottles", "images", [tiny_bottles], [], 0, "")
    recipe = adapter.train_request(td, "image_cnn", mine, tmp_path / "mine", seed=0, epochs=5).recipe().write(
        tmp_path / "mine.recipe.json")
    d, stdout = design_tiny_images(tiny_bottles, out, "image_cnn", 4, "--enqueue", recipe)
    assert "first trials: the given recipes (mine.recipe.json)" in stdout
    first = d["trials"][0]
    assert (first["seeded_from"], first["family"], first["params"]) == ("mine.recipe.json", "image_cnn", mine)
    ch = d["chosen"]
    assert ch["family"] == "image_cnn" and ch["recipe"]["command"].startswith("edgeloop train --task bottles")
    assert ch["flash_bytes"] <= 64 * 1024 and ch["ram_bytes"] > 0 and ch["latency_ms_estimate"] > 0
    assert ch["validation"]["bit_exact"] and ch["validation"]["samples"] > 0
    confusion = np.asarray(ch["confusion"])
    assert confusion.sum() > 0 and np.isclose(np.trace(confusion) / confusion.sum(), ch["test_accuracy"])
    assert len(d["trials"]) == 2
    comp = d["compression"]
    assert set(comp) == {"quantization_aware_training", "distillation", "channel_pruning"}
    assert all(c["family"] == "image_cnn" and isinstance(c["applied"], bool) and c["why"] for c in comp.values())
    prune = comp["channel_pruning"]  # measured in both folds: every conv keeps half its filters (rounded up)
    assert prune["folds"] == 2 and prune["flash_bytes_after"] < prune["flash_bytes_before"]
    assert prune["widths_after"] == pruned_widths(prune["widths_before"], 0.5) != prune["widths_before"]
    assert 0 <= prune["cv_accuracy_after"] <= 1 and 0 <= prune["cv_accuracy_before"] <= 1
    assert prune["applied"] == (prune["loss_points"] <= 1.0)
    # a pruning that pays is exported as the recipe plus prune_keep: trained, pruned and fine-tuned as measured
    assert (ch["recipe"]["params"].get("prune_keep") == 0.5) == prune["applied"]
    assert ("--prune-keep 0.5" in ch["recipe"]["command"]) == prune["applied"]
    exported = json.loads((out / "chosen" / "report.json").read_text())  # widths of the exported model
    assert exported["conv_widths"] == (prune["widths_after"] if prune["applied"] else prune["widths_before"])
    model_dir = out / "chosen"
    assert (model_dir / "c" / "chosen.c").is_file() and (model_dir / "chosen.tflite").is_file()
    assert (model_dir / "chosen.recipe.json").is_file()
    html = (out / "report.html").read_text()
    assert html.count("<svg") == 2 and "Compression" in html and "channel pruning" in html and "Every trial" in html
