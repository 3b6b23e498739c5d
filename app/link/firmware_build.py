"""Build edgeloop firmware images with firmware/Makefile, cached per board, models and sources.

Images land in a cache directory (``$EDGELOOP_CACHE``, else
``$XDG_CACHE_HOME/edgeloop``, else ``~/.cache/edgeloop``), never inside the
package, so an installed, read-only edgeloop can still build its virtual
boards. The build directory is keyed by the board, the model sources and a
hash of every firmware source, so a second call with nothing changed costs
one hash and no compiler run, and a change anywhere rebuilds.

Example::

    from edgeloop.app.link.firmware_build import build_firmware
    image = build_firmware("host", models=["sine", "mean64"])
    print(image.elf)        # .../build/host-1a2b3c4d-5e6f.../edgeloop.elf
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import edgeloop
from edgeloop import EdgeloopError, os_errors_explained

BOARDS: tuple[str, ...] = ("host", "qemu-mps2-an500", "nucleo-h743zi2")
"""Boards with a port under firmware/ports/."""

TEST_MODELS_DIR: Path = edgeloop.FIRMWARE_DIR / "tests" / "models"
ZOO_DIR: Path = edgeloop.PACKAGE_ROOT / "models" / "zoo"
DEFAULT_MODELS: tuple[str, ...] = ("sine", "mean64", "mean96")
"""Hand-written test models built in when no model is named."""

_TOOLCHAINS = {
    "host": ("gcc", "build-essential"),
    "qemu-mps2-an500": ("arm-none-eabi-gcc", "gcc-arm-none-eabi libnewlib-arm-none-eabi"),
    "nucleo-h743zi2": ("arm-none-eabi-gcc", "gcc-arm-none-eabi libnewlib-arm-none-eabi"),
}
_SOURCE_SUFFIXES = {".c", ".h", ".mk", ".ld", ".s", ".S"}


class FirmwareBuildError(EdgeloopError, RuntimeError):
    """The firmware could not be built (bad board or model, or a compiler error)."""


class ToolchainMissingError(FirmwareBuildError):
    """A compiler or make is not installed; the message names the Debian package."""


@dataclass(frozen=True)
class FirmwareImage:
    """A built firmware image."""

    board: str
    elf: Path
    bin: Path | None
    build_dir: Path
    models: tuple[Path, ...]


def cache_dir() -> Path:
    """Root of edgeloop's writable cache (created on demand)."""
    if os.environ.get("EDGELOOP_CACHE"):
        return Path(os.environ["EDGELOOP_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "edgeloop"


def available_models() -> list[str]:
    """Names accepted by :func:`resolve_model`: the test models and compiled zoo models."""
    names = {p.stem for p in TEST_MODELS_DIR.glob("*.c") if p.with_suffix(".h").is_file()}
    return sorted(names | set(zoo_models()))


def zoo_models() -> list[str]:
    """Names of the bundled zoo models that have compiled C (models/zoo/NAME/c/NAME.c)."""
    if not ZOO_DIR.is_dir():
        return []
    return sorted(d.name for d in ZOO_DIR.iterdir() if _zoo_source(d.name) is not None)


def _zoo_source(name: str) -> Path | None:
    """The compiled C of zoo entry ``name`` (models/zoo/NAME/c/NAME.c), if it exists."""
    candidate = ZOO_DIR / name / "c" / f"{name}.c"
    return candidate if candidate.is_file() else None


def _named_model(name: str) -> Path | None:
    """The NAME.c of a zoo or test model called ``name``, if ``name`` is a bare model name."""
    if not name.isidentifier():
        return None
    test_model = TEST_MODELS_DIR / f"{name}.c"
    return _zoo_source(name) or (test_model if test_model.is_file() else None)


def resolve_model(spec: str | os.PathLike[str]) -> Path:
    """Turn a model spec into the absolute path of its generated NAME.c.

    A spec is a NAME.c file, a directory holding NAME.c and NAME.h (the output of
    ``edgeloop compile --out DIR``), or a bare name of a zoo or test model.
    """
    path = Path(spec)
    named = _named_model(str(spec))
    if named is not None:  # a bare known name wins over a same-named folder in the working directory
        candidate = named
    elif path.suffix == ".c" or path.is_file():
        if not path.is_file():
            raise FirmwareBuildError(f"model source {path} does not exist")
        candidate = path
    elif path.is_dir():
        sources = sorted(c for c in path.glob("*.c") if c.with_suffix(".h").is_file())
        if len(sources) != 1:
            raise FirmwareBuildError(
                f"{path} must hold exactly one compiled model (NAME.c with NAME.h), found {len(sources)}: "
                "pass the .c file itself")
        candidate = sources[0]
    else:
        raise FirmwareBuildError(
            f"unknown model {str(spec)!r}: pass a compiled NAME.c, its directory, or one of "
            f"{', '.join(available_models()) or '(none)'} (compile one with `edgeloop compile`)")
    if not candidate.with_suffix(".h").is_file():
        raise FirmwareBuildError(f"model header {candidate.with_suffix('.h')} is missing next to {candidate}")
    if any(ch.isspace() for ch in str(candidate.resolve())):
        raise FirmwareBuildError(f"model path {candidate} contains whitespace, which make cannot pass on: move it")
    if not candidate.stem.isidentifier():
        raise FirmwareBuildError(f"model name {candidate.stem!r} must be a C identifier (letters, digits, _)")
    return candidate.resolve()


def check_toolchain(board: str) -> None:
    """Raise :class:`ToolchainMissingError` unless make and the board's compiler are on PATH."""
    compiler, package = _TOOLCHAINS.get(board, ("gcc", "build-essential"))
    for tool, pkg in (("make", "make"), (compiler, package)):
        if shutil.which(tool) is None:
            raise ToolchainMissingError(
                f"{tool} was not found on PATH; it is needed to build the {board} firmware: "
                f"install it with `sudo apt-get install {pkg}`")


def _source_files(models: Sequence[Path]) -> Iterable[Path]:
    fw = edgeloop.FIRMWARE_DIR
    yield fw / "Makefile"
    for path in sorted(fw.rglob("*")):
        if path.suffix in _SOURCE_SUFFIXES and "build" not in path.relative_to(fw).parts:
            yield path
    for model_dir in sorted({m.parent for m in models}):
        yield from sorted(p for p in model_dir.iterdir() if p.suffix in {".c", ".h"})


def _hash(items: Iterable[str | Path]) -> str:
    digest = hashlib.sha256()
    for item in items:
        if isinstance(item, Path):
            digest.update(str(item).encode())
            digest.update(item.read_bytes())
        else:
            digest.update(item.encode())
        digest.update(b"\0")
    return digest.hexdigest()


def build_firmware(board: str = "host", models: Sequence[str | os.PathLike[str]] | None = None, *,
                   extra_cflags: Sequence[str] = (), build_root: Path | None = None,
                   jobs: int = 2, timeout: float = 600.0) -> FirmwareImage:
    """Build (or reuse) the firmware image of ``board`` with ``models`` linked in.

    Args:
        board: one of :data:`BOARDS`.
        models: model specs (see :func:`resolve_model`), in protocol index order;
            default :data:`DEFAULT_MODELS`.
        extra_cflags: extra compiler flags, e.g. ``["-DEL_RX_CREDIT=4"]``.
        build_root: where build directories go (default ``cache_dir() / "build"``).
        jobs: parallel compiler jobs.
        timeout: seconds before the build is abandoned.

    Raises:
        FirmwareBuildError: unknown board or model, or the compiler failed (its output is in the message).
        ToolchainMissingError: make or the board's compiler is not installed.
    """
    if board not in BOARDS:
        raise FirmwareBuildError(f"unknown board {board!r}; choose one of {', '.join(BOARDS)}")
    if not (edgeloop.FIRMWARE_DIR / "ports" / board / "board.mk").is_file():
        raise FirmwareBuildError(f"board {board!r} has no port in {edgeloop.FIRMWARE_DIR / 'ports' / board}")
    check_toolchain(board)
    sources = tuple(resolve_model(m) for m in (models if models else DEFAULT_MODELS))
    names = [s.stem for s in sources]
    if len(set(names)) != len(names):
        raise FirmwareBuildError(f"two models share a name in {names}: model names must be unique")
    config_key = _hash([board, *map(str, sources), *extra_cflags])[:8]
    source_key = _hash([*extra_cflags, *_source_files(sources)])[:12]
    root = build_root or cache_dir() / "build"
    build_dir = root / f"{board}-{config_key}-{source_key}"
    elf = build_dir / "edgeloop.elf"
    binary = build_dir / "edgeloop.bin" if board != "host" else None
    with os_errors_explained(f"use the firmware build folder {root} (set EDGELOOP_CACHE to move it)"):
        root.mkdir(parents=True, exist_ok=True)
        lock = open(root / f".{board}-{config_key}.lock", "w")  # noqa: SIM115 (closed by the with below)
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two processes building the same image wait for each other
        if not elf.is_file():
            _run_make(board, sources, extra_cflags, build_dir, jobs, timeout)
            for stale in root.glob(f"{board}-{config_key}-*"):
                if stale != build_dir:  # an older build of the same configuration
                    shutil.rmtree(stale, ignore_errors=True)
    return FirmwareImage(board, elf, binary, build_dir, sources)


def _run_make(board: str, sources: Sequence[Path], extra_cflags: Sequence[str], build_dir: Path, jobs: int,
              timeout: float) -> None:
    cmd = ["make", "-C", str(edgeloop.FIRMWARE_DIR), f"-j{max(1, jobs)}", f"BOARD={board}",
           f"MODELS={' '.join(map(str, sources))}", f"BUILD={build_dir}", f"PYTHON={sys.executable}",
           f"EXTRA_CFLAGS={' '.join(extra_cflags)}", "all"]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise FirmwareBuildError(f"the {board} firmware build took over {timeout:.0f} s and was stopped") from exc
    if done.returncode != 0:
        shutil.rmtree(build_dir, ignore_errors=True)
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-25:])
        raise FirmwareBuildError(f"building the {board} firmware failed (make exit {done.returncode}):\n{tail}")
