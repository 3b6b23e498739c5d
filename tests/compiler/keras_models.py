"""Seeded random Keras models of varied topology, converted to fully int8 .tflite.

Shared by make_fixtures.py (the committed corpus in fixtures/) and by the
tests that convert a few fresh models. TensorFlow is imported lazily: it
takes seconds.
"""

from __future__ import annotations

import os

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _tf():
    import tensorflow as tf

    return tf


def _conv_block(tf, rng, x, allow_dw: bool = True):
    L = tf.keras.layers
    kind = rng.choice(["conv", "dw", "sep"] if allow_dw else ["conv"])
    act = str(rng.choice(["relu", "relu6", None]))
    filters = int(rng.choice([4, 6, 8, 12]))
    k = int(rng.choice([1, 3, 5]))
    stride = int(rng.choice([1, 1, 2]))
    padding = str(rng.choice(["same", "valid"]))
    # Dilation is left out: the converter emits SPACE_TO_BATCH_ND for it, which TFLM pads with
    # uninitialized memory; test_ops covers that pattern against an equivalent dilated conv.
    dil = 1
    if padding == "valid" and min(x.shape[1], x.shape[2]) < (k - 1) * dil + 2:
        padding = "same"
    if kind == "conv":
        x = L.Conv2D(filters, k, strides=stride, padding=padding, dilation_rate=dil)(x)
    elif kind == "dw":
        x = L.DepthwiseConv2D(k, strides=stride, padding=padding, dilation_rate=dil,
                              depth_multiplier=int(rng.choice([1, 1, 2])))(x)
    else:
        x = L.DepthwiseConv2D(k, strides=stride, padding=padding)(x)
        x = L.Conv2D(filters, 1)(x)
    if act == "relu":
        x = L.ReLU()(x)
    elif act == "relu6":
        x = L.ReLU(6.0)(x)
    return x


def random_model(seed: int):
    """Build a random Keras CNN/MLP (functional API) and return (model, input_shape)."""
    tf = _tf()
    L = tf.keras.layers
    rng = np.random.default_rng(seed)
    tf.keras.utils.set_random_seed(seed)
    family = seed % 4
    if family == 3:  # dense network on feature vectors (IMU features)
        n_in = int(rng.choice([6, 18, 27]))
        inp = tf.keras.Input((n_in,))
        x = inp
        for _ in range(int(rng.integers(1, 4))):
            x = L.Dense(int(rng.choice([8, 16, 24])), activation=str(rng.choice(["relu", "relu6"])))(x)
        if rng.random() < 0.5:
            out = L.Dense(1, activation="sigmoid")(x)
        else:
            out = L.Dense(int(rng.integers(2, 7)), activation="softmax")(x)
        return tf.keras.Model(inp, out), (n_in,)
    if family == 2:  # 1-D convolutions over an IMU window
        win, ch = int(rng.choice([32, 48])), int(rng.choice([3, 6]))
        inp = tf.keras.Input((win, ch))
        x = inp
        for _ in range(int(rng.integers(1, 3))):
            x = L.Conv1D(int(rng.choice([8, 12])), int(rng.choice([3, 5])), strides=int(rng.choice([1, 2])),
                         padding=str(rng.choice(["same", "valid"])), activation="relu")(x)
            if rng.random() < 0.5:
                x = L.MaxPooling1D(2)(x)
        x = L.GlobalAveragePooling1D()(x) if rng.random() < 0.6 else L.Flatten()(x)
        out = L.Dense(int(rng.integers(2, 6)), activation="softmax")(x)
        return tf.keras.Model(inp, out), (win, ch)
    # image CNN with branches
    size = int(rng.choice([12, 16, 20]))
    chans = int(rng.choice([1, 3]))
    inp = tf.keras.Input((size, size, chans))
    x = inp
    if rng.random() < 0.3:
        x = L.ZeroPadding2D(((1, 0), (0, 1)))(x)
    x = L.Conv2D(8, 3, padding="same", activation="relu")(x)
    for _ in range(int(rng.integers(1, 4))):
        choice = rng.random()
        if choice < 0.25 and x.shape[1] > 2:
            x = (L.MaxPooling2D if rng.random() < 0.5 else L.AveragePooling2D)(
                int(rng.choice([2, 3])), strides=2, padding=str(rng.choice(["same", "valid"])))(x)
        elif choice < 0.45:  # residual block
            y = L.Conv2D(x.shape[-1], 3, padding="same", activation="relu")(x)
            x = L.ReLU()(L.Add()([x, y]))
        elif choice < 0.6:  # two branches, concatenated
            a = L.Conv2D(4, 1, activation="relu")(x)
            b = L.Conv2D(4, 3, padding="same", activation="relu")(x)
            x = L.Concatenate()([a, b])
        elif choice < 0.7:  # squeeze-excite style gating (MEAN, LOGISTIC, MUL)
            g = L.GlobalAveragePooling2D(keepdims=True)(x)
            g = L.Conv2D(x.shape[-1], 1, activation="sigmoid")(g)
            x = L.Multiply()([x, g])
        else:
            x = _conv_block(tf, rng, x)
    if rng.random() < 0.5:
        x = L.GlobalAveragePooling2D()(x)
    else:
        x = L.Flatten()(x)
    if rng.random() < 0.3:
        x = L.Dense(16, activation="relu")(x)
    out = L.Dense(int(rng.integers(2, 7)), activation="softmax")(x)
    return tf.keras.Model(inp, out), (size, size, chans)


def convert_int8(model, input_shape: tuple[int, ...], seed: int, float_io: bool = False) -> bytes:
    """Full-integer quantization with a seeded representative dataset."""
    tf = _tf()
    rng = np.random.default_rng(seed + 1000)
    samples = [rng.normal(0, 1, (1, *input_shape)).astype(np.float32) for _ in range(40)]

    def representative():
        for s in samples:
            yield [s]

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if not float_io:
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    return conv.convert()


def random_tflite(seed: int) -> bytes:
    """One seeded random model as int8 .tflite (every 5th seed keeps float input/output)."""
    model, shape = random_model(seed)
    return convert_int8(model, shape, seed, float_io=(seed % 5 == 4))
