"""Quantization-aware fine-tuning of image CNNs, with batch norm folded into the fake-quantized convolutions.

The TFLite converter folds each conv's batch norm into its weights and bias
(w * gamma / sqrt(var + eps), beta - mean * gamma / sqrt(var + eps)), fuses
the ReLU, and quantizes the folded weights per output channel (symmetric,
-127..127) and the conv's output per tensor (asymmetric). The twin built here
computes exactly that in float: a `FoldedConv` per conv + batch norm pair
(with the batch norm's statistics frozen, as a fine-tune of a trained model
does), fake-quantized folded weights, the ReLU, then per-tensor fake
quantization of the output. Pooling keeps its input's int8 scale in TFLite
(no quantization step); a global average (MEAN) and the logits get their own.
Fine-tuning updates the kernels and the batch norms' gamma and beta, which
are written back into the exported model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgeloop import require
from edgeloop.models.design.compress import fake_quant_layers, fake_quant_weights


def _folded_conv_layer() -> type:
    keras = require("keras")
    ops = require("keras.ops")

    class FoldedConv(keras.layers.Layer):
        """conv (plain or depthwise) + frozen batch norm, folded and fake-quantized per output channel."""

        def __init__(self, conv: Any, bn: Any, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.depthwise = isinstance(conv, keras.layers.DepthwiseConv2D)
            self.strides, self.padding, self.eps = conv.strides, conv.padding, bn.epsilon
            kernel = np.asarray(conv.get_weights()[0])
            gamma, beta, mean, var = (np.asarray(w) for w in bn.get_weights())
            self.kernel = self.add_weight(shape=kernel.shape, name="kernel", initializer="zeros")
            self.gamma = self.add_weight(shape=gamma.shape, name="gamma", initializer="ones")
            self.beta = self.add_weight(shape=beta.shape, name="beta", initializer="zeros")
            self.mean = self.add_weight(shape=mean.shape, name="mean", initializer="zeros", trainable=False)
            self.var = self.add_weight(shape=var.shape, name="var", initializer="ones", trainable=False)
            for w, value in ((self.kernel, kernel), (self.gamma, gamma), (self.beta, beta), (self.mean, mean),
                             (self.var, var)):
                w.assign(value)

        def call(self, x: Any) -> Any:
            scale = self.gamma / ops.sqrt(self.var + self.eps)
            if self.depthwise:  # kernel (kh, kw, channels, 1): the channel axis is 2
                w = fake_quant_weights(self.kernel * scale[None, None, :, None], axis=2)
                y = ops.depthwise_conv(x, w, strides=self.strides, padding=self.padding)
            else:
                w = fake_quant_weights(self.kernel * scale)
                y = ops.conv(x, w, strides=self.strides, padding=self.padding)
            return y + (self.beta - self.mean * scale)

    return FoldedConv


def softmax_int8_grid(p: Any) -> Any:
    """TFLite's int8 softmax output: scale 1/256, zero point -128 (probabilities on a 1/256 grid, at most 255/256)."""
    ops = require("keras.ops")

    q = ops.clip(ops.round(p * 256.0), 0.0, 255.0) / 256.0
    return p + ops.stop_gradient(q - p)


def qat_image_model(model: Any) -> Any:
    """The fake-quantized twin of a `build_image_cnn` model (weights copied in; see the module docstring)."""
    keras = require("keras")

    FakeQuantActivation, FakeQuantDense = fake_quant_layers()
    FoldedConv = _folded_conv_layer()
    inp = keras.Input(model.inputs[0].shape[1:])
    x = FakeQuantActivation(name="fq_input")(inp)
    layers = model.layers[1:]
    i = 0
    while i < len(layers):
        layer = layers[i]
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)):
            bn, relu = layers[i + 1], layers[i + 2]
            if not isinstance(bn, keras.layers.BatchNormalization) or not isinstance(relu, keras.layers.ReLU):
                raise ValueError(f"QAT expects conv -> batch norm -> ReLU, found {layer.name} -> {bn.name}")
            x = FoldedConv(layer, bn, name=f"fq_{layer.name}")(x)
            x = FakeQuantActivation(name=f"fq_{layer.name}_out")(keras.layers.ReLU()(x))
            i += 3
            continue
        if isinstance(layer, (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D, keras.layers.Flatten)):
            x = type(layer).from_config(layer.get_config())(x)  # int8 pooling keeps its input's scale
        elif isinstance(layer, keras.layers.GlobalAveragePooling2D):
            x = FakeQuantActivation(name="fq_mean_out")(keras.layers.GlobalAveragePooling2D()(x))
        elif isinstance(layer, keras.layers.Dropout):
            pass  # a short fine-tune needs no dropout, and the ranges must see deployed activations
        elif isinstance(layer, keras.layers.Dense):
            q = FakeQuantDense(layer.units, activation=None, name=f"fq_{layer.name}")
            x = q(x)
            q.set_weights(layer.get_weights())
            x = keras.layers.Softmax()(FakeQuantActivation(name=f"fq_{layer.name}_out")(x))
            x = keras.layers.Lambda(softmax_int8_grid, name="fq_softmax")(x)
        else:
            raise ValueError(f"quantization-aware fine-tuning does not know layer {layer.name} "
                             f"({type(layer).__name__})")
        i += 1
    return keras.Model(inp, x, name=f"{model.name}_qat")


def write_back(model: Any, twin: Any) -> None:
    """Copy the fine-tuned kernels, gammas and betas of the twin into the original model (statistics unchanged)."""
    keras = require("keras")

    layers = model.layers
    for i, layer in enumerate(layers):
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)):
            folded = twin.get_layer(f"fq_{layer.name}")
            layer.set_weights([np.asarray(folded.kernel)])
            gamma, beta, mean, var = layers[i + 1].get_weights()
            layers[i + 1].set_weights([np.asarray(folded.gamma), np.asarray(folded.beta), mean, var])
        elif isinstance(layer, keras.layers.Dense):
            layer.set_weights(twin.get_layer(f"fq_{layer.name}").get_weights())


def qat_finetune_image(model: Any, x: np.ndarray, y: np.ndarray, x_val: np.ndarray, y_val: np.ndarray,
                       epochs: int = 10, seed: int = 0) -> Any:
    """Fine-tune an image CNN with fake quantization on uint8 pixels; `model`'s weights are updated in place."""
    from edgeloop.models.train.common import FitConfig, fit, setup_tensorflow
    from edgeloop.models.train.families import image_training_wrapper

    setup_tensorflow(seed)
    twin = qat_image_model(model)
    twin(x[: min(len(x), 256)].astype(np.float32) / 255.0, training=True)  # ranges set before the first update
    fit(image_training_wrapper(twin), x, y, x_val, y_val,
        FitConfig(epochs=epochs, batch_size=64, learning_rate=2e-4, patience=4, progress=False), desc="qat")
    write_back(model, twin)
    return model


def apply_qat_image(td: Any, params: dict[str, Any], model_dir: Path, name: str, seed: int) -> dict[str, Any]:
    """Fine-tune the exported image CNN with fake quantization on the train + val pool and re-export it in place,
    kept only where it pays: its int8 accuracy on the fine-tune's early-stopping rows (never the test split) must
    not drop; otherwise the post-training files are put back."""
    import shutil
    import tempfile

    keras = require("keras")

    from edgeloop.models.design import adapter
    from edgeloop.models.design.search import _inner_val
    from edgeloop.models.quantize import export_model, read_meta
    from edgeloop.models.report import Int8Model

    model = keras.models.load_model(model_dir / f"{name}.keras", compile=False)
    dev, _ = td.arrays(params)
    fit_idx, val_idx = _inner_val(dev, np.arange(len(dev.y)), seed)
    x_val = adapter.model_input(td.kind, dev.x[val_idx])

    def int8_val_accuracy() -> float:
        probs = Int8Model((model_dir / f"{name}.tflite").read_bytes()).predict(x_val)
        return float(np.mean(probs.argmax(-1) == dev.y[val_idx]))

    before = int8_val_accuracy()
    with tempfile.TemporaryDirectory(prefix="edgeloop-qat-") as keep:
        for f in model_dir.glob(f"{name}*"):
            if f.is_file():
                shutil.copy2(f, keep)
        qat_finetune_image(model, dev.x[fit_idx], dev.y[fit_idx], dev.x[val_idx], dev.y[val_idx], seed=seed)
        meta = read_meta(model_dir / f"{name}.tflite")
        export_model(model, adapter.calibration_images(dev.x[fit_idx], seed), model_dir, name, meta, seed=seed)
        after = int8_val_accuracy()
        figures = {"qat_int8_val_accuracy_before": before, "qat_int8_val_accuracy_after": after}
        if after < before:
            for f in Path(keep).iterdir():
                shutil.copy2(f, model_dir / f.name)
            return {**figures, "qat_applied": False,
                    "qat_why": f"did not pay: int8 accuracy on the early-stopping rows fell from {100 * before:.1f} "
                               f"to {100 * after:.1f} %; the post-training int8 model is kept"}
    return {**figures, "qat_applied": True,
            "qat_why": "fine-tuned with batch norm folded into fake-quantized convolutions (per-channel weights, "
                       f"per-tensor activations), re-exported: int8 accuracy on the early-stopping rows "
                       f"{100 * before:.1f} -> {100 * after:.1f} %"}
