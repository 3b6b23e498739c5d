"""Import trained models from other tools into the int8 .tflite the compiler and the board use.

Sources: int8 or float .tflite, Keras .keras/.h5, SavedModel folders and
ONNX (float, rebuilt in Keras; or QDQ-quantized, written directly as int8
TFLite keeping the file's scales). Float models are quantized with a
calibration set; `compare` reports float against int8, per layer too.
"""

from edgeloop.models.importers.detect import FORMATS, detect_format
from edgeloop.models.importers.errors import CalibrationError, ModelImportError, UnsupportedOperatorError
from edgeloop.models.importers.pipeline import ImportedModel, compare, import_model, parse_labels, write_imported

__all__ = [
    "FORMATS", "CalibrationError", "ImportedModel", "ModelImportError", "UnsupportedOperatorError", "compare",
    "detect_format", "import_model", "parse_labels", "write_imported",
]
