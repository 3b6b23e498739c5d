"""`edgeloop design --enqueue RECIPE...`: the user's recipes are a study's first trials, exactly as written, before
the presets; a resumed run does not queue them twice; a recipe over the budget is left out and said so; one the
search cannot express, or of another data kind, is refused with a one-line error before anything is queued."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeloop import InputError
from edgeloop.models.design import adapter
from edgeloop.models.design.space import SpaceContext, suggest
from edgeloop.models.train.recipes import Recipe

from .conftest import IMAGE_CHOICES

LABELS = ["no_bottle", "empty", "low", "half", "full"]


def _setup(flash_kb: int = 20):  # noqa: ANN202
    import optuna

    from edgeloop.models.design.budgets import Budget
    from edgeloop.models.design.deploy import Sizer
    from edgeloop.models.design.latency import load_cost_models
    from edgeloop.models.design.search import SearchConfig

    td = adapter.TaskData("bottles", "images", [Path("data")], LABELS, 0, "")
    cfg = SearchConfig(families=("image_cnn",), ctx=SpaceContext("images", max_side=64))
    sizer = Sizer(td, Budget.from_board(None, flash=flash_kb * 1024), load_cost_models())
    return td, cfg, sizer, optuna.create_study(directions=["maximize", "minimize"])


def _recipe_of(td: adapter.TaskData, params: dict, tmp_path: Path, name: str) -> Path:
    """The recipe file `edgeloop train` writes for a candidate (what a user would pass to --enqueue)."""
    return adapter.train_request(td, "image_cnn", params, tmp_path / name, seed=0, epochs=3).recipe().write(
        tmp_path / f"{name}.recipe.json")


def test_given_recipes_are_the_first_trials_then_the_presets(tmp_path: Path) -> None:
    import optuna

    from edgeloop.models.design.search import enqueue_presets, enqueue_recipes

    td, cfg, sizer, study = _setup()
    _, mine = suggest(optuna.trial.FixedTrial(IMAGE_CHOICES), cfg.families, cfg.ctx)  # every non-default choice
    path = _recipe_of(td, mine, tmp_path, "mine")
    wanted = [(path.name, *adapter.recipe_candidate(Recipe.read(path), td.kind, str(path)))]
    assert wanted[0][1:] == ("image_cnn", mine)  # the recipe round-trips to the very candidate
    demo = {**mine, "input_size": 64, "color": "gray", "width": 12, "depth": 3, "max_channels": 48,
            "stem_stride": 2, "pool": "max", "head": "flatten", "block": "plain"}
    over = ("demo64", "image_cnn", demo)  # > 20 KB with either kernel set
    fresh = not study.get_trials()
    given, left_out = enqueue_recipes(study, [*wanted, over], sizer, cfg)
    assert given == ["mine.recipe.json"]
    assert len(left_out) == 1 and left_out[0].startswith("demo64: over the budget (flash by ")
    assert enqueue_presets(study, td, sizer, cfg, fresh=fresh) == ["--arch tiny"]
    first, second = study.ask(), study.ask()
    assert suggest(first, cfg.families, cfg.ctx) == ("image_cnn", mine)
    assert first.user_attrs["seeded_from"] == "mine.recipe.json"
    assert second.user_attrs["seeded_from"] == "--arch tiny"
    study.tell(first, (0.5, 1000.0))
    # a resumed run given the same --enqueue: the recipe is finished, and a waiting one is not queued twice either
    assert enqueue_recipes(study, wanted, sizer, cfg) == ([], ["mine.recipe.json: already in the study"])
    _, cfg2, _, study2 = _setup()
    assert enqueue_recipes(study2, wanted, sizer, cfg2)[0] == ["mine.recipe.json"]
    assert enqueue_recipes(study2, wanted, sizer, cfg2)[0] == []
    assert len(study2.get_trials()) == 1


def test_recipes_the_search_cannot_run_are_refused_in_one_line(tmp_path: Path) -> None:
    from edgeloop.models.design.search import enqueue_recipes

    td, cfg, sizer, study = _setup()
    ok = {"input_size": 16, "color": "gray", "width": 4, "depth": 1, "max_channels": 8, "stem_stride": 2,
          "pool": "max", "head": "flatten", "block": "plain"}
    odd_cap = ("cap.json", "image_cnn", dict(ok, max_channels=7))  # 7 is no cap growth of width 4
    with pytest.raises(InputError, match=r"^cap\.json: the search cannot express this recipe \(input_size one of "):
        enqueue_recipes(study, [("ok.json", "image_cnn", ok), odd_cap], sizer, cfg)
    too_big = ("big.json", "image_cnn", dict(ok, input_size=96, depth=3))  # above --max-side 64
    with pytest.raises(InputError, match="widen --max-side"):
        enqueue_recipes(study, [too_big], sizer, cfg)
    assert study.get_trials() == []  # nothing queued when one recipe is refused
    series = Recipe(task="imu-activity", family="feature-mlp", window=100, hop=50, width=8, depth=1)
    with pytest.raises(InputError, match="feature-mlp recipe cannot be a trial on images data"):
        adapter.recipe_candidate(series, "images", "s.json")
    with pytest.raises(InputError,
                       match="cnn1d recipe cannot be a trial on images data; give a recipe of dense, image-cnn$"):
        adapter.recipe_candidate(Recipe(task="bottles", family="cnn1d", width=8, depth=1), "images", "c.json")
    # a dense net on pixels is a trial of its own family; its side must be given (train writes it)
    assert adapter.recipe_candidate(Recipe(task="bottles", family="dense", input_size=12, width=8, depth=2),
                                    "images", "d.json") == \
        ("dense_pixels", {"input_size": 12, "color": "gray", "width": 8, "depth": 2})
    with pytest.raises(InputError, match="leaves input_size unset"):
        adapter.recipe_candidate(Recipe(task="bottles", family="dense", width=8, depth=1), "images", "d.json")
    with pytest.raises(InputError, match="pruned net"):
        adapter.recipe_candidate(Recipe(task="bottles", family="image-cnn", prune_keep=0.5), "images", "p.json")
    with pytest.raises(InputError, match="leaves window, hop unset"):
        adapter.recipe_candidate(Recipe(task="imu-activity", family="cnn1d", width=4, depth=2), "imu", "c.json")
    # an --arch preset's unset knobs resolve as `edgeloop train` resolves them (the cap scales with the width)
    family, params = adapter.recipe_candidate(Recipe(task="bottles", arch="tiny", width=16), "images", "t.json")
    assert (family, params["input_size"], params["width"], params["max_channels"]) == ("image_cnn", 64, 16, 24)


def test_a_failed_recipe_is_queued_again_on_resume(tmp_path: Path) -> None:
    import optuna

    from edgeloop.models.design.search import enqueue_recipes

    td, cfg, sizer, study = _setup()
    ok = {"input_size": 16, "color": "gray", "width": 4, "depth": 1, "max_channels": 8, "stem_stride": 2,
          "pool": "max", "head": "flatten", "block": "plain"}
    assert enqueue_recipes(study, [("ok.json", "image_cnn", ok)], sizer, cfg)[0] == ["ok.json"]
    trial = study.ask()
    trial.set_user_attr("family", "image_cnn")
    trial.set_user_attr("params", suggest(trial, cfg.families, cfg.ctx)[1])
    study.tell(trial, state=optuna.trial.TrialState.FAIL)  # a worker died mid-trial
    assert enqueue_recipes(study, [("ok.json", "image_cnn", ok)], sizer, cfg)[0] == ["ok.json"]
