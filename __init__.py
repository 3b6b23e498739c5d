"""edgeloop: a laptop and an STM32 board as a live TinyML rig.

The repository root is this package: `edgeloop.protocol` (link protocol),
`edgeloop.models` (data, training, the int8 model compiler) and
`edgeloop.app` (sources, link session, GUI, CLI). `firmware/` ships inside
the package so an installed edgeloop can still build the virtual boards.
"""

import contextlib as _contextlib
import errno as _errno
import importlib as _importlib
from types import ModuleType as _ModuleType
from collections.abc import Iterator as _Iterator
from importlib import metadata as _metadata
from pathlib import Path as _Path

try:
    __version__: str = _metadata.version("edgeloop")
except _metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"

PACKAGE_ROOT: _Path = _Path(__file__).resolve().parent
"""Directory holding app/, protocol/, models/ and firmware/ (repo root or site-packages/edgeloop)."""

FIRMWARE_DIR: _Path = PACKAGE_ROOT / "firmware"
"""C sources of the firmware core, NN kernels and board ports."""


class EdgeloopError(Exception):
    """Root of every error whose message is written for the user.

    The message names the problem and what to do about it. The CLI prints these,
    and only these, as one `edgeloop: error: ...` line; any other exception is a
    defect and keeps its traceback. Each layer (protocol, models, app) subclasses
    this root, usually together with the builtin that fits (ValueError for bad
    input, OSError for a port, file or disk, RuntimeError for a failed tool), so
    callers that catch the builtin keep working.
    """


class InputError(EdgeloopError, ValueError):
    """A value, option or file the user gave is wrong; the message says which and what is allowed."""


class ResourceError(EdgeloopError, OSError):
    """The operating system refused something the user can fix: a missing file, a busy port,
    a permission, a full disk. Raise it where the OSError happens, with a message that says what to do."""


class MissingFileError(ResourceError, FileNotFoundError):
    """A file or folder the user named does not exist; the message says how to make or find it."""


class ExistingFileError(ResourceError, FileExistsError):
    """A file or folder the user named already holds data that edgeloop will not overwrite."""


class MissingExtraError(EdgeloopError, ImportError):
    """An optional package is not installed; the message names the extra and the pip line."""


_OS_ADVICE: dict[int, str] = {
    _errno.ENOSPC: "the disk is full: free some space or choose another place",
    _errno.EDQUOT: "your disk quota is used up: free some space or choose another place",
    _errno.EACCES: "permission denied: choose a place you may use, or fix its permissions",
    _errno.EPERM: "operation not permitted: choose a place you may use, or fix its permissions",
    _errno.EROFS: "the file system is read-only: choose another place",
    _errno.ENOENT: "it does not exist: check the path",
    _errno.ENOTDIR: "a part of the path is a file, not a folder: check the path",
    _errno.EISDIR: "it is a folder, not a file: check the path",
    _errno.EEXIST: "it already exists: choose another name",
    _errno.ENAMETOOLONG: "the name is too long: choose a shorter path",
    _errno.EBUSY: "it is busy: close the program that uses it",
}


def explain_os_error(exc: OSError, action: str) -> ResourceError:
    """The ResourceError for `exc`: what failed (`action`, e.g. "write the report"), where, and what to do.

    Raise it `from exc` (the original keeps errno and filename). ENOENT gives a MissingFileError.
    """
    where = f" {exc.filename}" if exc.filename is not None and str(exc.filename) not in action else ""
    advice = _OS_ADVICE.get(exc.errno or 0) or exc.strerror or str(exc)
    cls = MissingFileError if exc.errno == _errno.ENOENT else ResourceError
    return cls(f"cannot {action}{where}: {advice}")


@_contextlib.contextmanager
def os_errors_explained(action: str) -> _Iterator[None]:
    """Turn an OSError raised in the block into the ResourceError of :func:`explain_os_error`.

    Wrap the file and device operations that act on what the user named, so that a full
    disk or a missing permission reads as one line that says what to do.
    """
    try:
        yield
    except EdgeloopError:
        raise
    except OSError as exc:
        raise explain_os_error(exc, action) from exc


EXTRA_OF: dict[str, tuple[str, str]] = {
    # top-level module: (extra that installs it, what it is called in messages)
    "PySide6": ("gui", "Qt (PySide6)"),
    "shiboken6": ("gui", "Qt (PySide6)"),
    "pyqtgraph": ("gui", "pyqtgraph"),
    "cv2": ("media", "OpenCV (cv2)"),
    "flatbuffers": ("compile", "flatbuffers"),
    "tflite": ("compile", "the TFLite schema package (tflite)"),
    "tensorflow": ("train", "TensorFlow"),
    "keras": ("train", "Keras (TensorFlow)"),
    "tflite_micro": ("train", "TFLite Micro"),
    "tf2onnx": ("train", "tf2onnx"),
    "sklearn": ("train", "scikit-learn"),
    "onnx": ("onnx", "onnx"),
    "onnxruntime": ("onnx", "ONNX Runtime"),
    "optuna": ("design", "Optuna"),
    "psycopg": ("design", "psycopg"),
}
"""Which install extra (pyproject's optional-dependencies) provides each optional module."""


def pip_line(extra: str) -> str:
    """The exact command that installs `extra`, e.g. ``pip install 'edgeloop[gui]'``."""
    return f"pip install 'edgeloop[{extra}]'"


def require(module: str, *, needed_for: str = "") -> _ModuleType:
    """Import the optional `module` (dotted names allowed) or raise MissingExtraError with the pip line.

    Use it instead of a plain import for every package of an extra, inside the function
    that needs it, so that the core install (numpy, pyserial, tqdm) never reaches it.
    `needed_for` completes the message ("needed for the live GUI").
    """
    top = module.partition(".")[0]
    if top not in EXTRA_OF:
        raise KeyError(f"{top} is not an optional module; add it to edgeloop.EXTRA_OF with its extra")
    try:
        return _importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.partition(".")[0] != top:
            raise  # the package is there but one of its own dependencies is broken: not a missing extra
        extra, what = EXTRA_OF[top]
        purpose = f", needed for {needed_for}," if needed_for else ""
        raise MissingExtraError(f"{what}{purpose} is not installed; it comes with the [{extra}] extra: "
                                f"{pip_line(extra)}", name=module) from None
