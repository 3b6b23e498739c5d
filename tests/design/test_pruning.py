"""Channel pruning of image CNNs: the lowest-norm filters go, the kept weights carry over exactly, and the
pruned widths are a recipe."""

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


def test_pruning_gain_reports_flash_and_accuracy_both_ways(tiny_bottles: Path) -> None:
    from edgeloop.models.design.budgets import Budget
    from edgeloop.models.design.deploy import Sizer
    from edgeloop.models.design.latency import load_cost_model
    from edgeloop.models.design.pruning import pruning_gain
    from edgeloop.models.design.search import SearchConfig
    from edgeloop.models.design.space import SpaceContext

    td = adapter.load_task([tiny_bottles])
    cfg = SearchConfig(folds=2, epochs=1, families=("image_cnn",), ctx=SpaceContext("images", max_side=16))
    sizer = Sizer(td, Budget.from_board(None), load_cost_model())
    out = pruning_gain(td, {"family": "image_cnn", "params": {**PARAMS, "pool": "max", "head": "flatten",
                                                                "block": "plain"}}, cfg, sizer)
    assert out["widths_before"] == [4, 8, 8] and out["widths_after"] == [2, 4, 4] and out["folds"] == 2
    assert out["flash_bytes_after"] < out["flash_bytes_before"]
    assert 0 <= out["cv_accuracy_after"] <= 1 and 0 <= out["cv_accuracy_before"] <= 1
    assert out["pays"] == (out["loss_points"] <= cfg.tolerance)
    assert ("pays" if out["pays"] else "does not pay") in out["why"]
    skipped = pruning_gain(td, {"family": "feature_mlp", "params": {}}, cfg, sizer)
    assert not skipped["applied"] and "image CNNs" in skipped["why"]
