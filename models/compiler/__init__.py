"""The int8 model compiler: .tflite flatbuffer to dependency-free C, bit-exact with TFLite Micro."""

from edgeloop.models.compiler.driver import CompiledModel, compile_bytes, compile_file, default_name
from edgeloop.models.compiler.errors import CompileError, TFLiteFormatError, UnsupportedError
from edgeloop.models.compiler.meta import ModelMeta, load_meta, parse_meta

__all__ = [
    "CompileError", "CompiledModel", "ModelMeta", "TFLiteFormatError", "UnsupportedError",
    "compile_bytes", "compile_file", "default_name", "load_meta", "parse_meta",
]
