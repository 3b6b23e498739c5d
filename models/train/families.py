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


# The 2-D CNN's architecture choices (recipe fields `pool`, `head`, `block`, `stem_stride`): each maps onto ops our
# compiler runs bit-exactly against TFLite Micro (tests/compiler/test_image_cnn_variants.py).
IMAGE_POOLS: dict[str, str] = {
    "max": "2×2 max pooling before each block's conv (MAX_POOL_2D)",
    "avg": "2×2 average pooling before each block's conv (AVERAGE_POOL_2D)",
    "stride": "no pooling: each block's conv has stride 2",
}
IMAGE_HEADS: dict[str, str] = {
    "flatten": "Flatten → softmax: keeps where things are (a fill level is a vertical position); weights grow with "
               "the last map",
    "gap": "global average (MEAN) → softmax: as many head weights as channels, whatever the input side",
}
IMAGE_BLOCKS: dict[str, str] = {
    "plain": "full 3×3 convolutions (CONV_2D)",
    "separable": "depthwise 3×3 + pointwise 1×1 (DEPTHWISE_CONV_2D + CONV_2D): about 1/8 of the weights and MACs",
}


def image_cnn_downsamplings(depth: int, stem_stride: int = 2) -> int:
    """How many times the image CNN halves its maps: once per block, once more for a stride-2 stem."""
    return depth + (1 if stem_stride == 2 else 0)


def image_cnn_max_depth(side: int, stem_stride: int = 2) -> int:
    """Deepest image CNN for this side: every halving divides the side evenly and the last map stays at least
    2×2 (no 3×3 kernel that sees mostly padding). 0 when not even one block fits."""
    depth = 0
    while side % 2 ** image_cnn_downsamplings(depth + 1, stem_stride) == 0 \
            and side // 2 ** image_cnn_downsamplings(depth + 1, stem_stride) >= 2:
        depth += 1
    return depth


def image_cnn_channels(width: int, depth: int, max_channels: int | None = None) -> list[int]:
    """Output channels of the stem and of each block: `width`, then doubling, capped at `max_channels`
    (default 4×width). A recipe's `channels` (e.g. after pruning) replaces this list."""
    cap = max_channels or 4 * width
    out = [width]
    for _ in range(depth):
        out.append(min(out[-1] * 2, cap))
    return out


def build_image_cnn(input_size: int, channels: int, n_classes: int, width: int = 8, depth: int = 3,
                    max_channels: int | None = None, dropout: float = 0.2, name: str = "image_cnn", *,
                    stem_stride: int = 2, pool: str = "max", head: str = "flatten", block: str = "plain",
                    widths: list[int] | None = None) -> Any:
    """A tiny CNN: a 3×3 conv stem (stride `stem_stride`), then `depth` blocks that halve the map (2×2 max or
    average pooling, or a stride-2 conv: `pool`) and convolve (a full 3×3 conv, or depthwise 3×3 + pointwise
    1×1: `block`), the channels doubling from `width` up to `max_channels` (default 4×width), each conv with
    batch norm and ReLU; then Flatten or a global average (`head`) → Dense softmax. `widths` gives every conv's
    output channels explicitly (stem first, `depth` + 1 values; a pruned net), overriding width/max_channels.

    The defaults are the zoo presets' net: full 3×3 convolutions put nearly every MAC into the kernel the
    Cortex-M DSP path runs fastest (1.2-1.7 emulated instructions per MAC), and each sees whole
    neighbourhoods across channels, which is what locating a faint liquid surface against a container's
    outline needs; Flatten (not global pooling) keeps *where* things are: the fill level is a vertical
    position. Inputs are pixels scaled to [0, 1].
    """
    keras = require("keras", needed_for="training")
    layers = require("keras.layers", needed_for="training")

    for knob, value, allowed in (("pool", pool, IMAGE_POOLS), ("head", head, IMAGE_HEADS),
                                 ("block", block, IMAGE_BLOCKS)):
        if value not in allowed:
            raise InputError(f"image CNN {knob} {value!r} is unknown; choose one of {', '.join(allowed)}")
    if stem_stride not in (1, 2):
        raise InputError(f"the stem stride must be 1 or 2, got {stem_stride}")
    if width < 1 or depth < 1:
        raise InputError("width and depth must be at least 1")
    halvings = image_cnn_downsamplings(depth, stem_stride)
    if input_size % (2 ** halvings):
        raise InputError(f"input size {input_size} must be divisible by 2^{halvings} = {2 ** halvings} "
                         f"(depth {depth}{' and a stride-2 stem' if stem_stride == 2 else ''})")
    if widths is None:
        if max_channels is not None and max_channels < width:
            raise InputError(f"max_channels {max_channels} is below the stem width {width}")
        widths = image_cnn_channels(width, depth, max_channels)
    elif len(widths) != depth + 1 or min(widths) < 1:
        raise InputError(f"channels {list(widths)} must give {depth + 1} positive counts (the stem and {depth} "
                         "block(s))")

    def bn_relu(x: Any) -> Any:
        return layers.ReLU()(layers.BatchNormalization(momentum=0.9)(x))

    def conv(x: Any, ch: int, stride: int, separable: bool) -> Any:
        if separable:
            x = bn_relu(layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False)(x))
            return bn_relu(layers.Conv2D(ch, 1, use_bias=False)(x))
        return bn_relu(layers.Conv2D(ch, 3, strides=stride, padding="same", use_bias=False)(x))

    inp = keras.Input((input_size, input_size, channels), name="image")
    x = conv(inp, widths[0], stem_stride, False)  # a depthwise stem on 1-3 input channels would see too little
    for ch in widths[1:]:
        if pool == "max":
            x = layers.MaxPooling2D(2)(x)
        elif pool == "avg":
            x = layers.AveragePooling2D(2)(x)
        x = conv(x, ch, 2 if pool == "stride" else 1, block == "separable")
    if head == "gap":
        x = layers.GlobalAveragePooling2D(name="features")(x)
    else:
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
    layers = require("keras.layers", needed_for="training")

    units = width
    for _ in range(depth):
        x = layers.Dense(units, activation="relu")(x)
        x = layers.Dropout(dropout)(x)
        units = max(4, units // 2)
    return layers.Dense(n_classes, activation="softmax", name="probabilities")(x)


def image_training_wrapper(model: Any, flip: bool = True, shift: float = 0.0, centring: Any = None) -> Any:
    """Wrap an image model for training on uint8 pixels: scale to [0, 1], then (training only) random
    horizontal flips and, if `shift` > 0, shifts of up to `shift` of the side. Fill levels are
    left-right symmetric, so flips are free extra data; shifts are off by default because their
    reflected borders mirror containers that fill the frame into false tops and bottoms. The wrapped model
    shares its weights with `model`, which is what gets exported (its input stays [0, 1] floats).
    `centring` (a `pixel_centring.PixelCentring`, dense nets only) centres the pixels last; the caller folds
    it into `model` after training (`pixel_centring.centred_training` does both).
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
    if centring is not None:
        x = centring.layer()(x)
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
    keras = require("keras", needed_for="training")
    layers = require("keras.layers", needed_for="training")

    if window < 2 or channels < 1 or width < 1:
        raise InputError(f"cnn1d needs a window ≥ 2, channels ≥ 1 and width ≥ 1 (got {window}, {channels}, {width})")
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
    keras = require("keras", needed_for="training")
    layers = require("keras.layers", needed_for="training")

    inp = keras.Input(input_shape, name="input")
    return keras.Model(inp, dense_head(layers.Flatten()(inp), n_classes, width, depth, dropout), name=name)
