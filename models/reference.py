"""The oracle: TFLite Micro's own interpreter (the `tflite-micro` package), run on the host.

LiteRT/XNNPACK rounds differently from TFLM's reference kernels, so it is not
a valid reference for the compiled C; this interpreter is.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence

import numpy as np

from edgeloop import InputError, require


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence the interpreter's C-level allocation failure messages while probing sizes."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _interpreter(tflite_bytes: bytes, arena_size: int | None = None, model=None):
    """A TFLM interpreter; `model` (the parsed flatbuffer) saves parsing it again when the caller has it."""
    runtime = require("tflite_micro.python.tflite_micro.runtime", needed_for="the TFLite Micro reference")

    if arena_size is None:
        # Every activation tensor twice over plus the package's own heuristic: always enough.
        from edgeloop.models.compiler.tflite_reader import read_tflite

        model = model or read_tflite(bytes(tflite_bytes))
        activations = sum(t.nbytes for t in model.tensors if t.data is None)
        arena_size = 2 * activations + 10 * len(tflite_bytes) + 65536
    return runtime.Interpreter.from_bytes(bytes(tflite_bytes), arena_size=arena_size)


def run_reference(tflite_bytes: bytes, inputs: np.ndarray | Sequence[np.ndarray]) -> list[np.ndarray]:
    """Run one inference of the model under TFLite Micro and return its outputs.

    `inputs` is one array per model input (a bare array for single-input
    models), already in the input tensor's dtype and shape.
    """
    from edgeloop.models.compiler.tflite_reader import read_tflite

    model = read_tflite(bytes(tflite_bytes))
    interp = _interpreter(tflite_bytes, model=model)
    if isinstance(inputs, np.ndarray):
        inputs = [inputs]
    for i, x in enumerate(inputs):
        details = interp.get_input_details(i)
        arr = np.asarray(x, dtype=details["dtype"]).reshape(details["shape"])
        interp.set_input(arr, i)
    interp.invoke()
    return [np.array(interp.get_output(i), copy=True) for i in range(len(model.outputs))]


def run_reference_batch(tflite_bytes: bytes, inputs: np.ndarray) -> np.ndarray:
    """Run the single-input, single-output model on each row of `inputs` (one interpreter)."""
    interp = _interpreter(tflite_bytes)
    details = interp.get_input_details(0)
    outs = []
    for x in inputs:
        interp.set_input(np.asarray(x, dtype=details["dtype"]).reshape(details["shape"]), 0)
        interp.invoke()
        outs.append(np.array(interp.get_output(0), copy=True))
    return np.stack(outs)


def _fits(tflite_bytes: bytes, size: int) -> bool:
    try:
        interp = _interpreter(tflite_bytes, arena_size=size)
        details = interp.get_input_details(0)
        interp.set_input(np.zeros(details["shape"], details["dtype"]), 0)
        interp.invoke()
        return True
    except (RuntimeError, ValueError):
        return False


def _probe(tflite_bytes: bytes, size: int) -> bool:
    """Whether TFLM allocates and runs the model in `size` bytes.

    The interpreter can crash (not just fail) on some too-small arenas, so on
    POSIX each probe runs in a forked child and a crash counts as "does not fit".
    """
    if not hasattr(os, "fork"):
        return _fits(tflite_bytes, size)
    pid = os.fork()
    if pid == 0:  # child: report by exit status only, never return into the caller's stack
        code = 1
        try:
            import faulthandler

            faulthandler.disable()  # an expected crash of the probe should not print a traceback
            with _quiet_stderr():
                code = 0 if _fits(tflite_bytes, size) else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def tflm_arena_bytes(tflite_bytes: bytes, limit: int = 64 << 20) -> int:
    """Smallest tensor arena (bytes, to 16) with which TFLite Micro allocates and runs the model."""
    tflite_bytes = bytes(tflite_bytes)
    hi = 1024
    while not _probe(tflite_bytes, hi):
        hi *= 2
        if hi > limit:
            raise InputError(f"TFLite Micro cannot allocate the model within {limit} bytes")
    lo = hi // 2
    while hi - lo > 16:
        mid = (lo + hi) // 2 // 16 * 16
        if _probe(tflite_bytes, mid):
            hi = mid
        else:
            lo = mid
    return hi
