"""Small trained-model files of every source format the importers read, built in seconds.

One Keras network is saved as .keras, .h5, a SavedModel, a float .tflite and
(through tf2onnx) ONNX. A second, PyTorch-style ONNX graph (NCHW input,
Conv + BatchNormalization, Flatten + Gemm) is written with onnx.helper and
quantized to QDQ with onnxruntime.quantization, as a user's pipeline would.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# format -> (source key, calibration key): every source the importers read
SOURCES = {
    "keras": ("keras", "calib"), "h5": ("h5", "calib"), "savedmodel": ("savedmodel", "calib"),
    "tflite-float": ("tflite-float", "calib"), "onnx-float": ("onnx-float", "calib"),
    "onnx-nchw": ("onnx-nchw", "calib_nchw"), "onnx-qdq": ("onnx-qdq", "calib_nchw"),
}

KERAS_SHAPE = (12, 12, 3)
NCHW_SHAPE = (3, 10, 10)
CLASSES = 4


def keras_model():
    """Conv+ReLU, strided depthwise+ReLU6, 1x1 conv, flatten, dense softmax; non-zero biases."""
    import keras

    keras.utils.set_random_seed(3)
    L = keras.layers
    inp = keras.Input(KERAS_SHAPE)
    x = L.Conv2D(6, 3, padding="same", activation="relu")(inp)
    x = L.DepthwiseConv2D(3, strides=2, padding="same")(x)
    x = L.ReLU(6.0)(x)
    x = L.Conv2D(8, 1)(x)
    x = L.Flatten()(x)
    out = L.Dense(CLASSES, activation="softmax")(x)
    model = keras.Model(inp, out)
    rng = np.random.default_rng(3)
    model.set_weights([w if w.ndim > 1 else rng.normal(0, 0.1, w.shape).astype(np.float32)
                       for w in model.get_weights()])
    return model


def nchw_onnx(path: Path) -> None:
    """A PyTorch-style float graph: NCHW input, Conv+BN+ReLU, MaxPool, Flatten, Gemm(transB), Softmax."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(5)
    c, h, w = NCHW_SHAPE
    inits = {
        "w1": rng.normal(0, 0.3, (5, c, 3, 3)).astype(np.float32), "b1": rng.normal(0, 0.1, 5).astype(np.float32),
        "gamma": rng.uniform(0.5, 1.5, 5).astype(np.float32), "beta": rng.normal(0, 0.1, 5).astype(np.float32),
        "mean": rng.normal(0, 0.1, 5).astype(np.float32), "var": rng.uniform(0.5, 1.5, 5).astype(np.float32),
        "w2": rng.normal(0, 0.2, (CLASSES, 5 * (h // 2) * (w // 2))).astype(np.float32),
        "b2": rng.normal(0, 0.1, CLASSES).astype(np.float32),
    }
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
        helper.make_node("BatchNormalization", ["c1", "gamma", "beta", "mean", "var"], ["bn"], epsilon=1e-5),
        helper.make_node("Relu", ["bn"], ["r1"]),
        helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p1"], ["f"], axis=1),
        helper.make_node("Gemm", ["f", "w2", "b2"], ["logits"], transB=1),
        helper.make_node("Softmax", ["logits"], ["probs"], axis=-1),
    ]
    graph = helper.make_graph(nodes, "nchw_net", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                                ["batch", c, h, w])],
                              [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["batch", CLASSES])],
                              [numpy_helper.from_array(v, k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def qdq_from(float_onnx: Path, path: Path, calib: np.ndarray) -> None:
    """Quantize a float ONNX file to QDQ (int8 activations, per-channel int8 weights) with onnxruntime,
    after its recommended pre-processing (shape inference, BatchNormalization folded into the Conv)."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    prepared = path.with_name(path.stem + "_prepared.onnx")
    quant_pre_process(str(float_onnx), str(prepared), skip_symbolic_shape=True)
    float_onnx = prepared

    name = onnx.load(str(float_onnx)).graph.input[0].name

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.rows = iter([{name: calib[i:i + 1]} for i in range(len(calib))])

        def get_next(self):
            return next(self.rows, None)

    quantize_static(str(float_onnx), str(path), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)


def calibration(shape: tuple[int, ...], n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Inputs in [0, 1] of `shape` with class labels."""
    rng = np.random.default_rng(seed)
    return rng.random((n, *shape)).astype(np.float32), rng.integers(0, CLASSES, n)


def build_sources(folder: Path) -> dict[str, Path]:
    """Write every source file into `folder`; returns {kind: path} plus the two calibration .npz files."""
    import logging

    from edgeloop.models.quantize import to_onnx, to_tflite_float

    folder.mkdir(parents=True, exist_ok=True)
    model = keras_model()
    paths = {"keras": folder / "net.keras", "h5": folder / "net_h5.h5", "savedmodel": folder / "net_saved",
             "tflite-float": folder / "net_float.tflite", "onnx-float": folder / "net_tf2onnx.onnx",
             "onnx-nchw": folder / "torchlike.onnx", "onnx-qdq": folder / "torchlike_qdq.onnx",
             "calib": folder / "calib.npz", "calib_nchw": folder / "calib_nchw.npz"}
    model.save(paths["keras"])
    logging.getLogger("absl").setLevel(logging.ERROR)  # the HDF5 "legacy format" notice
    model.save(paths["h5"])
    model.export(str(paths["savedmodel"]), verbose=False)
    paths["tflite-float"].write_bytes(to_tflite_float(model))
    to_onnx(model, paths["onnx-float"])
    x, y = calibration(KERAS_SHAPE, 64)
    np.savez(paths["calib"], x=x, y=y)
    nchw_onnx(paths["onnx-nchw"])
    xn, yn = calibration(NCHW_SHAPE, 64, seed=1)
    np.savez(paths["calib_nchw"], x=xn, y=yn)
    qdq_from(paths["onnx-nchw"], paths["onnx-qdq"], xn[:32])
    return paths
