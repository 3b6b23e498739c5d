"""The firmware's upload slots (el_upload.c) built for the host and driven from Python through ctypes.

el_upload_serve() is a pure state machine (the core sends what it returns), so
the tests drive it with the very payloads protocol/upload.py encodes and read
back its replies, without a link.
"""

from __future__ import annotations

import ctypes
import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import edgeloop
from edgeloop.models.compiler.host import CFLAGS, NN_DIR, _cc, _run, kernel_objects

CORE = edgeloop.FIRMWARE_DIR / "core"
FLASH_SIM = Path(__file__).resolve().parent / "flash_sim.c"
SOURCES = ("el_upload.c", "el_container.c", "el_sha256.c", "el_text.c")

_SHIM = r"""
#include "el_upload.h"
static el_upload_reply_t r;
int up_serve(int type, const unsigned char *p, unsigned n, int active) {
    el_upload_serve((uint8_t)type, p, n, (uint8_t)active, &r);
    return r.type;
}
unsigned up_len(void) { return (unsigned)r.len; }
const unsigned char *up_payload(void) { return r.payload; }
int up_error(void) { return r.error; }
const char *up_text(void) { return r.text; }
int up_new_active(void) { return r.new_active; }
int up_forget(void) { return r.forget_input; }
int up_append(void) { return r.append_descriptor; }
int up_model_id(void) { return r.model_id; }
void up_init(int first) { el_upload_init((uint8_t)first); }
int up_invoke(int id, const void *in, void *out) {
    const nn_model_t *m = el_upload_model((uint8_t)id);
    return m ? (int)m->invoke(in, out, 0) : -2;
}
int up_loaded(int id) { return el_upload_model((uint8_t)id) != 0; }
unsigned up_info(unsigned char *buf, unsigned cap) { return (unsigned)el_upload_info(buf, cap); }
long up_buffer_gap(int id) {  /* output buffer minus input buffer, -1 when not loaded */
    unsigned char *i = el_upload_input_buffer((uint8_t)id), *o = el_upload_output_buffer((uint8_t)id);
    return i && o ? (long)(o - i) : -1;
}
"""


@dataclass
class Reply:
    type: int
    payload: bytes
    error: int
    text: str
    new_active: int
    forget_input: int
    append_descriptor: bool
    model_id: int

    @property
    def is_error(self) -> bool:
        return self.type == 0xFF


class HostSlots:
    """el_upload.c with `slots` slots of `slot_bytes` and `arena_bytes` each, models numbered from first_id."""

    def __init__(self, *, slots: int = 2, slot_bytes: int = 64 * 1024, arena_bytes: int = 64 * 1024,
                 first_id: int = 3, flash: bool = False) -> None:
        """`flash`: a flash slot after the RAM slots, on the simulated H7 flash of flash_sim.c
        (16 sectors of 4 KB; its contents survive `reset()`, which reruns the boot check)."""
        flags = (*CFLAGS, "-DNN_OPTIMIZED=0", f"-DEL_UPLOAD_SLOTS={slots}", f"-DEL_SLOT_BYTES={slot_bytes}u",
                 f"-DEL_SLOT_ARENA_BYTES={arena_bytes}u")
        sources = [CORE / s for s in SOURCES]
        if flash:
            flags += ("-DEL_FLASH_SLOT=1", "-DEL_FLASH_SLOT_ARENA_BYTES=65536u", "-DSIM_SECTOR=4096",
                      "-DSIM_SECTORS=16", "-DSIM_BASE=135266304u")
            sources += [CORE / "el_flash_slot.c", CORE / "el_crc32.c", FLASH_SIM]
        digest = hashlib.sha256(repr(flags).encode() + _SHIM.encode())
        for path in (*sources, *(CORE / n for n in ("el_upload.h", "el_container.h", "el_sha256.h", "el_text.h",
                                                    "el_flash_slot.h")),
                     *sorted(NN_DIR.glob("*.h"))):  # the kernel ABI and parameter structs are compiled in
            digest.update(path.read_bytes())
        build = Path(tempfile.gettempdir()) / f"edgeloop-upload-{digest.hexdigest()[:16]}"
        build.mkdir(exist_ok=True)
        lib = build / "libupload.so"
        if not lib.is_file():
            (build / "shim.c").write_text(_SHIM, encoding="utf-8")
            tmp = build / ".libupload.so.tmp"
            _run([_cc(), *flags, "-shared", "-I", str(NN_DIR), "-I", str(CORE), *map(str, sources),
                  str(build / "shim.c"), *map(str, kernel_objects(False)), "-o", str(tmp), "-lm"])
            tmp.replace(lib)
        self.lib = ctypes.CDLL(str(lib))
        self.lib.up_payload.restype = ctypes.POINTER(ctypes.c_ubyte)
        self.lib.up_text.restype = ctypes.c_char_p
        self.lib.up_serve.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint, ctypes.c_int]
        self.lib.up_invoke.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
        self.lib.up_info.argtypes = [ctypes.c_char_p, ctypes.c_uint]
        self.lib.up_buffer_gap.restype = ctypes.c_long
        self.first_id = first_id
        self.flash = flash
        self.lib.up_init(first_id)

    def reset(self, power_cut_after: int | None = None) -> None:
        """A board reset: RAM slots are lost, the flash keeps its words; the boot check runs again.
        With `power_cut_after`, the flash instead fails from its k-th next operation (a cut)."""
        if power_cut_after is not None:
            self.lib.sim_power(power_cut_after)
            return
        if self.flash:
            self.lib.sim_power(-1)
        self.lib.up_init(self.first_id)

    def request(self, type_: int, payload: bytes, active: int = 0) -> Reply:
        t = self.lib.up_serve(type_, payload, len(payload), active)
        n = self.lib.up_len()
        data = bytes(self.lib.up_payload()[:n])
        return Reply(t, data, self.lib.up_error(), self.lib.up_text().decode(), self.lib.up_new_active(),
                     self.lib.up_forget(), bool(self.lib.up_append()), self.lib.up_model_id())

    def invoke(self, model_id: int, x: np.ndarray, out_dtype: np.dtype, out_size: int) -> np.ndarray:
        x = np.array(x, copy=True, order="C")
        out = np.zeros(out_size, out_dtype)
        st = self.lib.up_invoke(model_id, x.ctypes.data, out.ctypes.data)
        if st != 0:
            raise RuntimeError(f"invoke of model {model_id} returned {st} (-2: not loaded)")
        return out

    def loaded(self, model_id: int) -> bool:
        return bool(self.lib.up_loaded(model_id))

    def info(self) -> bytes:
        buf = ctypes.create_string_buffer(64)
        n = self.lib.up_info(buf, 64)
        return buf.raw[:n]
