"""The MLPerf Tiny reference architectures, built in Keras from their published descriptions.

Four network classes the kernels are measured on (bench/compiler.py, `networks`):

- ResNet-8 (image classification, CIFAR-10 32x32x3): a 16-channel 3x3 stem, three residual
  stacks of 16, 32 and 64 channels (the last two start with stride 2 and a 1x1 stride-2
  shortcut convolution), an 8x8 average pool and a 10-way dense layer; 12.5 M MACs.
- MobileNetV1 alpha 0.25 (visual wake words, 96x96x3): a stride-2 3x3 stem of 8 channels and
  13 depthwise-separable blocks (depthwise 3x3 + pointwise 1x1, stride 2 at blocks 2, 4, 6
  and 12) up to 256 channels, a 3x3 average pool and a 2-way dense layer; 7.5 M MACs.
- DS-CNN small (keyword spotting, 49x10 MFCC): a 10x4 stride-2 convolution of 64 channels,
  four depthwise-separable blocks of 64 channels, a 25x5 average pool and a 12-way dense
  layer; 2.7 M MACs.
- FC autoencoder (anomaly detection, 640 = 5 frames x 128 mel bins): 640 -> 128 x 4 -> 8 ->
  128 x 4 -> 640, batch normalization and ReLU between the dense layers; 264 k MACs.

Weights are random (Keras' initializers under a fixed seed, batch-norm statistics drawn from a
fixed generator so that folding them changes the scales) and calibration uses fixed uniform data:
the requantization shifts, and with them the kernel paths taken, are the same on every run.
"""

from __future__ import annotations

import os

import numpy as np

SEED = 18
CALIBRATION_SAMPLES = 32


def _bn_relu(x, layers, rng: np.random.Generator, relu: bool = True):
    """Batch normalization with drawn (not identity) statistics, then ReLU."""
    bn = layers.BatchNormalization()
    x = bn(x)
    c = bn.gamma.shape[0]
    bn.set_weights([rng.uniform(0.6, 1.4, c).astype(np.float32), rng.normal(0, 0.1, c).astype(np.float32),
                    rng.normal(0, 0.1, c).astype(np.float32), rng.uniform(0.5, 1.5, c).astype(np.float32)])
    return layers.Activation("relu")(x) if relu else x


def resnet8():
    import tensorflow as tf
    from tensorflow.keras import layers

    rng = np.random.default_rng(SEED)
    inp = layers.Input((32, 32, 3))
    x = _bn_relu(layers.Conv2D(16, 3, padding="same")(inp), layers, rng)
    for filters, stride in ((16, 1), (32, 2), (64, 2)):
        y = _bn_relu(layers.Conv2D(filters, 3, strides=stride, padding="same")(x), layers, rng)
        y = _bn_relu(layers.Conv2D(filters, 3, padding="same")(y), layers, rng, relu=False)
        if stride != 1:
            x = layers.Conv2D(filters, 1, strides=stride, padding="same")(x)
        x = layers.Activation("relu")(layers.Add()([x, y]))
    x = layers.Flatten()(layers.AveragePooling2D(8)(x))
    out = layers.Dense(10, activation="softmax")(x)
    return tf.keras.Model(inp, out, name="resnet8")


def mobilenet_v1_025():
    import tensorflow as tf
    from tensorflow.keras import layers

    rng = np.random.default_rng(SEED)
    inp = layers.Input((96, 96, 3))
    x = _bn_relu(layers.Conv2D(8, 3, strides=2, padding="same", use_bias=False)(inp), layers, rng)
    for filters, stride in ((16, 1), (32, 2), (32, 1), (64, 2), (64, 1), (128, 2), (128, 1), (128, 1),
                            (128, 1), (128, 1), (128, 1), (256, 2), (256, 1)):
        x = _bn_relu(layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False)(x), layers, rng)
        x = _bn_relu(layers.Conv2D(filters, 1, use_bias=False)(x), layers, rng)
    x = layers.Flatten()(layers.AveragePooling2D(3)(x))
    out = layers.Dense(2, activation="softmax")(x)
    return tf.keras.Model(inp, out, name="mobilenet_v1_025")


def ds_cnn():
    import tensorflow as tf
    from tensorflow.keras import layers

    rng = np.random.default_rng(SEED)
    inp = layers.Input((49, 10, 1))
    x = _bn_relu(layers.Conv2D(64, (10, 4), strides=2, padding="same")(inp), layers, rng)
    for _ in range(4):
        x = _bn_relu(layers.DepthwiseConv2D(3, padding="same")(x), layers, rng)
        x = _bn_relu(layers.Conv2D(64, 1)(x), layers, rng)
    x = layers.Flatten()(layers.AveragePooling2D((25, 5))(x))
    out = layers.Dense(12, activation="softmax")(x)
    return tf.keras.Model(inp, out, name="ds_cnn")


def fc_autoencoder():
    import tensorflow as tf
    from tensorflow.keras import layers

    rng = np.random.default_rng(SEED)
    inp = layers.Input((640,))
    x = inp
    for units in (128, 128, 128, 128, 8, 128, 128, 128, 128):
        x = _bn_relu(layers.Dense(units)(x), layers, rng)
    out = layers.Dense(640)(x)
    return tf.keras.Model(inp, out, name="fc_autoencoder")


NETWORKS = {"resnet8": resnet8, "mobilenet_v1_025": mobilenet_v1_025, "ds_cnn": ds_cnn,
            "fc_autoencoder": fc_autoencoder}


def reference_networks(only: str = "") -> dict[str, bytes]:
    """Each network int8 post-training quantized (fixed seed and calibration data): name -> .tflite."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    from edgeloop.models.quantize import to_tflite_int8

    out = {}
    for name, build in NETWORKS.items():
        if not f"net/{name}".startswith(only) and not only.startswith(f"net/{name}"):
            continue
        tf.keras.utils.set_random_seed(SEED)
        model = build()
        shape = tuple(model.input.shape[1:])
        rep = np.random.default_rng(SEED + 1).uniform(-1, 1, (CALIBRATION_SAMPLES, *shape)).astype(np.float32)
        out[f"net/{name}"] = to_tflite_int8(model, rep)
    return out
