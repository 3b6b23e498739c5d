"""edgeloop: a laptop and an STM32 board as a live TinyML rig.

The repository root is this package: `edgeloop.protocol` (link protocol),
`edgeloop.models` (data, training, the int8 model compiler) and
`edgeloop.app` (sources, link session, GUI, CLI). `firmware/` ships inside
the package so an installed edgeloop can still build the virtual boards.
"""

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
