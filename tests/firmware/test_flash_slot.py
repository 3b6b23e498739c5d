"""The flash slot (firmware/core/el_flash_slot.c) against a simulated STM32H7 flash.

The simulator enforces the part's rules: erase by sector to 0xFF, program whole 32-byte flash
words, each once after an erase; a power cut during an erase or a program leaves the words it
touched torn, and reading a torn word reports an ECC error, as the H7's ECC does. The tests cut
power at every flash operation of an upload and check the boot never finds a half model.
"""

from __future__ import annotations

import ctypes
import hashlib
import random
import tempfile
from pathlib import Path

import pytest

import edgeloop
from edgeloop.models.compiler.host import CFLAGS, _cc, _run

CORE = edgeloop.FIRMWARE_DIR / "core"
SECTOR = 4096          # small sectors keep the exhaustive power-cut loop fast; the logic is size-blind
SECTORS = 4
BASE = 0x08100000      # bank 2 of the STM32H743

_SIM = r"""
#include <string.h>
#include "el_flash_slot.h"
#define WORDS (%(sectors)d * %(sector)d / 32)
static unsigned char mem[%(sectors)d * %(sector)d];
static unsigned char state[WORDS];          /* 0 erased, 1 programmed, 2 torn (ECC error on read) */
static long ops_left = -1;                  /* power cut when it reaches 0; -1: never */
static int dead;
static long ops;
static int word_of(unsigned addr) { return (int)((addr - %(base)du) / 32u); }
static int erase(void *c, unsigned addr) {
    (void)c;
    if (dead) return 0;
    unsigned off = addr - %(base)du;
    ops++;
    if (ops_left == 0) {                     /* an interrupted erase: its words are undefined */
        for (unsigned w = off / 32; w < (off + %(sector)du) / 32; w++) state[w] = (w %% 3) ? 2 : state[w];
        dead = 1;
        return 0;
    }
    if (ops_left > 0) ops_left--;
    memset(mem + off, 0xFF, %(sector)d);
    memset(state + off / 32, 0, %(sector)d / 32);
    return 1;
}
static int program(void *c, unsigned addr, const unsigned char *w) {
    (void)c;
    if (dead || addr %% 32) return 0;
    int i = word_of(addr);
    if (state[i] != 0) return 0;             /* a flash word is programmed once after an erase */
    ops++;
    if (ops_left == 0) {                     /* power cut mid-word: half written, ECC broken */
        memcpy(mem + (addr - %(base)du), w, 16);
        state[i] = 2;
        dead = 1;
        return 0;
    }
    if (ops_left > 0) ops_left--;
    memcpy(mem + (addr - %(base)du), w, 32);
    state[i] = 1;
    return 1;
}
static int readf(void *c, unsigned addr, unsigned char *out, unsigned len) {
    (void)c;
    for (unsigned a = addr & ~31u; a < addr + len; a += 32) if (state[word_of(a)] == 2) return 0;
    memcpy(out, mem + (addr - %(base)du), len);
    return 1;
}
static const unsigned char *map(void *c, unsigned addr) { (void)c; return mem + (addr - %(base)du); }
static el_flash_t F = {%(base)du, %(sectors)du, %(sector)du, (void *)erase, (void *)program, (void *)readf,
                       (void *)map, 0};
static char why[121];
void sim_power(long cut) { ops_left = cut; dead = 0; }
long sim_ops(void) { return ops; }
void sim_wipe(void) { memset(mem, 0xFF, sizeof mem); memset(state, 0, sizeof state); ops = 0; }
const char *sim_why(void) { return why; }
unsigned sim_capacity(void) { return el_flash_slot_capacity(&F); }
int sim_begin(unsigned size) { return el_flash_slot_begin(&F, size, why); }
int sim_write(unsigned size, unsigned off, const unsigned char *d, unsigned n) {
    return el_flash_slot_write(&F, size, off, d, n, why);
}
int sim_commit(unsigned size, const unsigned char *sha) { return el_flash_slot_commit(&F, size, sha, why); }
int sim_boot(unsigned *size) { return el_flash_slot_boot(&F, size, why); }
const unsigned char *sim_data(void) { return map(0, %(base)du + EL_FLASH_DATA_AT); }
"""


@pytest.fixture(scope="module")
def sim() -> ctypes.CDLL:
    build = Path(tempfile.mkdtemp(prefix="edgeloop-flash-"))
    shim = build / "sim.c"
    shim.write_text(_SIM % {"sector": SECTOR, "sectors": SECTORS, "base": BASE}, encoding="utf-8")
    lib = build / "libsim.so"
    sources = [CORE / n for n in ("el_flash_slot.c", "el_sha256.c", "el_crc32.c")]
    _run([_cc(), *CFLAGS, "-Wno-cast-function-type", "-shared", "-I", str(CORE), "-I",
          str(edgeloop.FIRMWARE_DIR / "nn"), *map(str, sources), str(shim), "-o", str(lib)])
    dll = ctypes.CDLL(str(lib))
    dll.sim_why.restype = ctypes.c_char_p
    dll.sim_data.restype = ctypes.POINTER(ctypes.c_ubyte)
    dll.sim_write.argtypes = [ctypes.c_uint, ctypes.c_uint, ctypes.c_char_p, ctypes.c_uint]
    dll.sim_commit.argtypes = [ctypes.c_uint, ctypes.c_char_p]
    return dll


def _upload(sim: ctypes.CDLL, blob: bytes, chunk: int = 256, seed: int = 0) -> bool:
    """Begin, chunks in random order, commit; False as soon as the flash refuses (power cut)."""
    if not sim.sim_begin(len(blob)):
        return False
    offsets = list(range(0, len(blob), chunk))
    random.Random(seed).shuffle(offsets)
    for off in offsets:
        part = blob[off:off + chunk]
        if not sim.sim_write(len(blob), off, part, len(part)):
            return False
    return bool(sim.sim_commit(len(blob), hashlib.sha256(blob).digest()))


def _boot(sim: ctypes.CDLL) -> tuple[int, bytes]:
    size = ctypes.c_uint(0)
    state = sim.sim_boot(ctypes.byref(size))
    return state, bytes(sim.sim_data()[:size.value])


def _blob(n: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(n)


def test_a_committed_upload_survives_reset(sim: ctypes.CDLL) -> None:
    sim.sim_wipe()
    sim.sim_power(-1)
    assert _boot(sim)[0] == 0                       # erased flash: no model
    blob = _blob(5000, 1)                           # not a whole number of flash words
    assert _upload(sim, blob), sim.sim_why()
    assert _boot(sim) == (1, blob)


def test_a_power_cut_at_any_flash_operation_never_boots_a_half_model(sim: ctypes.CDLL) -> None:
    old, new = _blob(3000, 2), _blob(4200, 3)
    sim.sim_wipe()
    sim.sim_power(-1)
    assert _upload(sim, old)
    before = sim.sim_ops()
    assert _upload(sim, new)
    total = sim.sim_ops() - before                  # erases + data words + 2 record words + the marker
    outcomes = set()
    for cut in range(total + 1):
        sim.sim_wipe()
        sim.sim_power(-1)
        assert _upload(sim, old)
        sim.sim_power(cut)
        finished = _upload(sim, new, seed=cut)
        sim.sim_power(-1)                           # reset: power back, flash contents kept
        state, data = _boot(sim)
        assert state in (0, 1, 2), state
        if state == 1:
            assert data == new and cut >= total, (cut, total)   # only a completed marker loads
        else:
            assert not finished
        outcomes.add(state)
        assert _upload(sim, new), sim.sim_why()     # and the host can restart the upload
        assert _boot(sim) == (1, new)
    assert outcomes >= {0, 2}                       # cut before the marker: empty; torn words: corrupt


def test_the_flash_rules_are_enforced(sim: ctypes.CDLL) -> None:
    sim.sim_wipe()
    sim.sim_power(-1)
    blob = _blob(1024, 4)
    assert sim.sim_begin(len(blob))
    assert sim.sim_write(len(blob), 0, blob[:256], 256)
    assert not sim.sim_write(len(blob), 0, blob[:256], 256)      # a word cannot be programmed twice
    assert not sim.sim_write(len(blob), 16, blob[16:48], 32)      # nor at a non-word offset
    assert not sim.sim_begin(sim.sim_capacity() + 1)
    assert b"does not fit" in sim.sim_why()
    assert not sim.sim_commit(len(blob), hashlib.sha256(blob).digest())   # chunks missing: sha differs
    assert b"sha256" in sim.sim_why()
