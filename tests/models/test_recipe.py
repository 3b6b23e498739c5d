"""Recipes: every training run writes NAME.recipe.json, and `edgeloop train --recipe` reproduces the model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from edgeloop.models.train.recipes import RECIPE_FORMAT, Recipe, RecipeError, TrainRequest


def test_recipe_round_trip_and_overrides(tmp_path: Path) -> None:
    recipe = Recipe(task="imu", data=[Path("d")], family="cnn1d", window=64, hop=16, width=8, seed=3,
                    decision={"mode": "mean", "k": 4, "threshold": 0.0, "debounce": 1})
    path = recipe.write(tmp_path / "m.recipe.json")
    assert json.loads(path.read_text())["format"] == RECIPE_FORMAT
    assert Recipe.read(path) == recipe
    req = TrainRequest.from_recipe(recipe, tmp_path / "my-model", window=32)
    assert req.window == 32 and req.hop == 16 and req.name == "my_model" and req.recipe().family == "cnn1d"
    assert "--family cnn1d" in req.command() and "--decision mean:4" in req.command()


@pytest.mark.parametrize("obj, match", [({"task": "imu"}, "not an edgeloop recipe"),
                                        ({"format": RECIPE_FORMAT, "task": "imu", "colour": 1}, "unknown keys"),
                                        ({"format": RECIPE_FORMAT, "task": "imu", "family": "svm"}, "family")])
def test_bad_recipes_are_refused(obj: dict, match: str) -> None:
    with pytest.raises(RecipeError, match=match):
        Recipe.from_json(obj)


def test_train_writes_a_recipe_that_reproduces_the_model(tmp_path: Path) -> None:
    """The sine model (3 epochs) trained from the command line and again from its recipe file: same bytes."""
    def cli(*args: str) -> None:
        subprocess.run([sys.executable, "-m", "edgeloop", "train", *args, "--no-progress"], check=True,
                       capture_output=True, timeout=300)

    cli("--task", "sine", "--epochs", "3", "--seed", "4", "--out", str(tmp_path / "a"))
    recipe = Recipe.read(tmp_path / "a" / "a.recipe.json")
    assert recipe.epochs == 3 and recipe.seed == 4
    cli("--recipe", str(tmp_path / "a" / "a.recipe.json"), "--out", str(tmp_path / "b"), "--name", "a")
    assert (tmp_path / "a" / "a.tflite").read_bytes() == (tmp_path / "b" / "a.tflite").read_bytes()
    report = json.loads((tmp_path / "b" / "report.json").read_text())
    assert report["resolved_recipe"]["epochs"] == 3
