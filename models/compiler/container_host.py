"""The firmware's container executor (firmware/core/el_container.c) built for the host, callable from Python.

Tests and benchmarks use it to check that a container validates, is rejected
with the right reason, and runs bit-exact with the compiled C of the same
model (models/compiler/host.py), with the reference or the optimized kernels.
"""

from __future__ import annotations

import ctypes
import hashlib
import tempfile
from pathlib import Path

import numpy as np

import edgeloop
from edgeloop.models.compiler.host import CFLAGS, NN_DIR, HostBuildError, _cc, _run, kernel_objects

CORE_DIR: Path = edgeloop.FIRMWARE_DIR / "core"
HOST_ARENA_MAX = 1 << 20

_SHIM = r"""
#include <string.h>
#include "el_container.h"
static el_program_t prog;
static _Alignas(16) unsigned char arena[%(arena)d + 16];
int el_host_load(const unsigned char *data, unsigned size, unsigned capacity, unsigned arena_bytes, char *why) {
    if (arena_bytes > %(arena)du) return -1;
    return el_container_load(&prog, data, size, capacity, arena, arena_bytes, why) ? 1 : 0;
}
int el_host_run(const void *in, void *out, int fill) {
    memset(arena, fill, sizeof arena);
    arena[prog.arena_bytes] = 0x5A;  /* canary after the executor arena */
    int st = (int)el_program_run(&prog, in, out);
    return arena[prog.arena_bytes] == 0x5A ? st : -1;
}
int el_host_run_steps(const void *in, void *out, el_step_hook_t hook) {
    memset(arena, 0xA5, sizeof arena);
    arena[prog.arena_bytes] = 0x5A;
    int st = (int)el_program_run_steps(&prog, in, out, hook, NULL);
    return arena[prog.arena_bytes] == 0x5A ? st : -1;
}
unsigned el_host_program_bytes(void) { return (unsigned)sizeof(el_program_t); }
"""


_STEP_HOOK = ctypes.CFUNCTYPE(ctypes.c_bool, ctypes.c_void_p, ctypes.c_uint16, ctypes.c_void_p, ctypes.c_uint32)


class HostExecutor:
    """el_container.c with the kernels of one build, in a shared library."""

    def __init__(self, *, optimized: bool = False, extra_flags: tuple[str, ...] = ()) -> None:
        self.optimized = optimized
        flags = (*CFLAGS, f"-DNN_OPTIMIZED={int(optimized)}", *extra_flags)
        digest = hashlib.sha256(repr(flags).encode())
        sources = [CORE_DIR / "el_container.c", CORE_DIR / "el_text.c"]
        # The kernel headers too: their NN_KERNEL_ABI_VERSION and parameter structs are compiled in.
        for src in (*sources, CORE_DIR / "el_container.h", CORE_DIR / "el_text.h", *sorted(NN_DIR.glob("*.h"))):
            digest.update(src.read_bytes())
        build = Path(tempfile.gettempdir()) / f"edgeloop-exec-{digest.hexdigest()[:16]}"
        build.mkdir(exist_ok=True)
        lib = build / f"libexec_{'opt' if optimized else 'ref'}.so"
        if not lib.is_file():
            shim = build / "exec_shim.c"
            shim.write_text(_SHIM % {"arena": HOST_ARENA_MAX}, encoding="utf-8")
            tmp = build / f".{lib.name}.tmp"
            _run([_cc(), *flags, "-shared", "-I", str(NN_DIR), "-I", str(CORE_DIR), *map(str, sources),
                  str(shim), *map(str, kernel_objects(optimized, extra_flags)), "-o", str(tmp), "-lm"])
            tmp.replace(lib)
        self._lib = ctypes.CDLL(str(lib))
        self._lib.el_host_load.argtypes = [ctypes.c_char_p, ctypes.c_uint, ctypes.c_uint, ctypes.c_uint,
                                           ctypes.c_char_p]
        self._lib.el_host_run.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int]
        self._lib.el_host_run_steps.argtypes = [ctypes.c_void_p, ctypes.c_void_p, _STEP_HOOK]
        self.program_bytes = int(self._lib.el_host_program_bytes())
        self._slot: ctypes.Array[ctypes.c_char] | None = None

    def load(self, container: bytes, *, capacity: int | None = None, arena_bytes: int = 64 * 1024) -> str | None:
        """Validate and load; returns None on success, else the firmware's one-line reason."""
        self._slot = ctypes.create_string_buffer(bytes(container), max(len(container), 1))  # malloc: 16-aligned
        why = ctypes.create_string_buffer(121)
        cap = len(container) if capacity is None else capacity
        rc = self._lib.el_host_load(self._slot, len(container), cap, arena_bytes, why)
        if rc < 0:
            raise HostBuildError(f"arena of {arena_bytes} bytes exceeds the host executor's {HOST_ARENA_MAX}")
        return None if rc == 1 else why.value.decode("utf-8", "replace")

    def __call__(self, x: np.ndarray, out_dtype: np.dtype, out_size: int, fill: int = 0xA5) -> np.ndarray:
        """Run the loaded program once; the arena is filled with `fill` first so stale-state bugs show."""
        x = np.array(x, copy=True, order="C")   # a fresh, aligned buffer (a row of a batch may not be)
        out = np.zeros(out_size, out_dtype)
        st = self._lib.el_host_run(x.ctypes.data, out.ctypes.data, fill)
        if st != 0:
            raise HostBuildError(f"el_program_run returned {st} (-1: wrote past its arena)")
        return out

    def run_steps(self, x: np.ndarray, out_dtype: np.dtype, out_size: int,
                  stop_after: int | None = None) -> tuple[np.ndarray, list[tuple[int, bytes]]]:
        """Run through el_program_run_steps: the output and, per step, (step, the bytes it wrote)
        as the step hook saw them; the hook stops the run after step `stop_after`."""
        x = np.array(x, copy=True, order="C")
        out = np.zeros(out_size, out_dtype)
        seen: list[tuple[int, bytes]] = []

        def hook(_ctx: int | None, step: int, data: int, size: int) -> bool:
            seen.append((step, ctypes.string_at(data, size)))
            return stop_after is None or step < stop_after

        st = self._lib.el_host_run_steps(x.ctypes.data, out.ctypes.data, _STEP_HOOK(hook))
        if st != 0:
            raise HostBuildError(f"el_program_run_steps returned {st} (-1: wrote past its arena)")
        return out, seen
