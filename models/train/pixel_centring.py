"""Train a dense net on centred pixels, deploy it on plain [0, 1] pixels.

A dense net whose inputs are all positive (pixels scaled to [0, 1]) barely learns: every input pushes each hidden
unit's pre-activation the same way, so most ReLU units die or saturate together within the first steps and the
net stays at chance on images such as the bottle fill levels. Centring the pixels (zero mean, unit spread over
the training images) fixes the training. The deployed model must still take the same [0, 1] pixels as every other
image model (the firmware's preprocessing and the int8 input scale do not change), so after training the
centring is folded into the first Dense layer:

    W·((x − m) / s) + b  =  (W / s)·x + (b − (m / s)·ΣW)

The fold is exact in float; the int8 quantization then sees an ordinary dense layer. Image CNNs do not need this:
their batch normalization centres every conv's output.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgeloop import require

# Images are sampled for the statistics: a few thousand give the mean and spread of a set to three digits.
_STAT_IMAGES = 2048
# A blank set (every pixel the same) has no spread; this floor keeps the fold finite.
_MIN_STD = 1e-3


@dataclass(frozen=True)
class PixelCentring:
    """One mean and one spread of the training pixels on the [0, 1] scale, shared by every pixel."""

    mean: float
    std: float

    @classmethod
    def of(cls, pixels: np.ndarray) -> "PixelCentring":
        """The centring of uint8 `pixels` (images along the first axis)."""
        sample = np.asarray(pixels[:: max(1, len(pixels) // _STAT_IMAGES)], np.float64) / 255.0
        return cls(float(sample.mean()), max(float(sample.std()), _MIN_STD))

    def layer(self) -> Any:
        """A Keras layer mapping [0, 1] pixels to centred ones (used in training graphs only)."""
        layers = require("keras.layers", needed_for="training")
        return layers.Rescaling(1.0 / self.std, offset=-self.mean / self.std, name="centre_pixels")

    def fold_into(self, model: Any) -> None:
        """Make `model`, trained on centred pixels, take [0, 1] pixels: rescale its first Dense layer in place."""
        dense = first_dense(model)
        kernel, bias = (np.asarray(w, np.float64) for w in dense.get_weights())
        dense.set_weights([kernel / self.std, bias - (self.mean / self.std) * kernel.sum(axis=0)])

    def unfold_from(self, model: Any) -> None:
        """The inverse of `fold_into`: make `model`, taking [0, 1] pixels, take centred ones (to fine-tune it)."""
        dense = first_dense(model)
        kernel, bias = (np.asarray(w, np.float64) for w in dense.get_weights())
        dense.set_weights([kernel * self.std, bias + self.mean * kernel.sum(axis=0)])


def first_dense(model: Any) -> Any:
    """The first layer with weights of a dense net on pixels; refuses anything else (a programming error)."""
    keras = require("keras", needed_for="training")

    layer = next(layer for layer in model.layers if layer.weights)
    if not isinstance(layer, keras.layers.Dense):
        raise TypeError(f"pixel centring folds into a first Dense layer, not {type(layer).__name__} {layer.name}")
    return layer


@contextmanager
def centred_training(model: Any, pixels: np.ndarray, folded: bool = False) -> Iterator[Any]:
    """Yield the training wrapper of dense net `model` on uint8 `pixels` that centres them; on exit the
    centring is folded into `model`, which then takes [0, 1] pixels like every exported image model.

    `folded`: `model` already takes [0, 1] pixels (a trained or pruned copy to fine-tune); it is re-expressed
    for centred pixels first. The fold and its inverse are exact for any centring, so fine-tuning on other
    pixels (train + val at refit) is fine.
    """
    from edgeloop.models.train.families import image_training_wrapper

    centring = PixelCentring.of(pixels)
    if folded:
        centring.unfold_from(model)
    try:
        yield image_training_wrapper(model, centring=centring)
    finally:
        centring.fold_into(model)
