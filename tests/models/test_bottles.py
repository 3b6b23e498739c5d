"""Synthetic bottle images: determinism, classes, splits, the data set layout and its reader."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeloop.models.data.bottles import (
    BACKGROUND_POOLS, FILL_LABELS, SHAPE_POOLS, LABEL_MARGIN, SceneParams, fill_class, fill_range,
    generate_bottle_set, label_range,
    render_bottle, sample_scene, shape_prototype,
)
from edgeloop.models.data.imagesets import load_image_set, scan_image_set, to_model_input


def test_fill_classes_bin_the_fill_level() -> None:
    assert FILL_LABELS[0] == "no_bottle" and len(FILL_LABELS) >= 5
    assert fill_class(None) == "no_bottle"
    assert [fill_class(f) for f in (0.0, 0.2499, 0.25, 0.6, 0.75, 1.0)] == ["empty", "empty", "low", "half", "full", "full"]
    assert fill_range("low") == (0.25, 0.5)
    with pytest.raises(ValueError, match="outside"):
        fill_class(1.2)
    with pytest.raises(ValueError, match="fill class"):
        fill_range("no_bottle")


def test_label_range_keeps_clear_of_boundaries_between_classes() -> None:
    m = LABEL_MARGIN
    assert label_range("empty") == (0.0, 0.25 - m)  # fill 0 borders no other class
    assert label_range("low") == (0.25 + m, 0.5 - m)
    assert label_range("full") == (0.75 + m, 1.0)
    assert label_range("half", 0.0) == fill_range("half")
    with pytest.raises(ValueError, match="half a fill class"):
        label_range("low", 0.2)


def test_render_is_deterministic_and_rgb_uint8() -> None:
    params = sample_scene(np.random.default_rng(1), "train", size=64)
    a = render_bottle(0.4, params, np.random.default_rng(7))
    b = render_bottle(0.4, params, np.random.default_rng(7))
    assert a.shape == (64, 64, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    c = render_bottle(0.4, params, np.random.default_rng(8))  # only the sensor noise differs
    assert 0 < np.mean(np.abs(a.astype(int) - c.astype(int))) < 12


def test_fill_level_changes_the_container_not_the_scene() -> None:
    params = sample_scene(np.random.default_rng(2), "train", container="bottle", size=96)
    params = replace(params, occluder="none", camera=replace(params.camera, noise_sigma=0.0, jpeg_quality=100))
    low = render_bottle(0.1, params, np.random.default_rng(0)).astype(int)
    high = render_bottle(0.9, params, np.random.default_rng(0)).astype(int)
    diff = np.abs(low - high).sum(axis=2) > 12
    assert diff.mean() > 0.01  # liquid appeared
    cols = np.flatnonzero(diff.any(axis=0))
    cx = params.pose.cx * 96
    half = params.shape.body_half_width * params.pose.length * 96
    assert cols.min() >= cx - half * 1.6 - 6 and cols.max() <= cx + half * 1.6 + 6  # ...inside the bottle


def test_empty_scene_ignores_fill_and_bad_fill_is_rejected() -> None:
    params = sample_scene(np.random.default_rng(3), "train", container="none", size=48)
    np.testing.assert_array_equal(render_bottle(None, params, np.random.default_rng(1)),
                                  render_bottle(0.7, params, np.random.default_rng(1)))
    bottle = sample_scene(np.random.default_rng(3), "train", container="bag", size=48)
    assert bottle.shape.kind == "bag"
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        render_bottle(1.5, bottle)
    with pytest.raises(ValueError, match="split"):
        sample_scene(np.random.default_rng(0), "holdout")


def test_scene_params_round_trip_through_json() -> None:
    params = sample_scene(np.random.default_rng(4), "test", size=40)
    again = SceneParams.from_json(json.loads(json.dumps(params.to_json())))
    assert again == params
    np.testing.assert_array_equal(render_bottle(0.3, again, np.random.default_rng(0)),
                                  render_bottle(0.3, params, np.random.default_rng(0)))


def test_prototypes_vary_and_test_pools_are_disjoint() -> None:
    assert not set(SHAPE_POOLS["train"]) & set(SHAPE_POOLS["test"])
    assert not set(BACKGROUND_POOLS["train"]) & set(BACKGROUND_POOLS["test"])
    kinds = {shape_prototype(i)[0].kind for i in range(40)}
    materials = {shape_prototype(i)[1].material for i in range(40)}
    assert kinds == {"bottle", "bag"} and len(materials) >= 3
    assert shape_prototype(5) == shape_prototype(5)


def test_generated_set_layout_balance_and_held_out_split(tiny_bottles: Path) -> None:
    lines = (tiny_bottles / "manifest.jsonl").read_text().splitlines()
    recs = [json.loads(line) for line in lines]
    assert len(recs) == 75
    meta = json.loads((tiny_bottles / "dataset.json").read_text())
    assert meta["labels"] == list(FILL_LABELS) and meta["format"] == "edgeloop-image-set v1"
    for split in ("train", "val", "test"):
        labels = [r["label"] for r in recs if r["split"] == split]
        counts = [labels.count(lab) for lab in FILL_LABELS]
        assert max(counts) - min(counts) <= 1, (split, counts)  # balanced
    for r in recs:
        img = cv2.imread(str(tiny_bottles / r["file"]))
        assert img is not None and img.shape == (32, 32, 3)
        assert Path(r["file"]).parts[:2] == (r["split"], r["label"])
        if r["label"] == "no_bottle":
            assert r["fill"] is None
        else:
            assert fill_class(r["fill"]) == r["label"]
            low, high = label_range(r["label"], meta["label_margin"])
            assert low <= r["fill"] <= high
    train_shapes = {r["shape_id"] for r in recs if r["split"] == "train" and r["shape_id"] is not None}
    test_shapes = {r["shape_id"] for r in recs if r["split"] == "test" and r["shape_id"] is not None}
    train_bgs = {r["background_id"] for r in recs if r["split"] == "train"}
    test_bgs = {r["background_id"] for r in recs if r["split"] == "test"}
    assert test_shapes and not train_shapes & test_shapes
    assert test_bgs and not train_bgs & test_bgs


def test_manifest_record_regenerates_its_image(tiny_bottles: Path) -> None:
    rec = json.loads((tiny_bottles / "manifest.jsonl").read_text().splitlines()[7])
    params = SceneParams.from_json(rec["params"])
    rng = np.random.default_rng([3, rec["index"]])
    # the generator draws the scene, then the fill, then renders from the same stream
    sample_scene(rng, rec["split"], container="none" if rec["label"] == "no_bottle" else None, size=32)
    fill = None if rec["fill"] is None else float(rng.uniform(*label_range(rec["label"])))
    img = render_bottle(fill, params, rng)
    np.testing.assert_array_equal(img, cv2.imread(str(tiny_bottles / rec["file"]))[..., ::-1])


def test_generation_is_seeded_and_refuses_a_used_folder(tmp_path: Path, tiny_bottles: Path) -> None:
    generate_bottle_set(tmp_path / "again", 75, seed=3, size=32, progress=False)
    first = (tiny_bottles / "train/low/train_000002.png").read_bytes()
    assert (tmp_path / "again/train/low/train_000002.png").read_bytes() == first
    with pytest.raises(FileExistsError, match="not empty"):
        generate_bottle_set(tmp_path / "again", 75, seed=3, size=32, progress=False)
    with pytest.raises(ValueError, match="too small"):
        generate_bottle_set(tmp_path / "few", 5, progress=False)


def test_reader_accepts_manifest_sets_and_plain_folders(tiny_bottles: Path, tmp_path: Path) -> None:
    data, labels = load_image_set([tiny_bottles], 24, "gray")
    assert labels == list(FILL_LABELS)
    assert set(data) == {"train", "val", "test"}
    x, y = data["train"]
    assert x.shape == (53, 24, 24, 1) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    plain = tmp_path / "plain"
    for k, cls in enumerate(("cat", "dog")):
        (plain / cls).mkdir(parents=True)
        for i in range(10):
            cv2.imwrite(str(plain / cls / f"{i}.png"), np.full((8, 8, 3), 40 * k + i, np.uint8))
    records, plain_labels = scan_image_set(plain, seed=1)
    assert plain_labels == ["cat", "dog"]
    assert {r.split for r in records} == {"train", "val", "test"}
    data, _ = load_image_set([plain], 8, "rgb")
    assert sum(len(v[1]) for v in data.values()) == 20
    with pytest.raises(ValueError, match="no images"):
        (tmp_path / "empty").mkdir()
        scan_image_set(tmp_path / "empty")


def test_model_input_of_a_frame_matches_reading_the_png(tiny_bottles: Path) -> None:
    path = next((tiny_bottles / "test" / "half").glob("*.png"))
    rgb = cv2.imread(str(path))[..., ::-1]
    from edgeloop.models.data.imagesets import load_image
    np.testing.assert_allclose(to_model_input(rgb, 32, "gray"), load_image(path, 32, "gray"), atol=1 / 255)
