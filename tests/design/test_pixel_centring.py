"""Dense nets on pixels train on centred pixels and deploy on [0, 1] ones.

On all-positive pixels a dense net stayed at chance on bottle fill levels (one class for every image); trained
on centred pixels with the centring folded into its first layer it learns, and the exported model still takes
the [0, 1] pixels every image model takes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeloop.models.design import adapter
from edgeloop.models.train.pixel_centring import PixelCentring, centred_training

CHANCE = 0.2  # five fill-level classes
LEARNED = 0.3  # centred: ~0.4 on these 800 images; all-positive pixels stayed at ~0.2 (one class)


def test_the_fold_is_exact_and_its_inverse_restores_the_net() -> None:
    from edgeloop.models.train.families import build_dense_raw

    model = build_dense_raw((6, 6, 1), 3, width=8, depth=2)
    x = np.random.default_rng(0).random((16, 6, 6, 1)).astype(np.float32)
    centring = PixelCentring(mean=0.62, std=0.17)
    on_centred = model.predict((x - centring.mean) / centring.std, verbose=0)
    before = [w.copy() for w in model.get_weights()]
    centring.fold_into(model)
    np.testing.assert_allclose(model.predict(x, verbose=0), on_centred, atol=1e-5)
    centring.unfold_from(model)
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_the_centring_is_the_training_pixels_mean_and_spread() -> None:
    pixels = np.full((10, 4, 4, 1), 255, np.uint8)
    pixels[:5] = 51  # half the images at 0.2, half at 1.0
    c = PixelCentring.of(pixels)
    assert c.mean == pytest.approx(0.6) and c.std == pytest.approx(0.4)
    assert PixelCentring.of(np.zeros((3, 2, 2, 1), np.uint8)).std > 0  # a blank set still folds to finite weights


def test_a_fine_tuned_folded_net_keeps_its_function_when_it_is_unfolded_for_other_pixels() -> None:
    """Fine-tuning (pruning, refit on train + val) re-expresses a folded net for another set's centring."""
    from edgeloop.models.train.families import build_dense_raw

    model = build_dense_raw((4, 4, 1), 3, width=8, depth=1)
    x = np.random.default_rng(1).integers(0, 256, (32, 4, 4, 1)).astype(np.uint8)
    plain = model.predict(x.astype(np.float32) / 255.0, verbose=0)
    with centred_training(model, x[:8], folded=True) as trainable:  # no training step: the function is kept
        np.testing.assert_allclose(trainable.predict(x, verbose=0), plain, atol=1e-5)
    np.testing.assert_allclose(model.predict(x.astype(np.float32) / 255.0, verbose=0), plain, atol=1e-5)


def test_a_design_dense_net_learns_fill_levels_from_pixels(bottles_1000: Path) -> None:
    """The design's dense_pixels trial: the fault was one class for every image (20 % on every fold)."""
    td = adapter.load_task([bottles_1000])
    params = {"input_size": 24, "color": "gray", "width": 32, "depth": 1}
    dev, _ = td.arrays(params, "dense_pixels")
    idx = np.random.default_rng(0).permutation(len(dev.y))
    train, val = dev.take(idx[: len(idx) * 3 // 4]), dev.take(idx[len(idx) * 3 // 4:])
    fitted = adapter.fit(td, "dense_pixels", params, train, val, seed=0, epochs=30)
    predicted = fitted.predict("images", val.x).argmax(axis=1)  # [0, 1] pixels, as deployed
    assert (predicted == val.y).mean() >= LEARNED > CHANCE
    assert len(np.unique(predicted)) >= 3


def test_train_family_dense_on_images_learns_and_exports_a_net_on_plain_pixels(bottles_1000: Path,
                                                                               tmp_path: Path) -> None:
    """`edgeloop train --family dense` on images: the int8 export is scored on the held-out images' [0, 1] pixels."""
    from edgeloop.models.train.recipes import TrainRequest, train

    report = train(TrainRequest(task="bottles", data=[bottles_1000], out=tmp_path / "d", family="dense",
                                input_size=24, width=32, depth=1, epochs=30, name="d", progress=False))
    assert report["family"] == "dense"
    assert report["float"]["window_accuracy"] >= LEARNED and report["window_accuracy"] >= LEARNED
