"""Compression measured where it may pay: knowledge distillation from a larger trained candidate, and the fake
quantization primitives of quantization-aware fine-tuning (the twin and its rule: qat.py; channel pruning:
pruning.py).

The teacher is the most accurate trained trial that reads the same input as
the chosen model (same window/hop, or same image side/colour) and is larger;
each cross-validation fold trains the teacher on the fold's training rows,
then the student on the same rows against the labels and the teacher's
softened probabilities (adapter.fit with `teacher`). The gain is the
student's distilled CV accuracy minus its plain CV accuracy on the very same
folds. It "pays" when the gain exceeds the plain run's fold spread; the
finalize step then exports the teacher and refits the chosen recipe with
`teacher` set (`edgeloop train --teacher`, image tasks).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgeloop import require
from edgeloop.models.design import adapter
from edgeloop.models.design.search import SearchConfig, _inner_val, _release, fold_indices, trained


def pick_teacher(rows: list[dict[str, Any]], student: dict[str, Any], kind: str) -> dict[str, Any] | None:
    """The most accurate trained trial on the student's input that is larger and more accurate than it."""
    key = adapter.input_key(kind, student["params"], student["family"])
    same_input = [r for r in trained(rows) if r["family"] == student["family"]
                  and adapter.input_key(kind, r["params"], r["family"]) == key
                  and r["flash_bytes"] > student["flash_bytes"] and r["cv_accuracy"] > student["cv_accuracy"]]
    return max(same_input, key=lambda r: r["cv_accuracy"], default=None)


def distillation_gain(td: adapter.TaskData, rows: list[dict[str, Any]], student: dict[str, Any],
                      cfg: SearchConfig) -> dict[str, Any]:
    """Distil the chosen model from a larger one across the CV folds; report plain vs distilled accuracy."""
    teacher = pick_teacher(rows, student, td.kind)
    if teacher is None:
        return {"applied": False, "why": "skipped: no larger, more accurate trained model reads the same input"}
    dev, _ = td.arrays(student["params"], student["family"])
    plain, distilled = [], []
    for k, (tr, held) in enumerate(fold_indices(dev, cfg.folds, cfg.seed)):
        fit_idx, val_idx = _inner_val(dev, tr, cfg.seed + k)
        fit_rows, val_rows = dev.take(fit_idx), dev.take(val_idx)
        scored = held[dev.evaluate[held]]
        for who, sink in (("plain", plain), ("distilled", distilled)):
            soft = None
            if who == "distilled":
                t = adapter.fit(td, teacher["family"], teacher["params"], fit_rows, val_rows, cfg.seed + k, cfg.epochs)
                soft = t.predict(td.kind, fit_rows.x)
                _release()
            s = adapter.fit(td, student["family"], student["params"], fit_rows, val_rows, cfg.seed + k, cfg.epochs,
                            teacher=soft)
            sink.append(float(np.mean(s.predict(td.kind, dev.x[scored]).argmax(-1) == dev.y[scored])))
            _release()
    gain = float(np.mean(distilled) - np.mean(plain))
    spread = float(np.std(np.asarray(distilled) - np.asarray(plain)))
    pays = gain > max(spread, 0.0) and gain > 0
    return {"teacher_trial": teacher["number"], "teacher_family": teacher["family"],
            "teacher_params": teacher["params"], "teacher_flash_bytes": teacher["flash_bytes"],
            "teacher_cv_accuracy": teacher["cv_accuracy"], "plain_cv_accuracy": float(np.mean(plain)),
            "distilled_cv_accuracy": float(np.mean(distilled)), "gain_points": 100 * gain,
            "fold_gain_spread_points": 100 * spread, "pays": bool(pays),
            "applied": False,
            "why": ("pays" if pays else "does not pay on these folds: the plain recipe is exported")}


# ---- quantization-aware fine-tuning -----------------------------------------------------------------------------
# Our own fake quantization (tensorflow-model-optimization does not support Keras 3), matching what the TFLite
# converter does to the exported model: weights per output channel, symmetric, scale = max|w| / 127, values
# -127..127; activations per tensor, asymmetric, range widened to include 0, scale = (max - min) / 255,
# zero point = round(-128 - min / scale). Gradients pass straight through the rounding.

def fake_quant_layers() -> tuple[type, type]:
    keras = require("keras")
    ops = require("keras.ops")

    class FakeQuantActivation(keras.layers.Layer):
        """Per-tensor int8 fake quantization with a range tracked as an exponential moving average."""

        def __init__(self, momentum: float = 0.99, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.momentum = momentum

        def build(self, input_shape: Any) -> None:
            self.lo = self.add_weight(shape=(), initializer="zeros", trainable=False, name="lo")
            self.hi = self.add_weight(shape=(), initializer="zeros", trainable=False, name="hi")
            self.seen = self.add_weight(shape=(), initializer="zeros", trainable=False, name="seen")

        def call(self, x: Any, training: bool = False) -> Any:
            if training:
                m = ops.where(self.seen > 0, self.momentum, 0.0)
                self.lo.assign(m * self.lo + (1 - m) * ops.minimum(ops.min(x), 0.0))
                self.hi.assign(m * self.hi + (1 - m) * ops.maximum(ops.max(x), 0.0))
                self.seen.assign(1.0)
            return fake_quant_tensor(x, self.lo, self.hi)

    class FakeQuantDense(keras.layers.Dense):
        """Dense whose kernel is fake-quantized per output channel, symmetric, as TFLite's int8 weights."""

        def call(self, inputs: Any) -> Any:
            y = ops.matmul(inputs, fake_quant_weights(self.kernel))
            if self.use_bias:
                y = y + self.bias
            return self.activation(y)

    return FakeQuantActivation, FakeQuantDense


def fake_quant_weights(w: Any, axis: int = -1) -> Any:
    """Per-output-channel (`axis`, the last by default) symmetric int8 fake quantization with a straight-through
    gradient."""
    ops = require("keras.ops")

    axis = axis % len(w.shape)
    reduce = tuple(a for a in range(len(w.shape)) if a != axis)
    scale = ops.maximum(ops.max(ops.abs(w), axis=reduce, keepdims=True) / 127.0, 1e-12)
    q = ops.clip(ops.round(w / scale), -127.0, 127.0) * scale
    return w + ops.stop_gradient(q - w)


def fake_quant_tensor(x: Any, lo: Any, hi: Any) -> Any:
    """Per-tensor asymmetric int8 fake quantization of x over [lo, hi] (widened to hold 0)."""
    ops = require("keras.ops")

    lo, hi = ops.minimum(lo, 0.0), ops.maximum(hi, 0.0)
    scale = ops.maximum((hi - lo) / 255.0, 1e-12)
    zp = ops.round(-128.0 - lo / scale)
    q = (ops.clip(ops.round(x / scale) + zp, -128.0, 127.0) - zp) * scale
    return x + ops.stop_gradient(q - x)
