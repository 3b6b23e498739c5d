"""Quantization-aware fine-tuning of every design family, kept only where it pays.

One fake-quantized twin per trained model (`qat_twin`), built layer by layer
to compute in float what the TFLite converter makes of the model:

- a conv followed by batch norm and ReLU (image CNNs) becomes one
  `FoldedConv`: the converter folds the batch norm into the conv's weights
  and bias (w * gamma / sqrt(var + eps), beta - mean * gamma / sqrt(var +
  eps)); the twin does the same with the statistics frozen (a fine-tune of a
  trained model), then fake-quantizes the folded weights per output channel
  (symmetric, -127..127);
- a conv with its own bias and fused ReLU (1-D CNNs: 1 x k CONV_2D) is a
  `FoldedConv` without batch norm; a Dense layer is a `FakeQuantDense`;
- every tensor the int8 model requantizes gets per-tensor asymmetric fake
  quantization: the input, each conv/Dense output (after its fused ReLU), a
  global average (MEAN) and the logits; the softmax output sits on TFLite's
  fixed 1/256 grid. Reshape, Flatten and pooling keep their input's scale in
  TFLite, so the twin adds nothing there; dropout is left out.

Fine-tuning updates kernels, biases and the batch norms' gamma and beta,
which `write_back` copies into the exported model. `apply_qat` is the one
rule for every family: fine-tune on the train + val pool, re-export, and keep
the result only if the int8 model's accuracy on the fine-tune's
early-stopping rows (never the test split) did not drop; otherwise the
post-training files are put back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgeloop import require
from edgeloop.models.design.compress import fake_quant_layers, fake_quant_weights

# Fine-tune settings per data kind: a short run at a low learning rate (images: fewer, costlier epochs).
QAT_FIT = {"images": dict(epochs=10, learning_rate=2e-4, patience=4),
           "imu": dict(epochs=20, learning_rate=3e-4, patience=6)}


def _folded_conv_layer() -> type:
    keras = require("keras")
    ops = require("keras.ops")

    class FoldedConv(keras.layers.Layer):
        """A conv (plain or depthwise) and the frozen batch norm that follows it (or the conv's own bias where
        there is none), folded and fake-quantized per output channel."""

        def __init__(self, conv: Any, bn: Any = None, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.depthwise = isinstance(conv, keras.layers.DepthwiseConv2D)
            self.has_bn = bn is not None
            self.strides, self.padding = conv.strides, conv.padding
            weights = [np.asarray(w) for w in conv.get_weights()]
            kernel = weights[0]
            n_out = kernel.shape[2] * kernel.shape[3] if self.depthwise else kernel.shape[-1]
            if bn is not None:
                self.eps = bn.epsilon
                gamma, beta, mean, var = (np.asarray(w) for w in bn.get_weights())
            else:  # no batch norm: scale 1, and beta is the conv's bias
                self.eps = 0.0
                gamma, mean, var = np.ones(n_out, np.float32), np.zeros(n_out, np.float32), np.ones(n_out, np.float32)
                beta = weights[1] if conv.use_bias else np.zeros(n_out, np.float32)
            self.kernel = self.add_weight(shape=kernel.shape, name="kernel", initializer="zeros")
            self.gamma = self.add_weight(shape=gamma.shape, name="gamma", initializer="ones", trainable=self.has_bn)
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


def qat_twin(model: Any) -> Any:
    """The fake-quantized twin of a design model of any family (weights copied in; see the module docstring)."""
    keras = require("keras")
    L = keras.layers

    FakeQuantActivation, FakeQuantDense = fake_quant_layers()
    FoldedConv = _folded_conv_layer()
    inp = keras.Input(model.inputs[0].shape[1:])
    x = FakeQuantActivation(name="fq_input")(inp)
    layers = model.layers[1:]
    i = 0
    while i < len(layers):
        layer = layers[i]
        if isinstance(layer, (L.Conv2D, L.DepthwiseConv2D)):
            bn = layers[i + 1] if i + 1 < len(layers) and isinstance(layers[i + 1], L.BatchNormalization) else None
            if bn is not None:
                relu = layers[i + 2] if i + 2 < len(layers) else None
                if not isinstance(relu, L.ReLU) or layer.activation is not keras.activations.linear:
                    raise ValueError(f"QAT expects conv -> batch norm -> ReLU, found {layer.name} -> {bn.name}")
                activation: Any = L.ReLU()
                i += 2
            else:
                activation = L.Activation(layer.activation)
            x = FakeQuantActivation(name=f"fq_{layer.name}_out")(activation(FoldedConv(layer, bn,
                                                                                        name=f"fq_{layer.name}")(x)))
        elif isinstance(layer, (L.MaxPooling2D, L.AveragePooling2D, L.Flatten, L.Reshape)):
            x = type(layer).from_config(layer.get_config())(x)  # int8 keeps its input's scale
        elif isinstance(layer, L.GlobalAveragePooling2D):
            x = FakeQuantActivation(name="fq_mean_out")(L.GlobalAveragePooling2D()(x))
        elif isinstance(layer, L.Dropout):
            pass  # a short fine-tune needs no dropout, and the ranges must see deployed activations
        elif isinstance(layer, L.Dense):
            softmax = layer.activation is keras.activations.softmax
            q = FakeQuantDense(layer.units, activation=None if softmax else layer.activation,
                               name=f"fq_{layer.name}")
            x = q(x)
            q.set_weights(layer.get_weights())
            # TFLite keeps a fused ReLU in the FC's int8 output; a softmax reads int8 logits
            x = FakeQuantActivation(name=f"fq_{layer.name}_out")(x)
            if softmax:
                x = L.Lambda(softmax_int8_grid, name="fq_softmax")(L.Softmax()(x))
        else:
            raise ValueError(f"quantization-aware fine-tuning does not know layer {layer.name} "
                             f"({type(layer).__name__})")
        i += 1
    return keras.Model(inp, x, name=f"{model.name}_qat")


def write_back(model: Any, twin: Any) -> None:
    """Copy the fine-tuned kernels, biases, gammas and betas of the twin into the original model (batch norm
    statistics unchanged)."""
    keras = require("keras")

    layers = model.layers
    for i, layer in enumerate(layers):
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)):
            folded = twin.get_layer(f"fq_{layer.name}")
            if folded.has_bn:
                layer.set_weights([np.asarray(folded.kernel)])
                gamma, beta, mean, var = layers[i + 1].get_weights()
                layers[i + 1].set_weights([np.asarray(folded.gamma), np.asarray(folded.beta), mean, var])
            else:
                layer.set_weights([np.asarray(folded.kernel)] + ([np.asarray(folded.beta)] if layer.use_bias else []))
        elif isinstance(layer, keras.layers.Dense):
            layer.set_weights(twin.get_layer(f"fq_{layer.name}").get_weights())


def qat_finetune(model: Any, kind: str, x: np.ndarray, y: np.ndarray, x_val: np.ndarray, y_val: np.ndarray,
                 seed: int = 0) -> Any:
    """Fine-tune `model` with fake quantization; its weights are updated in place.

    `x` is what training feeds the family: uint8 pixels for images (scaled and flipped by the training
    wrapper, as `edgeloop train` does), standardised features or windows for time series.
    """
    from edgeloop.models.train.common import FitConfig, fit, setup_tensorflow
    from edgeloop.models.train.families import image_training_wrapper

    setup_tensorflow(seed)
    twin = qat_twin(model)
    images = kind == "images"
    warm = x[: min(len(x), 256)].astype(np.float32)
    twin(warm / 255.0 if images else warm, training=True)  # ranges set before the first update
    fit(image_training_wrapper(twin) if images else twin, x, y, x_val, y_val,
        FitConfig(batch_size=64, progress=False, **QAT_FIT[kind]), desc="qat")
    write_back(model, twin)
    return model


def apply_qat(td: Any, family: str, params: dict[str, Any], model_dir: Path, name: str, seed: int) -> dict[str, Any]:
    """Fine-tune the exported model with fake quantization on the train + val pool and re-export it in place,
    kept only where it pays: its int8 accuracy on the fine-tune's early-stopping rows (never the test split)
    must not drop; otherwise the post-training files are put back. Returns what was done."""
    import shutil
    import tempfile

    keras = require("keras")

    from edgeloop.models.design import adapter
    from edgeloop.models.design.finalize import exported_input
    from edgeloop.models.design.search import _inner_val
    from edgeloop.models.quantize import export_model, read_meta
    from edgeloop.models.report import Int8Model

    model_dir = Path(model_dir)
    model = keras.models.load_model(model_dir / f"{name}.keras", compile=False)
    dev, _ = td.arrays(params, family)
    fit_idx, val_idx = _inner_val(dev, np.arange(len(dev.y)), seed)
    prepare = exported_input(td, family, model_dir, name)
    x_val = prepare(dev.x[val_idx])

    def int8_val_accuracy() -> float:
        probs = Int8Model((model_dir / f"{name}.tflite").read_bytes()).predict(x_val)
        return float(np.mean(probs.argmax(-1) == dev.y[val_idx]))

    images = td.kind == "images"
    # training inputs: uint8 pixels for the image wrapper, else the exported model's own input
    x_fit, x_stop = ((dev.x[fit_idx], dev.x[val_idx]) if images else (prepare(dev.x[fit_idx]), x_val))
    before = int8_val_accuracy()
    with tempfile.TemporaryDirectory(prefix="edgeloop-qat-") as keep:
        for f in model_dir.glob(f"{name}*"):
            if f.is_file():
                shutil.copy2(f, keep)
        qat_finetune(model, td.kind, x_fit, dev.y[fit_idx], x_stop, dev.y[val_idx], seed=seed)
        meta = read_meta(model_dir / f"{name}.tflite")
        calibration = adapter.calibration_images(dev.x[fit_idx], seed) if images else x_fit
        export_model(model, calibration, model_dir, name, meta, seed=seed)
        after = int8_val_accuracy()
        figures = {"qat_int8_val_accuracy_before": before, "qat_int8_val_accuracy_after": after}
        if after < before:
            for f in Path(keep).iterdir():
                shutil.copy2(f, model_dir / f.name)
            return {**figures, "qat_applied": False,
                    "qat_why": f"did not pay: int8 accuracy on the early-stopping rows fell from {100 * before:.1f} "
                               f"to {100 * after:.1f} %; the post-training int8 model is kept"}
    how = ("batch norm folded into fake-quantized convolutions" if family == "image_cnn" else "fake-quantized weights")
    return {**figures, "qat_applied": True,
            "qat_why": f"fine-tuned with {how} (per-channel weights, per-tensor activations), re-exported: int8 "
                       f"accuracy on the early-stopping rows {100 * before:.1f} -> {100 * after:.1f} %"}
