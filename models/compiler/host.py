"""Build a compiled model for the host with the system C compiler and run it through ctypes.

Used by the tests and benchmarks to check generated C against the TFLite
Micro oracle, with either the reference or the optimized kernels (the latter
through the portable model of the DSP intrinsics).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

import edgeloop
from edgeloop import EdgeloopError

NN_DIR: Path = edgeloop.FIRMWARE_DIR / "nn"
KERNEL_SOURCES = ("nn_ref.c", "nn_paths.c", "nn_opt_requant.c", "nn_opt_conv.c", "nn_opt_conv_small_k.c",
                  "nn_opt_depthwise.c", "nn_opt_depthwise_map3.c", "nn_opt_depthwise_s2pairs.c",
                  "nn_opt_fc.c", "nn_opt_pool.c", "nn_opt_add.c")
"""The kernel sources a compiled model needs (firmware/nn), in every build: the reference kernels,
path selection and scratch sizes, and the optimized kernels by family (empty unless NN_OPTIMIZED)."""


def kernel_sources() -> list[Path]:
    """Paths of KERNEL_SOURCES, for build commands (host, QEMU, analyze, benchmarks)."""
    return [NN_DIR / s for s in KERNEL_SOURCES]
CFLAGS = ("-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", "-fPIC")

_SHIM = """
#include <string.h>
#include "{name}.h"
static _Alignas(16) unsigned char el_arena[{upper}_ARENA_BYTES + 16];
int el_host_invoke(const void *in, void *out, int fill) {{
    memset(el_arena, fill, sizeof el_arena);
    el_arena[{upper}_ARENA_BYTES] = 0x5A;  /* canary after the arena */
    int st = (int)nn_model_{name}.invoke(in, out, el_arena);
    return el_arena[{upper}_ARENA_BYTES] == 0x5A ? st : -1;
}}
int el_host_invoke_with(const void *in, void *out, void *arena) {{
    return (int)nn_model_{name}.invoke(in, out, arena);
}}
"""


class HostBuildError(EdgeloopError, RuntimeError):
    """The C compiler rejected the generated code or the kernels."""


def _cc() -> str:
    cc = os.environ.get("CC", "cc")
    if shutil.which(cc) is None:
        raise HostBuildError(f"C compiler {cc!r} not found; install gcc or set CC")
    return cc


def _run(cmd: list[str], cwd: Path | None = None) -> None:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise HostBuildError(f"{' '.join(cmd)} failed:\n{proc.stdout}{proc.stderr}")


def kernel_objects(optimized: bool, extra_flags: tuple[str, ...] = ()) -> list[Path]:
    """Compile the kernel sources once per flag set (cached in the temp directory)."""
    flags = (*CFLAGS, f"-DNN_OPTIMIZED={int(optimized)}", *extra_flags)
    digest = hashlib.sha256(repr(flags).encode())
    for src in sorted(NN_DIR.glob("*.[ch]")):
        digest.update(src.name.encode() + src.read_bytes())
    cache = Path(tempfile.gettempdir()) / f"edgeloop-nn-{digest.hexdigest()[:16]}"
    objs = [cache / (Path(s).stem + ".o") for s in KERNEL_SOURCES]
    if all(o.is_file() for o in objs):
        return objs
    tmp = Path(tempfile.mkdtemp(prefix=cache.name + "-", dir=cache.parent))
    try:
        for src in KERNEL_SOURCES:
            _run([_cc(), *flags, "-I", str(NN_DIR), "-c", str(NN_DIR / src), "-o", str(tmp / (Path(src).stem + ".o"))])
        try:
            tmp.rename(cache)
        except OSError:  # another process won the race; its objects are equivalent
            pass
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return objs


class HostModel:
    """A compiled model built into a shared library and callable from Python."""

    def __init__(self, c_dir: Path, name: str, *, optimized: bool = False,
                 build_dir: Path | None = None, extra_flags: tuple[str, ...] = ()) -> None:
        c_dir = Path(c_dir)
        self.name = name
        self._build = Path(build_dir) if build_dir else Path(tempfile.mkdtemp(prefix="edgeloop-host-"))
        self._build.mkdir(parents=True, exist_ok=True)
        shim = self._build / f"{name}_shim.c"
        shim.write_text(_SHIM.format(name=name, upper=name.upper()), encoding="utf-8")
        lib = self._build / f"lib{name}_{'opt' if optimized else 'ref'}.so"
        # NN_CHECK_SCRATCH: every layer checks that its kernel's scratch need fits the planned buffer
        flags = [*CFLAGS, f"-DNN_OPTIMIZED={int(optimized)}", "-DNN_CHECK_SCRATCH=1", *extra_flags]
        _run([_cc(), *flags, "-shared", "-I", str(NN_DIR), "-I", str(c_dir), str(c_dir / f"{name}.c"),
              str(shim), *map(str, kernel_objects(optimized, extra_flags)), "-o", str(lib), "-lm"])
        self._lib = ctypes.CDLL(str(lib))
        self._lib.el_host_invoke.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int]
        self._lib.el_host_invoke.restype = ctypes.c_int
        self._lib.el_host_invoke_with.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
        self._lib.el_host_invoke_with.restype = ctypes.c_int

    def invoke_raw(self, x: np.ndarray | None, out: np.ndarray | None, arena_address: int | None) -> int:
        """Call invoke() with caller-chosen pointers (None = NULL); returns the nn_status_t."""
        return self._lib.el_host_invoke_with(None if x is None else x.ctypes.data,
                                             None if out is None else out.ctypes.data, arena_address)

    def __call__(self, x: np.ndarray, out_dtype: np.dtype, out_size: int, fill: int = 0xA5) -> np.ndarray:
        """Run one inference; the arena is filled with `fill` first so stale-state bugs show."""
        x = np.ascontiguousarray(x)
        out = np.zeros(out_size, out_dtype)
        st = self._lib.el_host_invoke(x.ctypes.data, out.ctypes.data, fill)
        if st != 0:
            raise HostBuildError(f"invoke() of {self.name} returned {st} (-1: wrote past its arena)")
        return out
