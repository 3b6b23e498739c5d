"""Which kind of model a path holds: decided from the suffix, the folder layout and the graph itself."""

from __future__ import annotations

from pathlib import Path

from edgeloop import os_errors_explained
from edgeloop.models.importers.errors import ModelImportError

FORMATS = ("tflite-int8", "tflite-float", "keras", "h5", "savedmodel", "onnx-float", "onnx-qdq")
FLOAT_FORMATS = frozenset(FORMATS) - {"tflite-int8", "onnx-qdq"}


def detect_format(path: Path) -> str:
    """One of FORMATS for `path`; ModelImportError when the file is none of them."""
    path = Path(path)
    if not path.exists():
        raise ModelImportError(f"model {path} does not exist")
    if path.is_dir():
        if (path / "saved_model.pb").is_file():
            return "savedmodel"
        raise ModelImportError(f"{path} is a folder without saved_model.pb: give a SavedModel folder, or a "
                               ".tflite, .keras, .h5 or .onnx file")
    suffix = path.suffix.lower()
    if suffix == ".keras":
        return "keras"
    if suffix in (".h5", ".hdf5"):
        return "h5"
    if suffix == ".onnx":
        from edgeloop.models.importers.onnx_graph import is_qdq

        return "onnx-qdq" if is_qdq(path) else "onnx-float"
    if suffix == ".tflite":
        with os_errors_explained(f"read {path}"):
            data = path.read_bytes()
        return "tflite-float" if tflite_is_float(data) else "tflite-int8"
    raise ModelImportError(f"cannot tell the format of {path} from its suffix {suffix or '(none)'}: supported are "
                           ".tflite (int8 or float), .keras, .h5, a SavedModel folder and .onnx (float or QDQ)")


def tflite_is_float(data: bytes) -> bool:
    """True when a .tflite computes in float (float32 weights of any operator), i.e. needs quantization."""
    from edgeloop.models.compiler.tflite_reader import read_tflite

    model = read_tflite(data)
    consts = {i for op in model.operators for i in op.inputs if i >= 0 and model.tensors[i].data is not None}
    weights_float = any(model.tensors[i].type_code == 0 and model.tensors[i].size > 1 for i in consts)
    activations_int8 = any(t.type_code == 9 for t in model.tensors if t.data is None)
    if weights_float and activations_int8:
        return False  # mixed: leave it to the compiler, which names the float operator
    return weights_float or not activations_int8
