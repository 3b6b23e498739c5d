"""Facts kept with a compiled model, found from what a board reports: its decision rule and its Cortex-M7 count.

A board model is matched to its zoo entry by content hash (INFO's model hash
is the sha256 of the .tflite it was compiled from), never by name. From the
entry come:

- the **decision rule** of ``NAME.meta.json`` (`edgeloop.models.decision`),
  the identity rule when the model has none or is not from the zoo;
- the **emulated instruction count** per inference of the real ARM image,
  measured once under QEMU (``-icount``, see ``bench/cortex_m7_counts.py``)
  and kept next to the compiled C as ``c/NAME.qemu.json``; models compiled
  elsewhere keep theirs in the cache (``$EDGELOOP_CACHE/instructions``). A
  model without one has none: the window then shows no estimate, never a guess.

The estimate at a real clock assumes one instruction per cycle: a Cortex-M7
is dual-issue and also stalls on memory, so it is an estimate, labelled as one.

Example::

    count = instruction_count(model)                  # None when never measured
    if count is not None:
        print(estimate_text(count.instructions))      # "≈ 2.1 ms at 480 MHz (estimate ...)"
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeloop.app.link.firmware_build import cache_dir
from edgeloop.models.decision import DecisionRule, rule_for_model
from edgeloop.models.quantize import find_model_by_hash

NUCLEO_CPU_HZ = 480_000_000
"""NUCLEO-H743ZI2's Cortex-M7 clock at its maximum (the port's setting), for estimates from instruction counts."""
COUNT_SUFFIX = ".qemu.json"


@dataclass(frozen=True)
class InstructionCount:
    """Emulated instructions of one inference of a compiled model on the ARM image under QEMU."""

    model: str
    hash: str  # sha256 of the model's .tflite, hex
    instructions: int
    instr_per_tick: int
    input: str  # what input it was measured with
    source: str  # how it was measured

    def to_json(self) -> dict[str, Any]:
        """The stored form (``NAME.qemu.json``)."""
        return {"model": self.model, "hash": self.hash, "emulated_instructions": self.instructions,
                "instr_per_tick": self.instr_per_tick, "input": self.input, "source": self.source}


@functools.lru_cache(maxsize=64)
def _zoo_entry_for_hash(model_hash: bytes) -> Path | None:
    if not any(model_hash):  # hand-written test models carry a zero hash
        return None
    tflite = find_model_by_hash(model_hash)
    return tflite.parent if tflite is not None else None


def zoo_entry(model: Any) -> Path | None:
    """The zoo folder of a board model (matched by its content hash), or None."""
    return _zoo_entry_for_hash(bytes(model.hash))


def decision_rule(model: Any) -> DecisionRule:
    """The model's decision rule from its zoo meta.json; the identity rule otherwise (the same lookup as
    `run` and `validate`: edgeloop.models.decision.rule_for_model)."""
    return rule_for_model(bytes(model.hash)) if any(bytes(model.hash)) else DecisionRule()


def _count_paths(model_hash: bytes) -> list[Path]:
    paths = []
    entry = _zoo_entry_for_hash(model_hash)
    if entry is not None:
        paths.append(entry / "c" / f"{entry.name}{COUNT_SUFFIX}")
    paths.append(cache_dir() / "instructions" / f"{model_hash.hex()}{COUNT_SUFFIX}")
    return paths


def instruction_count(model: Any) -> InstructionCount | None:
    """The stored emulated instruction count of a board model, or None when it was never measured."""
    return _count_for_hash(bytes(model.hash))


@functools.lru_cache(maxsize=64)
def _count_for_hash(model_hash: bytes) -> InstructionCount | None:
    for path in _count_paths(model_hash):
        if path.is_file():
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("hash") == model_hash.hex():  # a count of another build of the model is no count
                return InstructionCount(data["model"], data["hash"], int(data["emulated_instructions"]),
                                        int(data["instr_per_tick"]), data.get("input", ""), data.get("source", ""))
    return None


def store_instruction_count(model: Any, count: InstructionCount) -> Path:
    """Keep a measured count with the model (zoo entry) or in the cache; returns the file written."""
    path = _count_paths(bytes(model.hash))[0]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(count.to_json(), indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    _count_for_hash.cache_clear()
    return path


def estimate_text(instructions: int, cpu_hz: int = NUCLEO_CPU_HZ) -> str:
    """"≈ 2.10 ms at 480 MHz": the time at a real clock, if every instruction took one cycle."""
    seconds = instructions / cpu_hz
    time_text = f"{seconds * 1e3:.3g} ms" if seconds >= 1e-3 else f"{seconds * 1e6:.3g} µs"
    return f"≈ {time_text} at {cpu_hz / 1e6:.0f} MHz"
