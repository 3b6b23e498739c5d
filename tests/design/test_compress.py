"""Fake quantization matches TFLite's int8 model for every design family; distillation's teacher choice."""

from __future__ import annotations

import numpy as np
import pytest

from edgeloop.models.design.compress import pick_teacher
from edgeloop.models.design.qat import qat_twin, write_back


def _outputs(model, twin, rep: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # noqa: ANN001
    """(fake-quantized twin, float model, TFLite int8 model) outputs on `rep`; the twin's ranges are set on `rep`
    first, as the converter's calibration does."""
    from edgeloop.models.quantize import to_tflite_int8
    from edgeloop.models.report import Int8Model

    twin(rep, training=True)
    fake = np.asarray(twin(rep, training=False))
    plain = np.asarray(model(rep, training=False))
    return fake, plain, Int8Model(to_tflite_int8(model, rep, max_samples=len(rep))).predict(rep)


def test_fake_quant_twin_matches_tflite_int8() -> None:
    import keras

    from edgeloop.models.train.families import build_feature_mlp

    keras.utils.set_random_seed(3)
    model = build_feature_mlp(20, 5, width=16, depth=2)
    rng = np.random.default_rng(0)
    for w in model.weights:  # a trained-looking net: non-zero biases
        w.assign(rng.normal(0, 0.5, w.shape).astype("float32"))
    rep = rng.normal(0, 1, (300, 20)).astype(np.float32)
    fake, plain, int8 = _outputs(model, qat_twin(model), rep)
    # The twin reproduces the int8 model's rounding (not bit for bit: TFLite requantizes with integer double
    # rounding), so it is closer to the int8 outputs than the float model is, and agrees on the class.
    err_fake, err_plain = np.abs(fake - int8).mean(), np.abs(plain - int8).mean()
    assert err_fake < 0.8 * err_plain, (err_fake, err_plain)
    assert np.mean(fake.argmax(-1) == int8.argmax(-1)) >= 0.99
    assert np.mean(fake.argmax(-1) == int8.argmax(-1)) > np.mean(plain.argmax(-1) == int8.argmax(-1))


def test_teacher_is_larger_more_accurate_on_the_same_input() -> None:
    def row(n: int, acc: float, flash: int, window: int) -> dict:
        return {"number": n, "status": "trained", "cv_accuracy": acc, "flash_bytes": flash, "family": "feature_mlp",
                "params": {"window": window, "hop": window // 2, "width": 8, "depth": 1}}

    student = row(0, 0.90, 3000, 200)
    rows = [student, row(1, 0.95, 6000, 200), row(2, 0.97, 9000, 400), row(3, 0.93, 5000, 200)]
    assert pick_teacher(rows, student, "imu")["number"] == 1  # trial 2 reads other windows
    assert pick_teacher([student], student, "imu") is None


def _trained_looking_image_cnn(block: str, head: str):  # noqa: ANN202
    from edgeloop.models.train.families import build_image_cnn

    import keras

    keras.utils.set_random_seed(4)
    model = build_image_cnn(16, 1, 4, width=6, depth=2, max_channels=12, block=block, head=head)
    rng = np.random.default_rng(4)
    for w in model.weights:  # trained-looking: varied batch-norm scales and shifts, non-zero statistics
        if "kernel" not in w.path:
            w.assign(rng.uniform(0.3, 1.5, w.shape).astype("float32"))
    return model


@pytest.mark.parametrize("block,head", [("plain", "flatten"), ("separable", "gap")])
def test_fake_quant_cnn_twin_is_closer_to_tflite_int8_than_float(block: str, head: str) -> None:
    model = _trained_looking_image_cnn(block, head)
    rep = np.random.default_rng(0).random((200, 16, 16, 1)).astype(np.float32)
    rep[0], rep[1] = 0.0, 1.0  # the pinned [0, 1] input range
    fake, plain, int8 = _outputs(model, qat_twin(model), rep)
    # batch norm folded into the fake-quantized conv weights: the twin rounds where the int8 model rounds
    err_fake, err_plain = np.abs(fake - int8).mean(), np.abs(plain - int8).mean()
    assert err_fake < 0.7 * err_plain, (err_fake, err_plain)
    assert np.mean(fake.argmax(-1) == int8.argmax(-1)) >= np.mean(plain.argmax(-1) == int8.argmax(-1))


def _trained_looking_raw_model(family: str):  # noqa: ANN202
    """A 1-D CNN or a dense net on raw (64-sample, 3-channel) windows with random non-zero weights and biases."""
    import keras

    from edgeloop.models.train.families import build_cnn1d, build_dense_raw

    keras.utils.set_random_seed(5)
    model = (build_cnn1d(64, 3, 4, width=6, depth=3) if family == "cnn1d"
             else build_dense_raw((16, 3), 4, width=16, depth=2))
    rng = np.random.default_rng(5)
    for w in model.weights:
        w.assign(rng.normal(0, 0.4, w.shape).astype("float32"))
    return model


@pytest.mark.parametrize("family", ["cnn1d", "dense_raw"])
def test_fake_quant_twin_of_raw_window_families_is_closer_to_tflite_int8_than_float(family: str) -> None:
    model = _trained_looking_raw_model(family)
    rep = np.random.default_rng(0).normal(0, 1, (300, *model.inputs[0].shape[1:])).astype(np.float32)
    fake, plain, int8 = _outputs(model, qat_twin(model), rep)
    # the 1-D CNN's 1 x k convs keep their own bias and fused ReLU (no batch norm to fold)
    err_fake, err_plain = np.abs(fake - int8).mean(), np.abs(plain - int8).mean()
    assert err_fake < 0.7 * err_plain, (err_fake, err_plain)
    # not bit for bit (TFLite requantizes with integer rounding): near-ties on the 1/256 softmax grid may differ
    assert np.mean(fake.argmax(-1) == int8.argmax(-1)) >= 0.98


@pytest.mark.parametrize("family", ["image_cnn", "cnn1d", "dense_raw", "feature_mlp"])
def test_qat_write_back_is_the_identity_before_training(family: str) -> None:
    from edgeloop.models.train.families import build_feature_mlp

    model = (_trained_looking_image_cnn("separable", "gap") if family == "image_cnn"
             else build_feature_mlp(12, 3, width=8, depth=2) if family == "feature_mlp"
             else _trained_looking_raw_model(family))
    x = np.random.default_rng(1).random((4, *model.inputs[0].shape[1:])).astype(np.float32)
    before = np.asarray(model(x))
    twin = qat_twin(model)
    for w in twin.weights:  # perturb nothing the model has: only the twin's ranges move
        if w.path.endswith(("lo", "hi")):
            w.assign(w + 1.0)
    write_back(model, twin)
    np.testing.assert_allclose(np.asarray(model(x)), before, rtol=1e-5, atol=1e-6)
