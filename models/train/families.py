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
    return keras.Model(inp, dense_head(inp, n_classes, width, depth, dropout), name=name)


def dense_head(x: Any, n_classes: int, width: int, depth: int, dropout: float) -> Any:
    """`depth` ReLU Dense layers halving from `width` (at least 4 units), each with dropout, then softmax."""
    from keras import layers

    units = width
    for _ in range(depth):
        x = layers.Dense(units, activation="relu")(x)
        x = layers.Dropout(dropout)(x)
        units = max(4, units // 2)
    return layers.Dense(n_classes, activation="softmax", name="probabilities")(x)


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


def cnn1d_depth(window: int, kernel: int = 5, max_depth: int = 3) -> int:
    """How many stride-2 conv stages a window of `window` samples holds while every kernel still sees at least
    `kernel` real samples (no layer whose kernel sees mostly padding)."""
    depth, length = 0, window
    while depth < max_depth and length >= kernel:
        depth += 1
        length = (length + 1) // 2
    return max(1, depth)


def build_cnn1d(window: int, channels: int, n_classes: int, width: int = 8, depth: int | None = None,
                kernel: int = 5, name: str = "cnn1d") -> Any:
    """A 1-D CNN along time on raw standardised windows (window, channels).

    The window is reshaped to (1, window, channels) so every convolution is a CONV_2D with a 1×kernel
    filter, the shape our compiler's conv kernels run (and TFLite Micro checks bit-exactly): `depth`
    stride-2 1×kernel convs (width, 2·width, 2·width... capped at 4·width) with ReLU, a global average
    over time (MEAN) and a softmax layer. Global pooling keeps the weights independent of the window, so
    the flash stays a few KB whatever the window.
    """
    import keras
    from keras import layers

    if window < 2 or channels < 1 or width < 1:
        raise ValueError(f"cnn1d needs a window ≥ 2, channels ≥ 1 and width ≥ 1 (got {window}, {channels}, {width})")
    depth = depth or cnn1d_depth(window, kernel)
    inp = keras.Input((window, channels), name="window")
    x = layers.Reshape((1, window, channels))(inp)
    ch, length = width, window
    for i in range(depth):
        k = min(kernel, length)  # a kernel never longer than the samples it slides over
        x = layers.Conv2D(ch, (1, k), strides=(1, 2), padding="same", activation="relu", name=f"conv{i}")(x)
        length = (length + 1) // 2
        ch = min(ch * 2, 4 * width)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    out = layers.Dense(n_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inp, out, name=name)


def build_dense_raw(input_shape: tuple[int, ...], n_classes: int, width: int = 16, depth: int = 1,
                    dropout: float = 0.1, name: str = "dense") -> Any:
    """A dense network on a raw window (window, channels) or a tiny image (H, W, C): Flatten, `depth` ReLU
    layers halving from `width`, softmax. For inputs of at most a few hundred values."""
    import keras
    from keras import layers

    inp = keras.Input(input_shape, name="input")
    return keras.Model(inp, dense_head(layers.Flatten()(inp), n_classes, width, depth, dropout), name=name)
