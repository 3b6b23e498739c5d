"""TensorFlow front ends: Keras (.keras, .h5) and SavedModel to float TFLite, and float TFLite to int8.

Every float source becomes a float .tflite first; `quantize_float_tflite`
then calibrates it and writes the full-integer model (int8 input and
output, per-channel weights) with TensorFlow's post-training quantizer.
Tensor names survive quantization, which is what lets the per-layer error
table pair each int8 tensor with its float original.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from edgeloop import require
from edgeloop.models.importers.errors import ModelImportError

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _tf():
    return require("tensorflow", needed_for="importing and quantizing float models")


def load_keras(path: Path):
    """A Keras model from a .keras or .h5 file (weights only needed for inference: not compiled)."""
    _tf()
    keras = require("keras", needed_for="importing Keras models")

    try:
        return keras.models.load_model(path, compile=False)
    except Exception as exc:  # Keras raises many types for foreign or damaged files
        raise ModelImportError(f"Keras cannot load {path}: {type(exc).__name__}: {str(exc)[:300]}; save it with "
                               "model.save('model.keras') (custom layers cannot be imported)") from None


def keras_to_float_tflite(model) -> bytes:
    """Float32 TFLite bytes of a Keras model, with a batch of one."""
    from edgeloop.models.quantize import ExportError, to_tflite_float

    try:
        return to_tflite_float(model)
    except ExportError as exc:
        raise ModelImportError(f"the Keras model cannot be converted to TFLite: {exc}") from None


def savedmodel_to_float_tflite(folder: Path) -> bytes:
    """Float32 TFLite bytes of a SavedModel folder (its serving signature)."""
    tf = _tf()
    try:
        return bytes(tf.lite.TFLiteConverter.from_saved_model(str(folder)).convert())
    except Exception as exc:
        raise ModelImportError(f"the SavedModel in {folder} cannot be converted to TFLite: {str(exc)[:300]}") from None


def quantize_float_tflite(float_tflite: bytes, calibration: np.ndarray) -> bytes:
    """Full-integer int8 TFLite (int8 input/output, per-channel weights) calibrated on `calibration` (N, ...)."""
    tf = _tf()
    calibrator = require("tensorflow.lite.python.optimize.calibrator", needed_for="post-training quantization")

    rep = np.asarray(calibration, np.float32)

    def batches() -> Iterator[list[np.ndarray]]:
        for i in range(len(rep)):
            yield [rep[i:i + 1]]

    try:
        quantizer = calibrator.Calibrator(bytes(float_tflite))
        return bytes(quantizer.calibrate_and_quantize(batches, tf.int8, tf.int8, False, tf.int8, tf.int32))
    except Exception as exc:
        raise ModelImportError(f"post-training quantization failed: {str(exc)[:400]}") from None


def _interpreter(tflite: bytes, preserve: bool = False):
    tf = _tf()
    with warnings.catch_warnings():  # tf.lite.Interpreter's deprecation notice: it is still the float oracle
        warnings.simplefilter("ignore", UserWarning)
        interp = tf.lite.Interpreter(model_content=bytes(tflite), experimental_preserve_all_tensors=preserve,
                                     experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_REF)
    interp.allocate_tensors()
    return interp


def float_runner(float_tflite: bytes) -> Callable[[np.ndarray], np.ndarray]:
    """A function running a float .tflite on a batch (N, ...) and returning its outputs (N, ...)."""
    interp = _interpreter(float_tflite)
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]

    def run(x: np.ndarray) -> np.ndarray:
        ys = []
        for row in np.asarray(x, np.float32):
            interp.set_tensor(inp["index"], row.reshape(inp["shape"]))
            interp.invoke()
            ys.append(np.array(interp.get_tensor(out["index"]), copy=True))
        return np.stack(ys)

    return run


def tensor_values(tflite: bytes, x: np.ndarray) -> dict[str, np.ndarray]:
    """Every activation tensor of one inference (LiteRT reference kernels), by tensor name, stacked over x.

    For int8 models the values are dequantized, so float and int8 models are
    compared in real units. LiteRT's int8 kernels can differ from TFLite
    Micro by one step in rare elements: negligible against quantization error.
    """
    interp = _interpreter(tflite, preserve=True)
    inp = interp.get_input_details()[0]
    details = [d for d in interp.get_tensor_details() if d["dtype"] in (np.float32, np.int8)]
    values: dict[str, list[np.ndarray]] = {}
    for row in np.asarray(x):
        interp.set_tensor(inp["index"], np.asarray(row, inp["dtype"]).reshape(inp["shape"]))
        interp.invoke()
        for d in details:
            try:
                v = interp.get_tensor(d["index"])
            except ValueError:  # a constant or a tensor TFLite did not keep
                continue
            scale, zp = d["quantization"]
            real = (v.astype(np.float32) - zp) * scale if d["dtype"] == np.int8 and scale else v.astype(np.float32)
            values.setdefault(d["name"], []).append(real)
    return {k: np.stack(v) for k, v in values.items()}


def tflm_arena_bytes_isolated(tflite: bytes) -> int:
    """TFLite Micro's smallest arena, probed in a fresh process.

    The probe forks per try (models.reference); forking a process whose
    TensorFlow threads are running crashes the child, so once a model has
    been imported the probe runs in a spawned interpreter instead.
    """
    import multiprocessing

    from edgeloop.models.reference import tflm_arena_bytes

    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return int(pool.apply(tflm_arena_bytes, (bytes(tflite),)))
