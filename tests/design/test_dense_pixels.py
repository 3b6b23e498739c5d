"""Dense nets on pixels in the image design space: searched on small sides only, sized before training like every
candidate, reproducible by `edgeloop train --family dense`, and carried through finalize (pruning by width)."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import optuna

from edgeloop.models.design import adapter
from edgeloop.models.design.space import (
    DENSE_PIXEL_SIDES, SpaceContext, dense_pixel_sides, smallest_candidates, suggest, trial_values,
)

from .conftest import design_tiny_images

IMAGES = adapter.FAMILIES_BY_KIND["images"]


def _suggest(ctx: SpaceContext, **values: object) -> tuple[str, dict]:
    return suggest(optuna.trial.FixedTrial({"family": "dense_pixels", **values}), IMAGES, ctx)


def test_the_image_space_offers_dense_nets_on_small_gray_or_rgb_pixels() -> None:
    ctx = SpaceContext("images", max_side=96)
    family, params = _suggest(ctx, dense_input_size=16, dense_color="rgb", dense_width=8, dense_depth=2)
    assert family == "dense_pixels" and params == {"input_size": 16, "color": "rgb", "width": 8, "depth": 2}
    # 24 x 24 x 3 = 1,728 values is over the dense limit: that side is searched in gray only
    _, wide = _suggest(ctx, dense_input_size=24, dense_color="rgb", dense_width=8, dense_depth=1)
    assert wide["color"] == "gray"
    assert all(s * s <= adapter.DENSE_MAX_INPUTS for s in dense_pixel_sides(ctx))
    assert dense_pixel_sides(SpaceContext("images", max_side=12)) == [8, 12]
    assert dense_pixel_sides(SpaceContext("images", max_side=4)) == [DENSE_PIXEL_SIDES[0]]
    # a recipe of the family maps back to the trial values that suggest it (seeding, enqueueing)
    values = trial_values("dense_pixels", params, IMAGES)
    assert suggest(optuna.trial.FixedTrial(values), IMAGES, ctx) == (family, params)


def test_a_dense_pixel_candidate_is_sized_before_training_and_smaller_than_the_smallest_cnn() -> None:
    from edgeloop.models.design.deploy import Sizer
    from edgeloop.models.design.latency import load_cost_model

    td = adapter.TaskData("images", "images", [], ["a", "b", "c"], 0, "")
    sizer = Sizer(td, None, load_cost_model())
    params = {"input_size": 12, "color": "gray", "width": 8, "depth": 1}
    f = sizer.compiled_figures("dense_pixels", params)
    assert f["macc"] == 12 * 12 * 8 + 8 * 3  # one hidden layer of 8, then the 3 classes
    assert adapter.norm_pairs(td, "dense_pixels", params) == 0  # pixels are scaled, not standardised
    ctx = SpaceContext("images")
    dense = min(sizer.compiled_figures("dense_pixels", p)["flash_bytes"]
                for p in smallest_candidates("dense_pixels", ctx))
    cnn = min(sizer.compiled_figures("image_cnn", p)["flash_bytes"] for p in smallest_candidates("image_cnn", ctx))
    assert dense < cnn  # no conv kernel code: the family that can meet the tightest budgets


def test_a_dense_pixel_design_finalizes_with_its_recipe_and_validates(tiny_bottles: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    d, _ = design_tiny_images(tiny_bottles, out, "dense_pixels", max_width=8)
    ch = d["chosen"]
    argv = shlex.split(ch["recipe"]["command"])
    assert ch["family"] == "dense_pixels" and argv[argv.index("--family") + 1] == "dense"
    assert int(argv[argv.index("--input-size") + 1]) == ch["recipe"]["params"]["input_size"] <= 16
    assert ch["validation"]["bit_exact"] and ch["validation"]["samples"] > 0
    prune = d["compression"]["channel_pruning"]  # by width, as time-series dense nets are
    assert prune["family"] == "dense_pixels" and isinstance(prune["applied"], bool) and prune["why"]
    if "width_before" in prune:
        assert prune["width_after"] < prune["width_before"] and prune["folds"] == 2
    exported = json.loads((out / "chosen" / "report.json").read_text())
    assert exported["family"] == "dense" and "conv_widths" not in exported
