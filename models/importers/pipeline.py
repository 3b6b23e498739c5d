"""Any trained model to the int8 .tflite the board runs: detect, convert, calibrate, quantize, describe.

`import_model` returns an `ImportedModel`: the int8 flatbuffer (what the
compiler compiles, what the board runs and what validation compares
against), the float reference it came from, and the metadata the live path
needs (input layout, pixel range, colour order, labels). `write_imported`
puts NAME.tflite, NAME.meta.json and NAME.preprocess.json in a folder.

Example::

    imported = import_model(Path("net.keras"), calib=Path("calib.npz"), labels=["cat", "dog"])
    paths = write_imported(imported, Path("build"), "net")
    comparison = compare(imported)   # float vs int8, per layer
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgeloop import os_errors_explained
from edgeloop.models.importers.calibration import CalibrationSet, load_calibration
from edgeloop.models.importers.detect import FLOAT_FORMATS, detect_format
from edgeloop.models.importers.errors import ModelImportError
from edgeloop.models.importers.options import COLOR_ORDERS

_STRUCTURE_SAMPLES = 8  # random inputs that stand in for calibration when only the structure is wanted


@dataclass
class ImportedModel:
    """An imported model: the int8 flatbuffer, its float original and what feeding it takes."""

    source: Path
    format: str
    int8_tflite: bytes
    float_tflite: bytes | None            # float graph in the board's layout (per-layer errors), if any
    float_fn: Callable[[np.ndarray], np.ndarray] | None  # float reference on source-layout inputs
    float_reference: str                  # what float_fn runs ("LiteRT float", "onnxruntime", ...)
    source_input_shape: tuple[int, ...]   # without batch, in the source's layout
    source_layout: str                    # NHWC, NCHW or tensor
    calibration: CalibrationSet | None
    labels: tuple[str, ...] | None
    pixel_range: tuple[float, float]
    color_order: str
    structure_only: bool = False          # quantized on random inputs: sizes are right, accuracy unknown
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    # without a float graph: float tensors by TFLite tensor name from source-layout inputs (QDQ: onnxruntime)
    layer_reference: Callable[[np.ndarray], dict[str, np.ndarray]] | None = None
    layer_reference_name: str = "LiteRT reference kernels on the float graph"

    @property
    def quantized_here(self) -> bool:
        """True when edgeloop quantized the model (float source), False for int8 and QDQ sources."""
        return self.format in FLOAT_FORMATS

    def board_input(self, x: np.ndarray) -> np.ndarray:
        """Source-layout float inputs (N, ...) in the board model's layout (NCHW images become NHWC)."""
        x = np.asarray(x, np.float32)
        return np.ascontiguousarray(x.transpose(0, 2, 3, 1)) if self.source_layout == "NCHW" else x

    def input_kind(self) -> str:
        from edgeloop.models.compiler.tflite_reader import read_tflite

        m = read_tflite(self.int8_tflite)
        shape = m.tensors[m.inputs[0]].shape
        return "image" if len(shape) == 4 and shape[0] == 1 and shape[3] in (1, 3) else "tensor"

    def preprocess(self) -> dict[str, Any]:
        """NAME.preprocess.json: how a host turns a frame or a sample into this model's float input."""
        return {"imported_from": self.format, "source": self.source.name, "source_layout": self.source_layout,
                "layout": "NHWC" if self.source_layout in ("NHWC", "NCHW") else "tensor",
                "pixel_range": list(self.pixel_range), "color_order": self.color_order}


def parse_labels(value: str | Sequence[str] | None) -> tuple[str, ...] | None:
    """--labels: a comma-separated list, or a file (one label per line, or a JSON list)."""
    if value is None:
        return None
    if not isinstance(value, str):
        return tuple(value)
    path = Path(value)
    if path.is_file():
        with os_errors_explained(f"read the labels file {path}"):
            text = path.read_text(encoding="utf-8")
        if text.lstrip().startswith("["):
            try:
                labels = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ModelImportError(f"labels file {path} starts like a JSON list but is not valid JSON "
                                       f"({exc}); write one label per line or a JSON list of strings") from None
        else:
            labels = [line.strip() for line in text.splitlines() if line.strip()]
    else:
        labels = [s.strip() for s in value.split(",") if s.strip()]
    if not labels:
        raise ModelImportError(f"--labels {value!r} holds no label: give 'a,b,c' or a file with one label per line")
    return tuple(str(x) for x in labels)


def import_model(path: Path, *, calib: Path | None = None, labels: str | Sequence[str] | None = None,
                 pixel_range: tuple[float, float] = (0.0, 1.0), color_order: str = "rgb",
                 structure_only: bool = False, seed: int = 0) -> ImportedModel:
    """Import `path` (int8/float .tflite, .keras, .h5, SavedModel folder, float or QDQ .onnx).

    Float models need `calib` (any data `load_calibration` reads); with
    `structure_only` and no `calib` they are quantized on random inputs so
    MACs, sizes and memory can be reported (never deploy such a model).
    """
    start = time.monotonic()
    path = Path(path)
    fmt = detect_format(path)
    if color_order not in COLOR_ORDERS:
        raise ModelImportError(f"colour order {color_order!r} is not one of {', '.join(COLOR_ORDERS)}")
    if fmt in FLOAT_FORMATS and calib is None and not structure_only:
        raise ModelImportError(f"{path} is a float model ({fmt}): quantizing it to int8 for the board needs "
                               "calibration data; pass --calib DATA (an .npz with x [and y], an image folder "
                               "or IMU CSV recordings, shaped like the model input)")
    imported = _IMPORTERS[fmt](path, calib, pixel_range, color_order, seed)
    imported.labels = _resolve_labels(path, labels, imported)
    imported.seconds = time.monotonic() - start
    return imported


def _calibrate(calib: Path | None, shape: tuple[int, ...], layout: str, pixel_range: tuple[float, float],
               color_order: str, seed: int) -> tuple[CalibrationSet, bool]:
    if calib is not None:
        return load_calibration(calib, shape, layout=layout, pixel_range=pixel_range, color_order=color_order,
                                seed=seed), False
    rng = np.random.default_rng(seed)
    lo, hi = pixel_range
    x = rng.uniform(lo, hi, (_STRUCTURE_SAMPLES, *shape)).astype(np.float32)
    return CalibrationSet(x, None, None, "random inputs (structure only)"), True


def _layout_of(shape: tuple[int, ...], channels_first: bool) -> str:
    if len(shape) == 3:
        return "NCHW" if channels_first else "NHWC"
    return "tensor"


def _from_float_tflite(float_tflite: bytes, path: Path, fmt: str, calib: Path | None,
                       pixel_range: tuple[float, float], color_order: str, seed: int) -> ImportedModel:
    from edgeloop.models.compiler.tflite_reader import read_tflite
    from edgeloop.models.importers.tf_models import float_runner, quantize_float_tflite

    m = read_tflite(float_tflite)
    shape = tuple(m.tensors[m.inputs[0]].shape[1:])
    cal, structure = _calibrate(calib, shape, _layout_of(shape, False), pixel_range, color_order, seed)
    int8 = quantize_float_tflite(float_tflite, cal.x)
    return ImportedModel(path, fmt, int8, float_tflite, float_runner(float_tflite), "LiteRT float32", shape,
                         _layout_of(shape, False), cal, None, pixel_range, color_order, structure,
                         list(cal.warnings))


def _import_tflite(path: Path, calib: Path | None, pixel_range, color_order, seed) -> ImportedModel:
    data = path.read_bytes()
    if detect_format(path) == "tflite-float":
        return _from_float_tflite(data, path, "tflite-float", calib, pixel_range, color_order, seed)
    from edgeloop.models.compiler.tflite_reader import read_tflite

    m = read_tflite(data)
    shape = tuple(m.tensors[m.inputs[0]].shape[1:])
    cal = (load_calibration(calib, shape, pixel_range=pixel_range, color_order=color_order, seed=seed)
           if calib is not None else None)
    return ImportedModel(path, "tflite-int8", data, None, None, "", shape, _layout_of(shape, False), cal, None,
                         pixel_range, color_order, False, list(cal.warnings) if cal else [])


def _import_keras(path: Path, calib: Path | None, pixel_range, color_order, seed) -> ImportedModel:
    from edgeloop.models.importers.tf_models import keras_to_float_tflite, load_keras

    fmt = "keras" if path.suffix.lower() == ".keras" else "h5"
    return _from_float_tflite(keras_to_float_tflite(load_keras(path)), path, fmt, calib, pixel_range, color_order,
                              seed)


def _import_savedmodel(path: Path, calib: Path | None, pixel_range, color_order, seed) -> ImportedModel:
    from edgeloop.models.importers.tf_models import savedmodel_to_float_tflite

    return _from_float_tflite(savedmodel_to_float_tflite(path), path, "savedmodel", calib, pixel_range,
                              color_order, seed)


def _import_onnx_float(path: Path, calib: Path | None, pixel_range, color_order, seed) -> ImportedModel:
    from edgeloop.models.importers.onnx_keras import onnx_to_keras
    from edgeloop.models.importers.tf_models import keras_to_float_tflite, quantize_float_tflite

    rebuilt = onnx_to_keras(path)
    float_tflite = keras_to_float_tflite(rebuilt.keras_model)
    layout = _layout_of(rebuilt.source_shape, rebuilt.channels_first)
    cal, structure = _calibrate(calib, rebuilt.source_shape, layout, pixel_range, color_order, seed)
    imported = ImportedModel(path, "onnx-float", b"", float_tflite, rebuilt.ort_fn, "onnxruntime float32",
                             rebuilt.source_shape, layout, cal, None, pixel_range, color_order, structure,
                             list(cal.warnings))
    rebuilt.check_against_onnxruntime(imported.board_input(cal.x[:16]), cal.x[:16])
    imported.int8_tflite = quantize_float_tflite(float_tflite, imported.board_input(cal.x))
    return imported


def _import_onnx_qdq(path: Path, calib: Path | None, pixel_range, color_order, seed) -> ImportedModel:
    from edgeloop.models.importers.onnx_qdq import qdq_to_tflite

    converted = qdq_to_tflite(path)
    layout = _layout_of(converted.source_shape, converted.channels_first)
    cal = (load_calibration(calib, converted.source_shape, layout=layout, pixel_range=pixel_range,
                            color_order=color_order, seed=seed)
           if calib is not None else None)
    return ImportedModel(path, "onnx-qdq", converted.int8_tflite, None, converted.ort_fn,
                         "onnxruntime on the QDQ graph", converted.source_shape, layout, cal, None, pixel_range,
                         color_order, False, [*converted.warnings, *(cal.warnings if cal else [])],
                         layer_reference=converted.layer_reference,
                         layer_reference_name="onnxruntime's value of the same tensor in the QDQ graph (after "
                                              "QuantizeLinear/DequantizeLinear): where TFLite Micro's int8 "
                                              "execution departs from the file's own simulation")


_IMPORTERS: dict[str, Callable[..., ImportedModel]] = {
    "tflite-int8": _import_tflite, "tflite-float": _import_tflite, "keras": _import_keras, "h5": _import_keras,
    "savedmodel": _import_savedmodel, "onnx-float": _import_onnx_float, "onnx-qdq": _import_onnx_qdq,
}


def _resolve_labels(path: Path, labels: str | Sequence[str] | None, imported: ImportedModel) -> tuple[str, ...] | None:
    """--labels first, then a labels file beside the model, then the calibration set's class names."""
    from edgeloop.models.compiler.tflite_reader import read_tflite

    m = read_tflite(imported.int8_tflite)
    n_out = m.tensors[m.outputs[0]].size
    explicit = parse_labels(labels)
    if explicit is None:
        for candidate in (path.with_suffix(".labels.txt"), path.with_name("labels.txt")):
            if path.is_file() and candidate.is_file():
                explicit = parse_labels(str(candidate))
                break
    if explicit is not None:
        if len(explicit) != n_out:
            raise ModelImportError(f"{len(explicit)} labels given, but the model has {n_out} outputs; "
                                   "give one label per output")
        return explicit
    cal = imported.calibration
    if cal is not None and cal.labels and len(cal.labels) == n_out:
        return tuple(cal.labels)
    return None


def write_imported(imported: ImportedModel, out_dir: Path, name: str) -> dict[str, Path]:
    """Write NAME.tflite (int8), NAME.meta.json and NAME.preprocess.json into `out_dir`; return the paths."""
    if imported.structure_only:
        raise ModelImportError("this model was quantized on random inputs for sizing only; pass --calib DATA "
                               "to get a model for the board")
    out = Path(out_dir)
    tflite, meta, pre = out / f"{name}.tflite", out / f"{name}.meta.json", out / f"{name}.preprocess.json"
    if tflite.resolve() == imported.source.resolve():
        raise ModelImportError(f"writing the int8 model would overwrite the source {imported.source}; "
                               "choose another output folder or name")
    meta_obj: dict[str, Any] = {"input_kind": imported.input_kind()}
    if imported.labels is not None:
        meta_obj["labels"] = list(imported.labels)
    with os_errors_explained(f"write the imported model into {out}"):
        out.mkdir(parents=True, exist_ok=True)
        tflite.write_bytes(imported.int8_tflite)
        meta.write_text(json.dumps(meta_obj, indent=2) + "\n", encoding="utf-8")
        pre.write_text(json.dumps(imported.preprocess(), indent=2) + "\n", encoding="utf-8")
    return {"tflite": tflite, "meta": meta, "preprocess": pre}


def compare(imported: ImportedModel, *, max_samples: int = 200) -> dict[str, Any] | None:
    """Float vs int8 on the calibration set: output errors, accuracies and the per-layer table.

    None for an int8 source (there is no float model) or without data.
    """
    from edgeloop.models.importers.quant_error import float_vs_int8, layer_errors, run_int8

    cal = imported.calibration
    if imported.float_fn is None or cal is None or imported.structure_only:
        return None
    x = cal.x[:max_samples]
    y = cal.y[:max_samples] if cal.y is not None else None
    xb = imported.board_input(x)
    float_out = np.asarray(imported.float_fn(x), np.float32)
    int8_out = run_int8(imported.int8_tflite, xb)
    result: dict[str, Any] = {"float_reference": imported.float_reference, "data": cal.source,
                              "output": float_vs_int8(float_out, int8_out.reshape(float_out.shape), y)}
    small = slice(0, min(len(xb), 32))
    if imported.float_tflite is not None:
        from edgeloop.models.importers.tf_models import tensor_values

        float_tensors = tensor_values(imported.float_tflite, xb[small])
    elif imported.layer_reference is not None:
        float_tensors = imported.layer_reference(x[small])
    else:
        float_tensors = None
    if float_tensors is not None:
        result["layers"] = layer_errors(float_tensors, imported.int8_tflite, xb[small])
        result["layers_reference"] = imported.layer_reference_name
    else:
        result["layers"] = []
        result["layers_note"] = ("per-layer table: not available for this source (the file holds no float "
                                 "graph beside its int8 one)")
    return result
