"""Shared training machinery: seeding, a console progress bar, early stopping and the export step."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgeloop import InputError, require

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def setup_tensorflow(seed: int, threads: int = 2) -> None:
    """Seed Python, numpy and TensorFlow, make kernels deterministic and cap the CPU threads."""
    keras = require("keras", needed_for="training")
    tf = require("tensorflow", needed_for="training")

    keras.utils.set_random_seed(seed)
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # already initialised in this process: the first setting stays
        pass
    tf.config.experimental.enable_op_determinism()
    # Training many small models in one process (design trials, folds, baselines) retraces tf.functions by
    # design; TensorFlow warns about each retrace, twice. Its errors still show.
    tf.get_logger().setLevel("ERROR")


def progress_callback(epochs: int, desc: str, enabled: bool = True) -> Any:
    """A Keras callback drawing one tqdm bar over the epochs with the latest loss and metrics."""
    keras = require("keras", needed_for="training")
    from tqdm.auto import tqdm

    class _Progress(keras.callbacks.Callback):
        def on_train_begin(self, logs: dict | None = None) -> None:
            self.bar = tqdm(total=epochs, desc=desc, unit="epoch", disable=not enabled, leave=True)

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            logs = logs or {}
            self.bar.set_postfix({k: f"{v:.4f}" for k, v in logs.items() if k != "learning_rate"})
            self.bar.update(1)

        def on_train_end(self, logs: dict | None = None) -> None:
            self.bar.close()

    return _Progress()


@dataclass
class FitConfig:
    """How long and how to train: epochs, batch size, learning rate and early-stopping patience."""

    epochs: int = 30
    batch_size: int = 64
    learning_rate: float = 3e-3
    patience: int = 6
    monitor: str = "val_loss"
    progress: bool = True
    class_weight: dict[int, float] | None = None
    extra_callbacks: list[Any] = field(default_factory=list)


def fit(model: Any, x: np.ndarray, y: Any, x_val: np.ndarray, y_val: Any, cfg: FitConfig,
        desc: str, loss: Any = "sparse_categorical_crossentropy",
        metrics: Any = ("accuracy",)) -> dict[str, list[float]]:
    """Compile and train with Adam, cosine decay and early stopping that restores the best weights.

    `y`, `loss` and `metrics` may be dicts keyed by output name for multi-output models.
    """
    keras = require("keras", needed_for="training")

    steps = max(1, int(np.ceil(len(x) / cfg.batch_size))) * cfg.epochs
    schedule = keras.optimizers.schedules.CosineDecay(cfg.learning_rate, steps, alpha=0.05)
    metrics = metrics if isinstance(metrics, dict) else list(metrics)
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss=loss, metrics=metrics)
    stop = keras.callbacks.EarlyStopping(monitor=cfg.monitor, patience=cfg.patience, restore_best_weights=True)
    hist = model.fit(x, y, validation_data=(x_val, y_val), epochs=cfg.epochs, batch_size=cfg.batch_size,
                     verbose=0, shuffle=True, class_weight=cfg.class_weight,
                     callbacks=[stop, progress_callback(cfg.epochs, desc, cfg.progress), *cfg.extra_callbacks])
    return {k: [float(v) for v in vals] for k, vals in hist.history.items()}


def split_indices(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Shuffle 0..n-1 with `seed` and split off `val_fraction` of them (at least one) for validation."""
    if n < 2:
        raise InputError(f"need at least 2 samples to split off a validation set, got {n}")
    perm = np.random.default_rng(seed).permutation(n)
    n_val = min(n - 1, max(1, int(round(n * val_fraction))))
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def file_sizes(paths: dict[str, Path | None]) -> dict[str, int]:
    """Map a label to a file's size in bytes, skipping missing files."""
    return {k: Path(p).stat().st_size for k, p in paths.items() if p is not None and Path(p).exists()}


class Stopwatch:
    """Wall-clock seconds since creation, for the `train_seconds` figure of a report."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()

    def seconds(self) -> float:
        return round(time.perf_counter() - self.t0, 1)
