"""The flash slot (firmware/core/el_flash_slot.c) against a simulated STM32H7 flash.

The simulator (flash_sim.c) enforces the part's rules: erase by sector to 0xFF, program whole 32-byte flash
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
SIM_SOURCE = Path(__file__).resolve().parent / "flash_sim.c"


def sim_flags() -> list[str]:
    return [f"-DSIM_SECTOR={SECTOR}", f"-DSIM_SECTORS={SECTORS}", f"-DSIM_BASE={BASE}u"]



@pytest.fixture(scope="module")
def sim() -> ctypes.CDLL:
    build = Path(tempfile.mkdtemp(prefix="edgeloop-flash-"))
    lib = build / "libsim.so"
    sources = [CORE / n for n in ("el_flash_slot.c", "el_sha256.c", "el_crc32.c")] + [SIM_SOURCE]
    _run([_cc(), *CFLAGS, *sim_flags(), "-shared", "-I", str(CORE), "-I",
          str(edgeloop.FIRMWARE_DIR / "nn"), *map(str, sources), "-o", str(lib)])
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
