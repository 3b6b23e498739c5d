"""Errors of the model compiler; all are ValueErrors so the CLI prints them as user errors."""

from __future__ import annotations


class CompileError(ValueError):
    """The model cannot be compiled; the message says what is wrong and what to do."""


class TFLiteFormatError(CompileError):
    """The input is not a readable .tflite flatbuffer."""


class UnsupportedError(CompileError):
    """The model uses an operator, dtype or shape the compiler does not support."""
