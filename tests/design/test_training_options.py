"""Training options every design trial (and `edgeloop train`) can take on image sets: a teacher read at its own
input side (distillation from a larger existing model) and a training-only label margin (cleaner labels while
validation and test stay whole-bin)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgeloop import InputError


def _fills(root: Path, split: str) -> np.ndarray:
    rows = [json.loads(line) for line in (root / "manifest.jsonl").read_text().splitlines() if line.strip()]
    return np.asarray([np.nan if r.get("fill") is None else r["fill"] for r in rows if r["split"] == split])


def test_boundaries_come_from_the_data_and_only_near_rows_are_dropped(tmp_path: Path) -> None:
    from edgeloop.models.train.label_margin import class_boundaries, clean_rows

    (tmp_path / "dataset.json").write_text(json.dumps({"fill_bins": {
        "empty": [0.0, 0.25], "low": [0.25, 0.5], "half": [0.5, 0.75], "full": [0.75, 1.0]}}))
    assert class_boundaries([tmp_path]) == [0.25, 0.5, 0.75]  # 0 and 1 border no other class
    fill = np.array([np.nan, 0.0, 0.24, 0.27, 0.3, 0.49, 0.62, 0.76, 1.0])
    assert clean_rows(fill, [0.25, 0.5, 0.75], 0.04).tolist() == [True, True, False, False, True, False, True,
                                                                  False, True]
    assert clean_rows(fill, [0.25, 0.5, 0.75], 0.0).all()
    with pytest.raises(InputError, match=r"must be in \[0, 0.5\)"):
        clean_rows(fill, [0.5], 0.7)
    (tmp_path / "dataset.json").write_text(json.dumps({"labels": ["a", "b"]}))
    with pytest.raises(InputError, match="no dataset.json `fill_bins`.*leave --train-margin out"):
        class_boundaries([tmp_path])


def test_train_margin_leaves_boundary_images_out_of_training_only(tiny_bottles: Path, tmp_path: Path) -> None:
    from edgeloop.app.cli import build_parser
    from edgeloop.app.commands.train import request_from_args
    from edgeloop.models.train.label_margin import class_boundaries, clean_rows
    from edgeloop.models.train.recipes import Recipe, train

    argv = ["train", "--task", "bottles", "--data", str(tiny_bottles), "--out", str(tmp_path / "m"),
            "--input-size", "16", "--width", "2", "--depth", "1", "--epochs", "1", "--train-margin", "0.05",
            "--no-progress"]
    report = train(request_from_args(build_parser().parse_args(argv)))
    fills = _fills(tiny_bottles, "train")
    dropped = int((~clean_rows(fills, class_boundaries([tiny_bottles]), 0.05)).sum())
    assert dropped > 0
    assert report["train_samples"] == len(fills) - dropped
    assert report["val_samples"] == len(_fills(tiny_bottles, "val"))  # validation keeps every image
    assert report["evaluated_on"] == f"{len(_fills(tiny_bottles, 'test'))} held-out test images"
    assert any(f"{dropped} of {len(fills)} training images" in n for n in report["notes"])
    assert Recipe.read(tmp_path / "m" / "m.recipe.json").train_margin == 0.05
    assert "--train-margin 0.05" in report["recipe"][0]


def test_a_teacher_of_another_side_reads_its_own_side(tiny_image_model: tuple, tmp_path: Path) -> None:
    from edgeloop.models.data.imagesets import load_image_set
    from edgeloop.models.design import adapter
    from edgeloop.models.train.distill import load_teacher, teacher_probabilities
    from edgeloop.models.train.images import _splits
    from edgeloop.models.train.recipes import TrainRequest, train

    td0, _, teacher_req, _ = tiny_image_model
    teacher = teacher_req.out / "m.keras"
    # `edgeloop train`: an 8-px student learns from the 16-px teacher
    report = train(TrainRequest(task="bottles", data=list(teacher_req.data), out=tmp_path / "s", name="s",
                                input_size=8, width=2, depth=1, epochs=1, teacher=str(teacher), progress=False))
    assert any("teacher's own input side" in n for n in report["notes"])
    # the design: every development row carries the teacher's probabilities of that row at 16 px, whatever the
    # candidate's side; the teacher and the margin are part of the study's identity
    td = adapter.load_task(list(teacher_req.data), teacher=teacher, train_margin=0.05)
    assert td.fingerprint != td0.fingerprint
    dev8, _ = td.arrays({"input_size": 8, "color": "gray"})
    data, _ = load_image_set(td.data, 16, "gray", seed=td.seed, labels=td.labels, raw=True)
    train16, val16, _ = _splits(data, td.seed)
    model = load_teacher(teacher, None, td.n_classes)
    expected = teacher_probabilities(model, np.concatenate([train16[0], val16[0]]))
    assert dev8.soft is not None and dev8.x.shape[1] == 8
    np.testing.assert_allclose(dev8.soft, expected, atol=1e-5)
    part = dev8.take(np.arange(5))
    np.testing.assert_allclose(part.soft, expected[:5], atol=1e-5)
    with pytest.raises(InputError, match="image sets"):
        adapter._set_training_options(adapter.TaskData("imu", "imu", [], ["a", "b"], 0, "f"), teacher, 0.0)
