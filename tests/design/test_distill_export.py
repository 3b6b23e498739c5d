"""Compression the design exports, on a tiny image model and a tiny 1-D CNN: `edgeloop train --teacher` (a
distilled model is a recipe) and quantization-aware fine-tuning re-exported in place where it pays."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from edgeloop import InputError


def test_train_with_a_teacher_is_a_recipe(tiny_image_model: tuple, tmp_path: Path) -> None:
    from edgeloop.app.cli import build_parser
    from edgeloop.app.commands.train import request_from_args
    from edgeloop.models.train.recipes import Recipe, train

    _, _, teacher_req, _ = tiny_image_model
    teacher = teacher_req.out / "m.keras"
    argv = ["train", "--task", "bottles", "--data", *map(str, teacher_req.data), "--out", str(tmp_path / "s"),
            "--input-size", "16", "--width", "2", "--depth", "1", "--epochs", "1", "--teacher", str(teacher),
            "--no-progress"]
    report = train(request_from_args(build_parser().parse_args(argv)))
    assert any("distilled from the teacher" in n for n in report["notes"])
    written = Recipe.read(tmp_path / "s" / "s.recipe.json")
    assert written.teacher == str(teacher)
    assert f"--teacher {teacher}" in report["recipe"][0]
    # a teacher that reads another input is refused with the fix
    argv[argv.index("16")] = "8"
    with pytest.raises(InputError, match="same input"):
        train(request_from_args(build_parser().parse_args(argv[:5] + ["--out", str(tmp_path / "t")] + argv[7:])))


@pytest.mark.parametrize("family", ["image_cnn", "cnn1d"])
def test_qat_reexports_the_model_only_where_it_pays(family: str, request: pytest.FixtureRequest,
                                                    tmp_path: Path) -> None:
    from edgeloop.models.design.finalize import evaluate_int8
    from edgeloop.models.design.qat import apply_qat

    td, params, req, _ = request.getfixturevalue("tiny_image_model" if family == "image_cnn" else "tiny_cnn1d_model")
    model_dir = tmp_path / "m"
    shutil.copytree(req.out, model_dir)
    before = (model_dir / "m.tflite").read_bytes()
    out = apply_qat(td, family, params, model_dir, "m", seed=0)
    # kept only where int8 accuracy on the fine-tune's early-stopping rows did not drop; else the files are restored
    assert out["qat_applied"] == (out["qat_int8_val_accuracy_after"] >= out["qat_int8_val_accuracy_before"])
    assert ((model_dir / "m.tflite").read_bytes() != before) == out["qat_applied"]
    assert ("fake-quantized" if out["qat_applied"] else "did not pay") in out["qat_why"]
    test = evaluate_int8(td, family, params, model_dir, "m")
    assert 0 <= test["window_accuracy"] <= 1 and np.asarray(test["confusion"]).sum() == test["windows"]
