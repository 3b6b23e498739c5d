"""Model families: tiny image CNNs and dense networks on IMU features, built from a few size knobs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edgeloop import InputError, require


@dataclass(frozen=True)
class ImagePreset:
    """Size knobs of an image CNN: input side, gray or RGB, stem width, depth and the channel cap."""

    input_size: int
    color: str
    width: int
    depth: int
    max_channels: int
    epochs: int
    description: str


IMAGE_PRESETS: dict[str, ImagePreset] = {
    "demo": ImagePreset(96, "gray", 12, 3, 48, 40, "96×96 gray, 12→48 channels: the live demo model"),
    "tiny": ImagePreset(64, "gray", 8, 3, 12, 40, "64×64 gray, 8→12 channels: the smallest preset"),
    "wide": ImagePreset(96, "gray", 16, 3, 64, 40, "96×96 gray, 16→64 channels: the accuracy ceiling of the family"),
}


def build_image_cnn(input_size: int, channels: int, n_classes: int, width: int = 8, depth: int = 3,
                    max_channels: int | None = None, dropout: float = 0.2, name: str = "image_cnn") -> Any:
    """A plain tiny CNN: a stride-2 3×3 conv stem, then `depth` stages of 2×2 max pool + 3×3 conv doubling
    the channels (capped at `max_channels`, default 4×width), then Flatten → Dense softmax.

    Full 3×3 convolutions (no depthwise/pointwise split) put nearly every MAC into the kernel the
    Cortex-M DSP path runs fastest (1.2-1.7 emulated instructions per MAC), and each sees whole neighbourhoods across
    channels, which is what locating a faint liquid surface against a container's outline needs.
    Flatten (not global pooling) keeps *where* things are: the fill level is a vertical position.
    Inputs are pixels scaled to [0, 1].
    """
    keras = require("keras", needed_for="training")
    layers = require("keras.layers", needed_for="training")

    if input_size % (2 ** (depth + 1)):
        raise InputError(f"input size {input_size} must be divisible by 2^(depth+1) = {2 ** (depth + 1)}")
    if width < 1 or depth < 1:
        raise InputError("width and depth must be at least 1")
    cap = max_channels or 4 * width
    if cap < width:
        raise InputError(f"max_channels {cap} is below the stem width {width}")

    def conv_bn_relu(x: Any, ch: int, stride: int) -> Any:
        x = layers.Conv2D(ch, 3, strides=stride, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization(momentum=0.9)(x)
        return layers.ReLU()(x)

    inp = keras.Input((input_size, input_size, channels), name="image")
    x = conv_bn_relu(inp, width, 2)
    ch = width
    for _ in range(depth):
        x = layers.MaxPooling2D(2)(x)
        ch = min(ch * 2, cap)
        x = conv_bn_relu(x, ch, 1)
    x = layers.Flatten(name="features")(x)
    x = layers.Dropout(dropout)(x)
    out = layers.Dense(n_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inp, out, name=name)


def build_feature_mlp(n_features: int, n_classes: int, width: int = 32, depth: int = 2,
                      dropout: float = 0.1, name: str = "imu_mlp") -> Any:
    """Dense network on standardized window features: `depth` ReLU layers halving from `width`, then softmax."""
    keras = require("keras", needed_for="training")
    layers = require("keras.layers", needed_for="training")

    if width < 2 or depth < 1:
        raise InputError("width must be at least 2 and depth at least 1")
    inp = keras.Input((n_features,), name="features")
    x = inp
    units = width
    for _ in range(depth):
        x = layers.Dense(units, activation="relu")(x)
        x = layers.Dropout(dropout)(x)
        units = max(4, units // 2)
    out = layers.Dense(n_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inp, out, name=name)


def image_training_wrapper(model: Any, flip: bool = True, shift: float = 0.0) -> Any:
    """Wrap an image model for training on uint8 pixels: scale to [0, 1], then (training only) random
    horizontal flips and, if `shift` > 0, shifts of up to `shift` of the side. Fill levels are
    left-right symmetric, so flips are free extra data; shifts are off by default because their
    reflected borders mirror containers that fill the frame into false tops and bottoms. The wrapped model
    shares its weights with `model`, which is what gets exported (its input stays [0, 1] floats).
    """
    keras = require("keras", needed_for="training")
    layers = require("keras.layers", needed_for="training")

    shape = model.inputs[0].shape[1:]
    inp = keras.Input(shape, dtype="uint8", name="pixels")
    x = layers.Rescaling(1 / 255.0)(inp)
    if flip:
        x = layers.RandomFlip("horizontal")(x)
    if shift:
        x = layers.RandomTranslation(shift, shift, fill_mode="reflect")(x)
    return keras.Model(inp, model(x), name=f"{model.name}_training")


def with_fill_head(model: Any) -> Any:
    """A two-output view of an image CNN for training: {"probabilities": class probabilities, "fill": the
    fill level regressed from the same features}. The continuous fill level is a far richer training
    signal than its bin (it says *how far* from a boundary an image is), which sharpens the features the
    classifier uses; only `model` (the class head) is exported.
    """
    keras = require("keras", needed_for="training")
    layers = require("keras.layers", needed_for="training")

    fill = layers.Dense(1, activation="sigmoid", name="fill")(model.get_layer("features").output)
    return keras.Model(model.input, {"probabilities": model.output, "fill": fill}, name=f"{model.name}_fill")


def masked_fill_loss(y_true: Any, y_pred: Any) -> Any:
    """Squared fill error, ×10, on images with a container; targets < 0 (no container) contribute nothing."""
    ops = require("keras.ops", needed_for="training")

    mask = ops.cast(y_true >= 0, y_pred.dtype)
    return 10.0 * ops.sum(mask * ops.square(y_pred - y_true), axis=-1)
