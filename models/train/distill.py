"""Knowledge distillation: train a small model against a larger trained one's softened probabilities.

Used by `edgeloop train --teacher MODEL` (images and time series) and by
`edgeloop design` when it measures whether distillation pays. A time-series
teacher reads the student's windows through its own exported preprocessing
(its norm), so it must read the same input: the same window and channels,
and the same feature set (feature models) or raw windows (1-D CNN, dense). The loss is half cross-entropy on
the labels and half the KL divergence between the teacher's and the
student's probabilities, both softened by a temperature (Hinton et al.);
the T^2 factor keeps the soft term's gradients on the scale of the hard one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeloop import InputError, MissingFileError, require

TEMPERATURE = 4.0


def distillation_targets(y: np.ndarray, teacher: np.ndarray | None, n: int) -> np.ndarray:
    """[one-hot labels | teacher probabilities] side by side (the teacher half is the labels where there is none,
    e.g. on the validation split)."""
    onehot = np.eye(n, dtype=np.float32)[y]
    return np.concatenate([onehot, onehot if teacher is None else teacher.astype(np.float32)], axis=1)


def distillation_loss(temperature: float = TEMPERATURE) -> Any:
    """The Keras loss over `distillation_targets`: 0.5 cross-entropy + 0.5 T^2 KL(teacher_T || student_T)."""
    ops = require("keras.ops")

    def loss(target: Any, prob: Any) -> Any:
        n = ops.shape(prob)[-1]
        onehot, soft = target[:, :n], target[:, n:]
        eps = 1e-7
        ce = -ops.sum(onehot * ops.log(prob + eps), axis=-1)
        # Soften both distributions by the temperature (probabilities ^ 1/T, renormalised).
        p_s = ops.power(prob + eps, 1.0 / temperature)
        p_s = p_s / ops.sum(p_s, axis=-1, keepdims=True)
        p_t = ops.power(soft + eps, 1.0 / temperature)
        p_t = p_t / ops.sum(p_t, axis=-1, keepdims=True)
        kl = ops.sum(p_t * (ops.log(p_t) - ops.log(p_s)), axis=-1)
        return 0.5 * ce + 0.5 * temperature ** 2 * kl

    return loss


def teacher_file(path: Path) -> Path:
    """The teacher's .keras file: `path` itself, or the one .keras model in a training output folder."""
    path = Path(path)
    if path.is_dir():
        found = sorted(path.glob("*.keras"))
        if len(found) != 1:
            raise InputError(f"--teacher {path}: expected one .keras model in the folder, found {len(found)}; "
                             "give the .keras file")
        path = found[0]
    if not path.is_file():
        raise MissingFileError(f"--teacher {path} does not exist; give a model trained by `edgeloop train` (.keras)")
    return path


def load_teacher(path: Path, input_shape: tuple[int, ...] | None, n_classes: int) -> Any:
    """The teacher Keras model at `path` (a .keras file, or a training output folder holding one), checked to
    predict the student's classes from the same kind of input: the same shape, or (images) a square image of
    the same colour at another side, which the teacher then reads at its own side (`teacher_side`).
    `input_shape` None: any square image (a design, whose candidates read several sides and colours)."""
    keras = require("keras", needed_for="distillation")

    path = teacher_file(path)
    teacher = keras.models.load_model(path, compile=False)
    got_in, got_out = tuple(teacher.inputs[0].shape[1:]), teacher.outputs[0].shape[-1]
    square = len(got_in) == 3 and got_in[0] == got_in[1]
    want = tuple(input_shape) if input_shape is not None else ("side", "side", "gray or rgb")
    resizable = square and (input_shape is None or (len(want) == 3 and got_in[2] == want[2]))
    if (got_in != want and not resizable) or got_out != n_classes:
        raise InputError(f"--teacher {path} reads {got_in} and predicts {got_out} classes; this model reads "
                         f"{want} with {n_classes} classes: the teacher must predict the same classes from the "
                         "same input (images: any square side, the same --color)")
    return teacher


@dataclass
class SeriesTeacher:
    """A time-series teacher and the norm it standardises its input with (from its own preprocess.json)."""

    model: Any
    norm: Any
    raw: bool

    def predict(self, features: np.ndarray, raw: np.ndarray | None) -> np.ndarray:
        """Its probabilities on windows given as features (W, F) and raw samples (W, window, C)."""
        x = raw if self.raw else features
        assert x is not None
        return np.asarray(self.model.predict(self.norm.apply(x), verbose=0, batch_size=512))


def load_series_teacher(path: Path, *, raw: bool, window: int, channels: list[str], feature_set_id: int,
                        labels: list[str]) -> SeriesTeacher:
    """The time-series teacher at `path`, checked to read the student's input: the same window, channels and
    classes, and raw windows where the student reads raw windows, else the same feature set."""
    keras = require("keras", needed_for="distillation")

    from edgeloop.models.features import FeatureNorm
    from edgeloop.models.quantize import read_meta

    path = teacher_file(path)
    meta = read_meta(path.with_suffix(".tflite"))
    pre = meta.preprocess
    teacher_raw = meta.input_kind == "timeseries-window"
    what = {True: "raw windows", False: "window features"}
    problem = None
    if meta.input_kind not in ("timeseries-window", "timeseries-features", "imu-features"):
        problem = f"reads {meta.input_kind} input, not time series"
    elif teacher_raw != raw:
        problem = (f"reads {what[teacher_raw]} and this model reads {what[raw]} (use a teacher of "
                   f"{'--family cnn1d or dense' if raw else '--family feature-mlp'})")
    elif meta.window != window:
        problem = f"reads {meta.window}-sample windows and this model {window}-sample ones (same --window)"
    elif list(pre.get("channels", [])) != list(channels):
        problem = f"reads channels {pre.get('channels')} and this model {channels}"
    elif not raw and pre.get("feature_set_id") != feature_set_id:
        problem = "computes another feature set (same --features)"
    elif list(meta.labels) != list(labels):
        problem = f"predicts classes {list(meta.labels)} and this model {list(labels)}"
    if problem:
        raise InputError(f"--teacher {path} {problem}: the teacher must read the same input and classes")
    model = keras.models.load_model(path, compile=False)
    norm = FeatureNorm.from_json(pre["channel_norm" if raw else "feature_norm"])
    return SeriesTeacher(model, norm, raw)


def teacher_side(teacher: Any) -> int:
    """The image side a teacher reads (its training data is loaded at this side for it)."""
    return int(teacher.inputs[0].shape[1])


def teacher_probabilities(teacher: Any, pixels: np.ndarray) -> np.ndarray:
    """The teacher's class probabilities of uint8 images already at its own side (`teacher_side`)."""
    return np.asarray(teacher.predict(pixels.astype(np.float32) / 255.0, verbose=0, batch_size=256))
