"""The time-series families of the design space (feature MLP with a feature subset, raw-window 1-D CNN, dense
on raw windows): what the space suggests, and that each candidate trains, compiles exactly as sized before
training, and is reproduced by its `edgeloop train` command line."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import numpy as np
import pytest

from edgeloop.models.design import adapter
from edgeloop.models.design.space import (
    FEATURE_SUBSETS, SpaceContext, arch_key, dense_windows, feature_windows, smallest_candidates, suggest,
)

IMU_CTX = SpaceContext("imu", rate_hz=100.0, max_width=16, n_channels=6)


def test_space_offers_every_time_series_family_with_window_hop_and_subsets() -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    seen: dict[str, list[dict]] = {}
    for _ in range(60):
        family, params = suggest(study.ask(), adapter.FAMILIES_BY_KIND["imu"], IMU_CTX)
        seen.setdefault(family, []).append(params)
    assert set(seen) == {"feature_mlp", "cnn1d", "dense_raw"}
    for family, all_params in seen.items():
        for p in all_params:
            assert 1 <= p["hop"] <= p["window"]
            if family == "dense_raw":  # short windows only: at most 1024 inputs
                assert p["window"] in dense_windows(IMU_CTX) and p["window"] * 6 <= adapter.DENSE_MAX_INPUTS
            else:
                assert p["window"] in feature_windows(IMU_CTX)
            if family == "cnn1d":
                assert 1 <= p["depth"] <= adapter.max_cnn1d_depth(p["window"])
        assert len({p["window"] for p in all_params}) > 1, family  # the window is searched for every family
    subsets = {p["features"] for p in seen["feature_mlp"]}
    assert subsets <= set(FEATURE_SUBSETS) and len(subsets) > 2


def test_arch_key_ignores_what_does_not_change_the_compiled_graph() -> None:
    mlp = {"window": 100, "hop": 50, "features": "mean,variance", "width": 8, "depth": 1}
    assert arch_key("feature_mlp", mlp) == arch_key("feature_mlp", {**mlp, "window": 200, "hop": 25})
    assert arch_key("feature_mlp", mlp) != arch_key("feature_mlp", {**mlp, "features": "stats9"})
    cnn = {"window": 100, "hop": 50, "width": 4, "depth": 2}
    assert arch_key("cnn1d", cnn) == arch_key("cnn1d", {**cnn, "hop": 25})
    assert arch_key("cnn1d", cnn) != arch_key("cnn1d", {**cnn, "window": 150})  # the arena grows with it
    assert arch_key("dense_raw", cnn) != arch_key("dense_raw", {**cnn, "window": 50})


@pytest.fixture(scope="module")
def task(short_imu_set: Path) -> adapter.TaskData:
    return adapter.load_task([short_imu_set])


@pytest.fixture(scope="module")
def sizer(task: adapter.TaskData):
    from edgeloop.models.design.budgets import Budget
    from edgeloop.models.design.deploy import Sizer
    from edgeloop.models.design.latency import load_cost_model

    return Sizer(task, Budget(), load_cost_model())


def test_smallest_candidate_of_each_family_is_no_larger_than_its_other_candidates(task, sizer) -> None:
    import optuna

    ctx = SpaceContext("imu", task.rate_hz, max_width=16, n_channels=task.n_channels)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=5))
    for family in adapter.FAMILIES_BY_KIND["imu"]:
        smallest = min((sizer.check(family, p) for p in smallest_candidates(family, ctx)),
                       key=lambda dep: dep.flash_bytes)
        for _ in range(2):
            _, params = suggest(study.ask(), (family,), ctx)
            dep = sizer.check(family, params)
            assert smallest.flash_bytes <= dep.flash_bytes and smallest.ram_bytes <= dep.ram_bytes, (family, params)


CANDIDATES = [
    ("feature_mlp", {"window": 50, "hop": 50, "features": "mean,variance,bands4", "width": 6, "depth": 1}),
    ("cnn1d", {"window": 50, "hop": 50, "width": 3, "depth": 2}),
    ("dense_raw", {"window": 25, "hop": 25, "width": 5, "depth": 1}),
]


@pytest.mark.parametrize(("family", "params"), CANDIDATES, ids=[c[0] for c in CANDIDATES])
def test_family_trains_compiles_as_sized_and_reproduces_with_edgeloop_train(
        family: str, params: dict, task: adapter.TaskData, sizer, tmp_path: Path) -> None:
    from edgeloop.app.cli import build_parser
    from edgeloop.app.commands.train import request_from_args
    from edgeloop.models.compiler import compile_file
    from edgeloop.models.design.finalize import evaluate_int8
    from edgeloop.models.design.search import SearchConfig, cross_validate
    from edgeloop.models.train.recipes import train

    dep = sizer.check(family, params)  # sized before any training
    accs, stopped = cross_validate(task, family, params, SearchConfig(folds=2, epochs=1), seed=0)
    assert len(accs) == 2 and not stopped and all(0.0 <= a <= 1.0 for a in accs)

    # the trial's recipe, run through the `edgeloop train` command line it prints
    req = adapter.train_request(task, family, params, tmp_path / "m", seed=0, epochs=1, name="m")
    argv = shlex.split(req.command())
    assert argv[:2] == ["edgeloop", "train"] and f"--family {adapter.TRAIN_FAMILY[family]}" in req.command()
    train(request_from_args(build_parser().parse_args(argv[1:])))

    recipe = json.loads((tmp_path / "m" / "m.recipe.json").read_text())
    assert recipe["family"] == adapter.TRAIN_FAMILY[family]
    for key in ("window", "hop", "width", "depth", *(("features",) if family == "feature_mlp" else ())):
        assert recipe[key] == params[key], key
    compiled = compile_file(tmp_path / "m" / "m.tflite", tmp_path / "c", name="m")
    assert compiled.flash_bytes == dep.flash_bytes and compiled.arena_bytes == dep.arena_bytes
    assert compiled.macc == dep.macc

    test = evaluate_int8(task, family, params, tmp_path / "m", "m")  # inputs prepared with the exported norm
    _, test_split = task.arrays(params, family)
    assert test["windows"] == len(test_split.y) and 0.0 <= test["window_accuracy"] <= 1.0
    assert np.asarray(test["confusion"]).sum() == len(test_split.y)


def test_new_study_is_seeded_with_edgeloop_train_defaults_that_the_space_can_express() -> None:
    import optuna

    from edgeloop.models.design.deploy import Deployability
    from edgeloop.models.design.search import SearchConfig, enqueue_presets, make_sampler

    class FitsAll:
        def check(self, family: str, params: dict) -> Deployability:
            return Deployability(3000, 100, 100, 1000, 500, 2000.0, 0.005)

    def seeded(task: str, rate: float) -> tuple[list[str], list[tuple[str, dict]]]:
        td = adapter.TaskData(task, "imu", [], ["a", "b"], 0, "fp", rate_hz=rate, n_channels=6)
        cfg = SearchConfig(families=adapter.FAMILIES_BY_KIND["imu"],
                           ctx=SpaceContext("imu", rate, max_width=64, n_channels=6))
        study = optuna.create_study(directions=["maximize", "minimize"], sampler=make_sampler(0))
        names = enqueue_presets(study, td, FitsAll(), cfg)
        return names, [suggest(study.ask(), cfg.families, cfg.ctx) for _ in names]

    names, first = seeded("imu-activity", 100.0)  # the task's defaults: 256/128, width 32, depth 2
    assert names == ["--family feature-mlp", "--family cnn1d"]  # 256 x 6 inputs: too many for a dense net
    assert first[0] == ("feature_mlp", {"window": 256, "hop": 128, "features": "stats9", "width": 32, "depth": 2})
    assert first[1] == ("cnn1d", {"window": 256, "hop": 128, "width": 8, "depth": 3})
    names, first = seeded("timeseries", 10.0)  # a 10 Hz set: 2 s windows, dense too
    assert names[-1] == "--family dense" and first[-1] == ("dense_raw", {"window": 20, "hop": 10, "width": 16,
                                                                        "depth": 1})
    names, _ = seeded("timeseries", 3.0)  # a 6-sample default window is no window the space searches at 3 Hz
    assert names == ["--family dense"]


def test_a_study_resumed_with_other_families_keeps_one_distribution_per_parameter() -> None:
    import optuna

    from edgeloop.models.design.space import family_param

    assert family_param(["feature_mlp", "cnn1d", "dense_raw"]) == "family"
    assert family_param(["feature_mlp", "dense_raw"]) == "family_of_feature_mlp_dense_raw"
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    for families in (adapter.FAMILIES_BY_KIND["imu"], ("feature_mlp", "dense_raw"), adapter.FAMILIES_BY_KIND["imu"]):
        trial = study.ask()
        family, _ = suggest(trial, families, IMU_CTX)  # Optuna refuses a categorical whose choices change
        study.tell(trial, 0.5)
        assert family in families
