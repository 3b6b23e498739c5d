"""Budgets of a design run: flash, RAM and latency a model may spend, and how a candidate is checked.

A board's budgets are what its firmware leaves free (measured from a build by
the app layer, see app/commands/_design_target.py); explicit limits override
them. `deploy_to` says where the weights live: a compiled-in model spends
flash on them, a model uploaded into a RAM slot spends RAM.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from edgeloop import InputError

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|KIB|K|MB|MIB|M)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "B": 1, "K": 1024, "KB": 1024, "KIB": 1024, "M": 1024 ** 2, "MB": 1024 ** 2, "MIB": 1024 ** 2}


def parse_size(text: str) -> int:
    """'16KB' -> 16384 bytes (K, KB and KiB are all 1024; a bare number is bytes)."""
    m = _SIZE_RE.match(str(text))
    if not m:
        raise InputError(f"cannot read size {text!r}: write bytes or KB/MB, e.g. 16KB, 2048, 1.5MB")
    return int(float(m.group(1)) * _UNITS[(m.group(2) or "").upper()])


def fmt_bytes(n: float) -> str:
    """A byte count as people read it: 812 B, 15.8 KB."""
    return f"{n:,.0f} B" if n < 1024 else f"{n / 1024:,.1f} KB"


@dataclass(frozen=True)
class BoardPreset:
    """A `--board` choice: a firmware port name and what it is."""

    board: str
    description: str


@dataclass(frozen=True)
class BoardSpec:
    """A board's memory and clock, and what its firmware (without a model) already uses."""

    board: str
    clock_hz: int
    flash_total: int
    ram_total: int
    firmware_flash: int
    firmware_ram: int
    firmware_image: str = ""

    @property
    def flash_free(self) -> int:
        return max(0, self.flash_total - self.firmware_flash)

    @property
    def ram_free(self) -> int:
        return max(0, self.ram_total - self.firmware_ram)


@dataclass(frozen=True)
class Budget:
    """Limits a candidate must meet (None: no limit) and the clock latency is converted at."""

    flash: int | None = None
    ram: int | None = None
    latency_ms: float | None = None
    clock_hz: int = 400_000_000
    deploy_to: str = "flash"
    board: str | None = None

    def __post_init__(self) -> None:
        if self.deploy_to not in ("flash", "ram"):
            raise InputError(f"--deploy-to must be flash or ram, got {self.deploy_to!r}")
        for name, v in (("flash", self.flash), ("ram", self.ram), ("latency-ms", self.latency_ms)):
            if v is not None and v <= 0:
                raise InputError(f"--{name} must be positive, got {v}")

    @classmethod
    def from_board(cls, spec: BoardSpec | None, *, flash: int | None = None, ram: int | None = None,
                   latency_ms: float | None = None, deploy_to: str = "flash",
                   clock_hz: int | None = None) -> "Budget":
        """Explicit limits win over the board's free memory; the clock comes from the board unless given."""
        return cls(flash=flash if flash is not None else (spec.flash_free if spec else None),
                   ram=ram if ram is not None else (spec.ram_free if spec else None),
                   latency_ms=latency_ms, clock_hz=clock_hz or (spec.clock_hz if spec else 400_000_000),
                   deploy_to=deploy_to, board=spec.board if spec else None)

    def usage(self, flash_bytes: int, arena_bytes: int, weight_bytes: int) -> tuple[int, int]:
        """(flash, RAM) a model spends here: weights count against RAM when deployed to a RAM slot."""
        if self.deploy_to == "ram":
            return flash_bytes - weight_bytes, arena_bytes + weight_bytes
        return flash_bytes, arena_bytes

    def violations(self, flash: int, ram: int, latency_ms: float | None) -> dict[str, float]:
        """Relative excess over each limit that is exceeded ({} when the candidate fits)."""
        out = {}
        if self.flash is not None and flash > self.flash:
            out["flash"] = flash / self.flash - 1
        if self.ram is not None and ram > self.ram:
            out["ram"] = ram / self.ram - 1
        if self.latency_ms is not None and latency_ms is not None and latency_ms > self.latency_ms:
            out["latency"] = latency_ms / self.latency_ms - 1
        return out

    def describe(self) -> str:
        parts = [f"flash ≤ {fmt_bytes(self.flash)}" if self.flash else "flash unlimited",
                 f"RAM ≤ {fmt_bytes(self.ram)}" if self.ram else "RAM unlimited",
                 f"latency ≤ {self.latency_ms:g} ms" if self.latency_ms else "latency unlimited"]
        where = f" on {self.board}" if self.board else ""
        return f"{', '.join(parts)}{where} at {self.clock_hz / 1e6:g} MHz, weights in {self.deploy_to}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
