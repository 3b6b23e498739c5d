"""The image side of the design space: every 2-D CNN choice is searched, sized and reproducible by `edgeloop train`."""

from __future__ import annotations

import shlex
from pathlib import Path

import numpy as np

from edgeloop.models.design import adapter
from edgeloop.models.design.space import (
    SpaceContext, arch_key, max_image_depth, smallest_candidates, smallest_params, suggest,
)

from .conftest import IMAGE_CHOICES as CHOICES


def _fixed_trial(**params: object):  # noqa: ANN202
    import optuna

    return optuna.trial.FixedTrial(params)


def test_image_space_offers_every_choice_and_keys_the_graph_on_them() -> None:
    family, params = suggest(_fixed_trial(**CHOICES), ("image_cnn",), SpaceContext("images", max_side=32))
    assert family == "image_cnn"
    assert {params[k] for k in ("pool", "head", "block")} == {"stride", "gap", "separable"}
    assert params["stem_stride"] == 1 and params["max_channels"] == 8
    other = dict(params, block="plain")
    assert arch_key(family, params) != arch_key(family, other)  # a different graph is sized again
    # a stride-1 stem leaves room for one more block on the same side
    assert max_image_depth(16, 1) == max_image_depth(16, 2) + 1
    # depth is clamped to what the side and the stem hold
    _, deep = suggest(_fixed_trial(**dict(CHOICES, stem_stride=2, depth=4)), ("image_cnn",),
                      SpaceContext("images", max_side=32))
    assert deep["depth"] == max_image_depth(16, 2)


def test_the_smallest_image_candidates_cover_the_smallest_net_of_each_block_kind() -> None:
    """What an impossible budget is compared with is the least flash any small variant links: a plain and a
    separable net each link other kernel paths, and which links less depends on the kernel table."""
    from edgeloop.models.design.deploy import Sizer
    from edgeloop.models.design.latency import load_cost_model

    td = adapter.TaskData("images", "images", [], ["a", "b", "c"], 0, "")
    sizer = Sizer(td, None, load_cost_model())
    ctx = SpaceContext("images")
    smallest = min(sizer.compiled_figures("image_cnn", p)["flash_bytes"] for p in smallest_candidates("image_cnn", ctx))
    narrowest = smallest_params("image_cnn", ctx)
    others = {"preset style": dict(narrowest, pool="max", head="flatten"),
              "separable": dict(narrowest, block="separable"), "avg pool": dict(narrowest, pool="avg"),
              "flatten head": dict(narrowest, head="flatten")}
    flash = {k: sizer.compiled_figures("image_cnn", p)["flash_bytes"] for k, p in others.items()}
    assert all(smallest <= f for f in flash.values()), (smallest, flash)
    assert smallest < flash["preset style"]


def test_a_searched_candidate_is_reproduced_by_edgeloop_train(tiny_image_model: tuple, tmp_path: Path) -> None:
    """The trial's recipe, through the `edgeloop train` command line, builds the very graph that was sized."""
    from edgeloop.app.cli import build_parser
    from edgeloop.app.commands.train import request_from_args
    from edgeloop.models.compiler import compile_file
    from edgeloop.models.design.deploy import Sizer
    from edgeloop.models.design.latency import load_cost_model
    from edgeloop.models.train.recipes import Recipe

    td, params, req, report = tiny_image_model
    argv = shlex.split(req.command())
    assert argv[:2] == ["edgeloop", "train"]
    for opt, value in (("--pool", "stride"), ("--head", "gap"), ("--block", "separable"), ("--stem-stride", "1")):
        assert argv[argv.index(opt) + 1] == value, argv
    assert request_from_args(build_parser().parse_args(argv[1:])).recipe() == req.recipe()
    assert report["int8"]["n"] > 0 and np.isfinite(report["float"]["accuracy"])
    written = Recipe.read(req.out / "m.recipe.json")
    assert (written.pool, written.head, written.block, written.stem_stride) == ("stride", "gap", "separable", 1)
    compiled = compile_file(req.out / "m.tflite", tmp_path / "c", name="m")
    sized = Sizer(td, None, load_cost_model()).compiled_figures("image_cnn", params)
    assert compiled.flash_bytes == sized["flash_bytes"] and compiled.arena_bytes == sized["arena_bytes"]


def test_new_study_starts_with_the_presets_that_fit() -> None:
    """Seeding: the presets within the budget and search limits are the first trials, exactly as recipes."""
    import optuna

    from edgeloop.models.design.budgets import Budget
    from edgeloop.models.design.deploy import Sizer
    from edgeloop.models.design.latency import load_cost_model
    from edgeloop.models.design.search import SearchConfig, enqueue_presets
    from edgeloop.models.train.families import IMAGE_PRESETS

    td = adapter.TaskData("bottles", "images", [], ["no_bottle", "empty", "low", "half", "full"], 0, "")
    budget = Budget.from_board(None, flash=20 * 1024, ram=64 * 1024)
    cfg = SearchConfig(families=("image_cnn",), ctx=SpaceContext("images", max_side=96))
    sizer = Sizer(td, budget, load_cost_model())
    study = optuna.create_study(directions=["maximize", "minimize"])
    assert enqueue_presets(study, td, sizer, cfg) == ["--arch tiny"]  # demo and wide are over 20 KB
    trial = study.ask()
    family, params = suggest(trial, cfg.families, cfg.ctx)
    tiny = IMAGE_PRESETS["tiny"]
    assert (params["input_size"], params["width"], params["depth"], params["max_channels"]) == \
        (tiny.input_size, tiny.width, tiny.depth, tiny.max_channels)
    assert (params["pool"], params["head"], params["block"], params["stem_stride"]) == ("max", "flatten", "plain", 2)
    study.tell(trial, (0.5, 1.0))
    assert enqueue_presets(study, td, sizer, cfg) == []  # a study with trials is never seeded again
    small = SearchConfig(families=("image_cnn",), ctx=SpaceContext("images", max_side=48))
    assert enqueue_presets(optuna.create_study(directions=["maximize", "minimize"]), td, sizer, small) == []
