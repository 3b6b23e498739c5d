"""Fake quantization matches TFLite's int8 model; distillation's teacher choice."""

from __future__ import annotations

import numpy as np

from edgeloop.models.design.compress import pick_teacher, qat_model


def test_fake_quant_twin_matches_tflite_int8() -> None:
    import keras

    from edgeloop.models.quantize import to_tflite_int8
    from edgeloop.models.report import Int8Model
    from edgeloop.models.train.families import build_feature_mlp

    keras.utils.set_random_seed(3)
    model = build_feature_mlp(20, 5, width=16, depth=2)
    rng = np.random.default_rng(0)
    for w in model.weights:  # a trained-looking net: non-zero biases
        w.assign(rng.normal(0, 0.5, w.shape).astype("float32"))
    rep = rng.normal(0, 1, (300, 20)).astype(np.float32)
    twin = qat_model(model)
    twin(rep, training=True)  # the first batch sets the ranges exactly, as the converter's calibration does
    fake = np.asarray(twin(rep, training=False))
    plain = np.asarray(model(rep, training=False))
    int8 = Int8Model(to_tflite_int8(model, rep, max_samples=300)).predict(rep)
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
