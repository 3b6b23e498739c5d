"""Knowledge distillation: train a small model against a larger trained one's softened probabilities.

Used by `edgeloop train --teacher MODEL` (images) and by `edgeloop design`
when it measures whether distillation pays. The loss is half cross-entropy on
the labels and half the KL divergence between the teacher's and the
student's probabilities, both softened by a temperature (Hinton et al.);
the T^2 factor keeps the soft term's gradients on the scale of the hard one.
"""

from __future__ import annotations

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


def load_teacher(path: Path, input_shape: tuple[int, ...] | None, n_classes: int) -> Any:
    """The teacher Keras model at `path` (a .keras file, or a training output folder holding one), checked to
    predict the student's classes from the same kind of input: the same shape, or (images) a square image of
    the same colour at another side, which the teacher then reads at its own side (`teacher_side`).
    `input_shape` None: any square image (a design, whose candidates read several sides and colours)."""
    keras = require("keras", needed_for="distillation")

    path = Path(path)
    if path.is_dir():
        found = sorted(path.glob("*.keras"))
        if len(found) != 1:
            raise InputError(f"--teacher {path}: expected one .keras model in the folder, found {len(found)}; "
                             "give the .keras file")
        path = found[0]
    if not path.is_file():
        raise MissingFileError(f"--teacher {path} does not exist; give a model trained by `edgeloop train` (.keras)")
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


def teacher_side(teacher: Any) -> int:
    """The image side a teacher reads (its training data is loaded at this side for it)."""
    return int(teacher.inputs[0].shape[1])


def teacher_probabilities(teacher: Any, pixels: np.ndarray) -> np.ndarray:
    """The teacher's class probabilities of uint8 images already at its own side (`teacher_side`)."""
    return np.asarray(teacher.predict(pixels.astype(np.float32) / 255.0, verbose=0, batch_size=256))
