"""Errors of the model importers: user errors (ValueErrors) that name the problem and the fix."""

from __future__ import annotations

from edgeloop.models.compiler.errors import CompileError, UnsupportedError


class ModelImportError(CompileError):
    """A model file cannot be imported as it is; the message says what to change."""


class CalibrationError(ModelImportError):
    """The calibration data does not fit the model (shape, type, emptiness)."""


class UnsupportedOperatorError(UnsupportedError):
    """The source graph uses an operator the compiler cannot run; names the layer and the alternatives."""

