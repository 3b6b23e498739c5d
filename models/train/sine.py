"""The "hello world" regression: y = sin(x) on [0, 2π] with a 1→16→16→1 dense network."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgeloop import require
from edgeloop.models.quantize import ModelMeta
from edgeloop.models.train.common import FitConfig, fit, setup_tensorflow
from edgeloop.models.train.finish import finish


def sine_data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`n` points x ~ U[0, 2π) with y = sin(x), as float32 column vectors."""
    x = np.random.default_rng(seed).uniform(0.0, 2 * np.pi, (n, 1)).astype(np.float32)
    return x, np.sin(x).astype(np.float32)


def build_sine_model(hidden: int = 16) -> Any:
    """Dense(hidden, relu) → Dense(hidden, relu) → Dense(1)."""
    keras = require("keras", needed_for="training")

    return keras.Sequential([
        keras.Input((1,), name="x"),
        keras.layers.Dense(hidden, activation="relu"),
        keras.layers.Dense(hidden, activation="relu"),
        keras.layers.Dense(1),
    ], name="sine")


def train_sine(out_dir: Path, seed: int = 0, epochs: int = 400, n_train: int = 4000,
               recipe: Sequence[str] = (), progress: bool = True, name: str = "sine",
               resolved: Any = None) -> dict[str, Any]:
    """Train, export and report the sine model into `out_dir`."""
    setup_tensorflow(seed)
    x, y = sine_data(n_train, seed)
    x_val, y_val = sine_data(max(200, n_train // 8), seed + 1)
    x_test, y_test = sine_data(1000, seed + 2)
    model = build_sine_model()
    hist = fit(model, x, y, x_val, y_val,
               FitConfig(epochs=epochs, batch_size=64, learning_rate=1e-2, patience=40, progress=progress),
               desc="sine", loss="mse", metrics=("mae",))
    # The calibration set spans the whole input range evenly so 0 and 2π both fit the int8 input scale.
    rep = np.linspace(0.0, 2 * np.pi, 256, dtype=np.float32)[:, None]
    meta = ModelMeta(labels=("y",), input_kind="tensor")
    return finish(model, name=name, task="sine", out_dir=out_dir, meta=meta, representative=rep,
                  x_test=x_test, y_test=y_test, seed=seed, recipe=recipe, history=hist, regression=True,
                  evaluated_on="1000 fresh points x ~ U[0, 2π)", resolved=resolved,
                  description="Regression of y = sin(x) for x in [0, 2π]: the smallest model that exercises "
                              "the whole int8 path (quantize, dense, ReLU, requantize, dequantize).")
