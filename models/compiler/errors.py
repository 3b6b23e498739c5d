"""Errors of the model compiler: EdgeloopErrors (printed by the CLI as one line) and ValueErrors."""

from __future__ import annotations

from edgeloop import EdgeloopError


class CompileError(EdgeloopError, ValueError):
    """The model cannot be compiled; the message says what is wrong and what to do."""


class TFLiteFormatError(CompileError):
    """The input is not a readable .tflite flatbuffer."""


class UnsupportedError(CompileError):
    """The model uses an operator, dtype or shape the compiler does not support."""
