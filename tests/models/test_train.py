"""Training smoke tests, int8 export round trip and the train/dataset commands (tiny data, few epochs)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from edgeloop.app.cli import main
from edgeloop.models.quantize import (
    ModelMeta, QuantParams, dequantize, io_quant_params, quantize, read_meta, to_tflite_int8,
)
from edgeloop.models.report import Int8Model, classification_metrics, count_params_and_macc


def test_quantize_is_affine_and_saturates() -> None:
    qp = QuantParams(0.5, -10)
    q = quantize(np.array([0.0, 1.0, 0.25, 0.75, 1000.0, -1000.0]), qp)
    assert q.dtype == np.int8 and list(q) == [-10, -8, -9, -8, 127, -128]  # halves away from zero, saturated
    np.testing.assert_allclose(dequantize(np.array([-10, -8]), qp), [0.0, 1.0])


def test_meta_validation() -> None:
    with pytest.raises(ValueError, match="input_kind"):
        ModelMeta(labels=("a",), input_kind="audio")
    with pytest.raises(ValueError, match="sample_rate_hz"):
        ModelMeta(labels=("a",), input_kind="imu-features")
    with pytest.raises(ValueError, match="IMU input kinds only"):
        ModelMeta(labels=("a",), input_kind="image", window=4)


def test_classification_metrics_per_class() -> None:
    m = classification_metrics(np.array([0, 0, 1, 1, 2]), np.array([0, 1, 1, 1, 0]), ["a", "b", "c"])
    assert m["accuracy"] == pytest.approx(0.6)
    assert m["confusion"] == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    assert m["per_class"]["b"] == {"precision": pytest.approx(2 / 3), "recall": 1.0, "support": 2}
    assert m["per_class"]["c"]["recall"] == 0.0


@pytest.mark.slow
def test_int8_export_round_trip_matches_float() -> None:
    import keras

    from edgeloop.models.train.common import setup_tensorflow

    setup_tensorflow(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(3)])
    x = np.random.default_rng(0).normal(0, 1, (300, 4)).astype(np.float32)
    tflite = to_tflite_int8(model, x)
    qin, qout = io_quant_params(tflite)
    assert qin.scale > 0 and -128 <= qin.zero_point <= 127
    int8 = Int8Model(tflite)
    got = int8.predict(x[:50])
    want = model.predict(x[:50], verbose=0)
    # int8 error: a few output steps at most
    assert np.abs(got - want).max() < 6 * qout.scale + 4 * qin.scale * np.abs(model.layers[0].kernel).sum()
    assert np.corrcoef(got.ravel(), want.ravel())[0, 1] > 0.99
    assert count_params_and_macc(model) == (8 * 4 + 8 + 3 * 8 + 3, 32 + 24)


@pytest.mark.slow
def test_train_sine_exports_everything(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sine"
    assert main(["train", "--task", "sine", "--out", str(out), "--epochs", "30", "--no-progress"]) == 0
    assert "int8 MAE" in capsys.readouterr().out
    for name in ("sine.tflite", "sine_float.tflite", "sine.keras", "sine.meta.json", "REPORT.md", "report.json"):
        assert (out / name).stat().st_size > 0, name
    meta = json.loads((out / "sine.meta.json").read_text())
    assert meta == {"labels": ["y"], "input_kind": "tensor", "sample_rate_hz": 0, "window": 0, "hop": 0}
    report = json.loads((out / "report.json").read_text())
    assert report["int8"]["mae"] < 0.2 and report["params"] == 321 and report["macc"] == 288
    assert "edgeloop train --task sine" in (out / "REPORT.md").read_text()
    tflite = (out / "sine.tflite").read_bytes()
    qin, qout = io_quant_params(tflite)
    x = np.array([[0.5], [np.pi / 2], [4.0]], np.float32)
    np.testing.assert_allclose(Int8Model(tflite).predict(x).ravel(), np.sin(x).ravel(), atol=0.3)
    if importlib.util.find_spec("tf2onnx"):
        import onnx

        onnx.checker.check_model(onnx.load(str(out / "sine.onnx")))
    else:
        assert "tf2onnx" in report["onnx_error"]


@pytest.mark.slow
def test_train_bottles_smoke(tiny_bottles: Path, tmp_path: Path) -> None:
    out = tmp_path / "tiny-cnn"
    assert main(["train", "--task", "bottles", "--data", str(tiny_bottles), "--out", str(out), "--arch", "tiny",
                 "--input-size", "32", "--epochs", "2", "--no-progress"]) == 0
    meta = read_meta(out / "tiny_cnn.tflite")
    assert meta.input_kind == "image" and meta.labels[0] == "no_bottle"
    assert meta.preprocess["image"] == {"size": 32, "color": "gray", "scale": "pixel / 255"}
    report = json.loads((out / "report.json").read_text())
    assert report["int8"]["n"] == 15 and len(report["int8"]["confusion"]) == 5
    assert (out / "confusion.png").stat().st_size > 0
    qin, _ = io_quant_params((out / "tiny_cnn.tflite").read_bytes())
    # black and white frames pin the input range: q = pixel - 128
    assert qin.zero_point == -128 and qin.scale == pytest.approx(1 / 255, rel=1e-3)


@pytest.mark.slow
def test_train_imu_tasks_smoke(tiny_activity: Path, tiny_falls: Path, tmp_path: Path) -> None:
    assert main(["train", "--task", "imu-activity", "--data", str(tiny_activity), "--out", str(tmp_path / "act"),
                 "--epochs", "3", "--no-progress"]) == 0
    meta = read_meta(tmp_path / "act" / "act.tflite")
    assert (meta.input_kind, meta.sample_rate_hz, meta.window, meta.hop) == ("imu-features", 100, 256, 128)
    assert len(meta.preprocess["feature_norm"]["mean"]) == 54
    assert main(["train", "--task", "fall", "--data", str(tiny_falls), "--out", str(tmp_path / "fall"),
                 "--epochs", "3", "--no-progress"]) == 0
    report = json.loads((tmp_path / "fall" / "report.json").read_text())
    assert report["labels"] == ["adl", "fall"]
    assert {"event_recall", "event_false_alarm", "events"} <= set(report["int8"])
    assert report["int8"]["events"] > 0


def test_train_and_dataset_commands_reject_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--task", "bottles", "--out", str(tmp_path / "x")]) == 2
    assert "needs --data" in capsys.readouterr().err
    assert main(["train", "--task", "imu", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "y")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "f").write_text("x")
    assert main(["dataset", "synth", "imu", "--task", "fall", "--out", str(tmp_path / "full")]) == 2
    assert "not empty" in capsys.readouterr().err


def test_dataset_command_writes_a_set(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dataset", "synth", "bottles", "--n", "20", "--size", "24", "--out", str(tmp_path / "b"),
                 "--no-progress"]) == 0
    assert "wrote 20 images" in capsys.readouterr().out
    assert len((tmp_path / "b" / "manifest.jsonl").read_text().splitlines()) == 20


def test_find_model_by_hash_locates_zoo_models(tmp_path: Path) -> None:
    import hashlib

    from edgeloop.models.quantize import find_model_by_hash, zoo_dir

    path = zoo_dir() / "sine" / "sine.tflite"
    digest = hashlib.sha256(path.read_bytes()).digest()
    assert find_model_by_hash(digest) == path
    assert find_model_by_hash(digest.hex()) == path
    assert find_model_by_hash(b"\0" * 32) is None
    assert find_model_by_hash(digest, [tmp_path]) is None


@pytest.mark.slow
def test_train_on_a_plain_folder_per_class_set(tmp_path: Path) -> None:
    import cv2

    rng = np.random.default_rng(0)
    for cls in ("circle", "square"):
        (tmp_path / "set" / cls).mkdir(parents=True)
        for i in range(24):
            img = np.full((32, 32, 3), int(rng.integers(0, 120)), np.uint8)
            c, r = tuple(int(v) for v in rng.integers(10, 22, 2)), int(rng.integers(4, 9))
            if cls == "circle":
                cv2.circle(img, c, r, (255, 255, 255), -1)
            else:
                cv2.rectangle(img, (c[0] - r, c[1] - r), (c[0] + r, c[1] + r), (255, 255, 255), -1)
            cv2.imwrite(str(tmp_path / "set" / cls / f"{i}.png"), img)
    out = tmp_path / "shapes"
    assert main(["train", "--task", "images", "--data", str(tmp_path / "set"), "--out", str(out), "--arch", "tiny",
                 "--input-size", "32", "--epochs", "2", "--no-progress"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["labels"] == ["circle", "square"] and report["fill_head"] is False
    assert report["int8"]["n"] == 8  # 15 % of each class held out for test


def test_image_cnn_is_plain_convs_with_capped_channels() -> None:
    from edgeloop.models.train.families import build_image_cnn
    from edgeloop.models.train.recipes import TrainRequest

    model = build_image_cnn(64, 1, 5, width=8, depth=3, max_channels=16)
    kinds = [layer.__class__.__name__ for layer in model.layers]
    assert kinds.count("Conv2D") == 4 and kinds.count("MaxPooling2D") == 3
    assert "DepthwiseConv2D" not in kinds
    convs = [layer for layer in model.layers if layer.__class__.__name__ == "Conv2D"]
    assert [c.filters for c in convs] == [8, 16, 16, 16] and convs[0].strides == (2, 2)
    assert model.get_layer("features").output.shape[1:] == (4 * 4 * 16,)
    with pytest.raises(ValueError, match="divisible"):
        build_image_cnn(60, 1, 5, depth=3)
    with pytest.raises(ValueError, match="below the stem width"):
        build_image_cnn(64, 1, 5, width=8, max_channels=4)
    req = TrainRequest(task="bottles", out=Path("out"), data=[Path("d")], max_channels=64)
    assert "--max-channels 64" in req.command()
