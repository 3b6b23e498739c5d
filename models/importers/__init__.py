"""Import trained models from other tools into the int8 .tflite the compiler and the board use.

Sources: int8 or float .tflite, Keras .keras/.h5, SavedModel folders and
ONNX (float, rebuilt in Keras; or QDQ-quantized, written directly as int8
TFLite keeping the file's scales). Float models are quantized with a
calibration set; `compare` reports float against int8, per layer too.

The names below load their module on first use: the CLI registers its
import options (edgeloop.models.importers.options) on a core install, where
the schema package and TensorFlow that the importers need may be missing.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "FORMATS": "detect", "detect_format": "detect",
    "CalibrationError": "errors", "ModelImportError": "errors", "UnsupportedOperatorError": "errors",
    "ImportedModel": "pipeline", "compare": "pipeline", "import_model": "pipeline", "parse_labels": "pipeline",
    "write_imported": "pipeline",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
