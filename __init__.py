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
