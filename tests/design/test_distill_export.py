"""Compression the design exports, on a tiny image model and a tiny 1-D CNN: `edgeloop train --teacher` (a
distilled model is a recipe) and quantization-aware fine-tuning re-exported in place where it pays."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from edgeloop import InputError, MissingFileError


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
    # a teacher that does not exist is refused with the fix (one of another side reads its own side:
    # test_training_options.py)
    argv[argv.index(str(teacher))] = str(tmp_path / "none.keras")
    with pytest.raises(MissingFileError, match="does not exist"):
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


def test_design_exports_a_time_series_teacher_and_the_student_names_it(tiny_cnn1d_model: tuple,
                                                                        tmp_path: Path) -> None:
    from edgeloop.app.commands._design_finish import _export_teacher
    from edgeloop.models.design import adapter
    from edgeloop.models.train.recipes import Recipe

    td, params, _, _ = tiny_cnn1d_model
    distill = {"pays": True, "applied": False, "teacher_trial": 7, "teacher_family": "cnn1d",
               "teacher_params": params}
    teacher = _export_teacher(td, distill, tmp_path, seed=0, epochs=1)
    assert distill["applied"] and teacher == tmp_path / "teacher" / "teacher.keras" and teacher.is_file()
    student = dict(params, width=2)
    req = adapter.train_request(td, "cnn1d", student, tmp_path / "s", seed=0, epochs=1, name="s", teacher=teacher)
    report = adapter.refit(req)
    assert any("distilled from the teacher" in n for n in report["notes"])
    assert Recipe.read(tmp_path / "s" / "s.recipe.json").teacher == str(teacher)
    assert f"--teacher {teacher}" in report["recipe"][0]
    # a teacher on other windows, or on raw windows for a feature model, is refused in one line with the fix
    for family, other in (("cnn1d", dict(student, window=50, hop=25)),
                          ("feature_mlp", {"window": 100, "hop": 50, "width": 4, "depth": 1})):
        with pytest.raises(InputError, match="must read the same input") as err:
            adapter.refit(adapter.train_request(td, family, other, tmp_path / "x", seed=0, epochs=1, name="x",
                                                teacher=teacher))
        assert "\n" not in str(err.value) and ("--window" in str(err.value) or "feature-mlp" in str(err.value))


def test_a_teacher_is_fingerprinted_by_its_model_alone(tiny_image_model: tuple, tmp_path: Path) -> None:
    """A study resumes with the same command: regenerating a teacher folder's report or C (as a kernel update does)
    is the same teacher; the .keras file given directly is too. Another model is another teacher."""
    import shutil

    from edgeloop.models.design import adapter

    td, _, teacher_req, _ = tiny_image_model
    folder = tmp_path / "teacher"
    shutil.copytree(teacher_req.out, folder)
    first = adapter.load_task(td.data, teacher=folder).fingerprint
    (folder / "REPORT.md").write_text("regenerated after a kernel update\n", encoding="utf-8")
    (folder / "c").mkdir(exist_ok=True)
    (folder / "c" / "m.c").write_text("/* regenerated */\n", encoding="utf-8")
    assert adapter.load_task(td.data, teacher=folder).fingerprint == first
    assert adapter.load_task(td.data, teacher=folder / "m.keras").fingerprint == first
    assert adapter.load_task(td.data).fingerprint != first
    other = folder / "m.keras"
    other.write_bytes(other.read_bytes() + b"\0")  # still loads: a zip's trailing bytes are ignored
    assert adapter.load_task(td.data, teacher=folder).fingerprint != first
