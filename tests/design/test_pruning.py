"""Structured pruning: image CNN filters and time-series neurons/filters of lowest norm go, the kept weights carry
over exactly; the pruned image widths are a recipe, and so is a time-series model pruned and fine-tuned
(`edgeloop train --prune-keep`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeloop.models.design import adapter
from edgeloop.models.design.pruning import conv_widths, prune_image_cnn, pruned_widths

PARAMS = {"input_size": 16, "color": "gray", "width": 4, "depth": 2, "max_channels": 8, "stem_stride": 2}


def _with_dead_channels(model, rng):  # noqa: ANN001, ANN202
    """Random weights, then half the filters of every conv made dead (batch norm gamma = beta = 0: they output 0
    after ReLU), also in the depthwise batch norm that reads them. Returns the model and the dead-free output."""
    import keras

    for w in model.weights:
        w.assign(rng.uniform(0.2, 1.0, w.shape).astype("float32") * rng.choice([-1, 1], w.shape)
                 if "kernel" in w.path else rng.uniform(0.5, 1.5, w.shape).astype("float32"))
    layers = [layer for layer in model.layers if layer.weights]
    dead = None
    for i, layer in enumerate(layers):
        if isinstance(layer, keras.layers.Conv2D) and not isinstance(layer, keras.layers.DepthwiseConv2D):
            dead = rng.permutation(layer.filters)[: layer.filters // 2]
        if isinstance(layer, keras.layers.BatchNormalization) and dead is not None:
            gamma, beta, mean, var = layer.get_weights()
            gamma[dead], beta[dead] = 0.0, 0.0
            layer.set_weights([gamma, beta, mean, var])
            if not isinstance(layers[i - 1], keras.layers.DepthwiseConv2D):
                continue
    return model


@pytest.mark.parametrize("arch", [dict(pool="max", head="flatten", block="plain"),
                                  dict(pool="avg", head="gap", block="separable")])
def test_pruning_dead_filters_keeps_the_function(arch: dict) -> None:
    from edgeloop.models.train.common import setup_tensorflow

    setup_tensorflow(1)
    params = {**PARAMS, **arch}
    model = _with_dead_channels(adapter.build_model("image_cnn", params, 0, 3), np.random.default_rng(1))
    pruned, widths = prune_image_cnn(model, params, 3, keep=0.5)
    assert widths == [2, 4, 4] == conv_widths(pruned) and conv_widths(model) == [4, 8, 8]
    x = np.random.default_rng(2).random((8, 16, 16, 1)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(pruned(x)), np.asarray(model(x)), rtol=1e-4, atol=1e-5)


def test_pruned_widths_round_up() -> None:
    assert pruned_widths([4, 5, 1], 0.5) == [2, 3, 1]


def _series_model(family: str, width: int):  # noqa: ANN202
    from edgeloop.models.train.families import build_cnn1d, build_dense_raw, build_feature_mlp

    return {"feature_mlp": lambda: build_feature_mlp(12, 3, width=width, depth=2),
            "dense_raw": lambda: build_dense_raw((10, 3), 3, width=width, depth=2),
            "cnn1d": lambda: build_cnn1d(40, 3, 3, width=width, depth=3)}[family]()


@pytest.mark.parametrize("family", ["feature_mlp", "dense_raw", "cnn1d"])
def test_time_series_pruning_of_dead_units_keeps_the_function(family: str) -> None:
    import keras

    from edgeloop.models.train.pruning import copy_kept_weights

    keras.utils.set_random_seed(2)
    rng = np.random.default_rng(2)
    model, narrow = _series_model(family, 12), _series_model(family, 6)
    for w in model.weights:
        w.assign(rng.normal(0, 0.5, w.shape).astype("float32"))
    # every hidden layer: as many units as the narrower net drops are dead (no incoming weights, bias < 0: ReLU 0)
    hidden = [(a, b) for a, b in zip(model.layers, narrow.layers) if a.weights][:-1]
    for old, new in hidden:
        kernel, bias = old.get_weights()
        n_out = kernel.shape[-1]
        drop = n_out - new.get_weights()[0].shape[-1]
        dead = rng.permutation(n_out)[:drop]
        kernel[..., dead], bias[dead] = 0.0, -1.0
        old.set_weights([kernel, bias])
    x = rng.normal(0, 1, (8, *model.inputs[0].shape[1:])).astype(np.float32)
    copy_kept_weights(model, narrow)
    np.testing.assert_allclose(np.asarray(narrow(x)), np.asarray(model(x)), rtol=1e-4, atol=1e-5)
    assert narrow.count_params() < model.count_params()


def test_train_prune_keep_exports_the_fine_tuned_narrow_model(tiny_cnn1d_model: tuple, tmp_path: Path) -> None:
    """`edgeloop train --prune-keep` is a recipe: trained at the width, pruned, fine-tuned, exported narrower."""
    import keras

    from edgeloop.app.cli import build_parser
    from edgeloop.app.commands.train import request_from_args
    from edgeloop.models.train.recipes import Recipe, RecipeError, train

    td, params, req, _ = tiny_cnn1d_model
    argv = ["train", "--task", td.task, "--data", *map(str, td.data), "--out", str(tmp_path / "p"), "--family",
            "cnn1d", "--window", str(params["window"]), "--hop", str(params["hop"]), "--width", "4", "--depth", "2",
            "--epochs", "2", "--prune-keep", "0.5", "--no-progress"]
    report = train(request_from_args(build_parser().parse_args(argv)))
    assert any("--prune-keep 0.5" in n and "width 2" in n for n in report["notes"])
    assert Recipe.read(tmp_path / "p" / "p.recipe.json").prune_keep == 0.5
    assert "--prune-keep 0.5" in report["recipe"][0]
    exported = keras.models.load_model(tmp_path / "p" / "p.keras", compile=False)
    full = keras.models.load_model(req.out / "m.keras", compile=False)  # the same recipe unpruned
    assert [layer.filters for layer in exported.layers if isinstance(layer, keras.layers.Conv2D)] == [2, 4]
    assert exported.count_params() < full.count_params()
    with pytest.raises(RecipeError, match="between 0 and 1"):
        Recipe(task=td.task, prune_keep=1.5)


def test_time_series_pruning_gain_exports_prune_keep_where_it_pays(short_imu_set: Path) -> None:
    from edgeloop.models.design.budgets import Budget
    from edgeloop.models.design.deploy import Sizer
    from edgeloop.models.design.latency import load_cost_model
    from edgeloop.models.design.pruning import pruning_gain
    from edgeloop.models.design.search import SearchConfig
    from edgeloop.models.design.space import SpaceContext

    td = adapter.load_task([short_imu_set])
    cfg = SearchConfig(folds=2, epochs=1, families=("feature_mlp",), ctx=SpaceContext("imu", rate_hz=100.0))
    params = {"window": 100, "hop": 50, "features": "stats9", "width": 16, "depth": 2}
    sizer = Sizer(td, Budget.from_board(None), load_cost_model())
    out = pruning_gain(td, {"family": "feature_mlp", "params": params}, cfg, sizer)
    assert out["width_before"] == 16 and out["width_after"] == 8 and out["folds"] == 2
    assert out["flash_bytes_after"] < out["flash_bytes_before"]
    assert out["pays"] == (out["loss_points"] <= cfg.tolerance)
    assert out["params_after"] == dict(params, prune_keep=0.5)
    assert ("prune_keep 0.5" if out["pays"] else "does not pay") in out["why"]
    skipped = pruning_gain(td, {"family": "feature_mlp", "params": dict(params, width=2)}, cfg, sizer)
    assert not skipped["applied"] and "already the smallest" in skipped["why"]


def test_train_prune_keep_exports_the_fine_tuned_narrow_image_cnn(tiny_image_model: tuple, tmp_path: Path) -> None:
    """`edgeloop train --prune-keep` on an image CNN: trained at the recipe's widths, each conv keeps half its
    filters (rounded up), fine-tuned, exported narrower (smaller compiled flash); the recipe reproduces it."""
    import keras

    from edgeloop.models.compiler import compile_bytes
    from edgeloop.models.train.recipes import Recipe, train

    td, params, req, _ = tiny_image_model
    pruned_req = adapter.train_request(td, "image_cnn", dict(params, prune_keep=0.5), tmp_path / "p", seed=0,
                                       epochs=1, name="p")
    assert "--prune-keep 0.5" in pruned_req.command()
    report = train(pruned_req)
    full = keras.models.load_model(req.out / "m.keras", compile=False)
    exported = keras.models.load_model(tmp_path / "p" / "p.keras", compile=False)
    assert conv_widths(exported) == pruned_widths(conv_widths(full), 0.5) != conv_widths(full)
    assert report["conv_widths"] == conv_widths(exported) and report["trained_conv_widths"] == conv_widths(full)
    assert any("--prune-keep 0.5" in n and "fine-tuned" in n for n in report["notes"])
    assert Recipe.read(tmp_path / "p" / "p.recipe.json").prune_keep == 0.5
    # the design sizes the recipe as deployed: the pruned widths
    assert adapter.deployed_params(dict(params, prune_keep=0.5))["conv_channels"] == conv_widths(exported)
    # compiled int8 flash with the reference kernel set (the code linked does not depend on the widths; with the
    # fast set, the 2-channel stem's kernel paths cost more code than the weights saved on a net this tiny)
    flash = {name: compile_bytes((folder / f"{name}.tflite").read_bytes(), name=name, kernels="small").flash_bytes
             for name, folder in (("m", req.out), ("p", tmp_path / "p"))}
    assert flash["p"] < flash["m"]
    assert 0 <= report["window_accuracy"] <= 1 and 0 <= report["float"]["window_accuracy"] <= 1


def test_train_prune_keep_prunes_a_dense_net_on_pixels(tiny_bottles: Path, tmp_path: Path) -> None:
    """`edgeloop train --family dense --prune-keep` on images (refused before): trained at the recipe's width,
    every hidden layer keeps half its neurons, fine-tuned and exported narrower; the recipe keeps the trained
    width plus prune_keep, and the design sizes it at the pruned width."""
    import keras

    from edgeloop.models.train.recipes import Recipe, TrainRequest, train

    params = {"input_size": 8, "color": "gray", "width": 8, "depth": 2}
    td = adapter.load_task([tiny_bottles])
    req = adapter.train_request(td, "dense_pixels", dict(params, prune_keep=0.5), tmp_path / "d", seed=0, epochs=1,
                                name="d")
    assert isinstance(req, TrainRequest) and "--family dense" in req.command() and "--prune-keep 0.5" in req.command()
    report = train(req)
    exported = keras.models.load_model(tmp_path / "d" / "d.keras", compile=False)
    hidden = [layer.units for layer in exported.layers if isinstance(layer, keras.layers.Dense)][:-1]
    trained = [layer.units for layer in adapter.build_model("dense_pixels", params, 0, td.n_classes).layers
               if isinstance(layer, keras.layers.Dense)][:-1]
    narrow = adapter.build_model("dense_pixels", dict(params, width=4), 0, td.n_classes)
    pruned = [layer.units for layer in narrow.layers if isinstance(layer, keras.layers.Dense)][:-1]
    assert hidden == pruned != trained
    assert any("--prune-keep 0.5" in n and "width 4" in n for n in report["notes"])
    recipe = Recipe.read(tmp_path / "d" / "d.recipe.json")
    assert (recipe.family, recipe.width, recipe.prune_keep, recipe.input_size) == ("dense", 8, 0.5, 8)
    assert adapter.deployed_params(dict(params, prune_keep=0.5)) == dict(params, width=4)


def test_prune_keep_outside_zero_one_is_one_line_before_loading(tmp_path: Path) -> None:
    from edgeloop import InputError
    from edgeloop.models.train.recipes import TrainRequest, train

    with pytest.raises(InputError, match="between 0 and 1"):  # the data folder does not even exist
        train(TrainRequest(task="images", data=[tmp_path / "none"], out=tmp_path / "d", family="dense", prune_keep=1.5,
                           epochs=1, progress=False))
