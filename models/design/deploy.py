"""Deployability before training: exact flash, RAM and MACs of a candidate from its untrained int8 graph.

Sizes do not depend on weight values, so an untrained model converted to
full int8 (calibrated on random inputs in the deployed range) and compiled by
our compiler gives exactly the flash, arena and MACs the trained model will
have. Latency is the per-operator cost model's estimate (latency.py),
converted at the board clock. Candidates over a budget are rejected here,
before any training.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from edgeloop import require
from edgeloop.models.design import adapter
from edgeloop.models.design.budgets import Budget
from edgeloop.models.design.latency import CostModel
from edgeloop.models.design.space import arch_key


@dataclass
class Deployability:
    """What a candidate costs on the target, and which limits it breaks."""

    flash_bytes: int
    ram_bytes: int
    arena_bytes: int
    weight_bytes: int
    macc: int
    latency_instructions: float
    latency_ms_estimate: float
    violations: dict[str, float] = field(default_factory=dict)

    @property
    def fits(self) -> bool:
        return not self.violations

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@contextlib.contextmanager
def quiet_stderr() -> Iterator[None]:
    """Silence the TFLite converter's C++ log lines (written to fd 2, below Python's sys.stderr)."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _nonzero_biases(model: Any) -> None:
    """Give biases and batch-norm statistics non-zero values, as trained ones have.

    The compiler omits an all-zero bias array (a fresh model's biases are zeros,
    and folding a fresh batch norm gives zero biases too), so without this an
    untrained graph would come out smaller than the trained one. Kernels keep
    their random initial values: sizes depend on shapes only.
    """
    import numpy as np

    rng = np.random.default_rng(0)
    for w in model.weights:
        if "kernel" not in w.path:
            w.assign(rng.uniform(0.05, 1.0, w.shape).astype("float32"))


class Sizer:
    """Sizes candidates (cached by architecture) and checks them against a budget."""

    def __init__(self, td: adapter.TaskData, budget: Budget, cost: CostModel) -> None:
        self.td = td
        self.budget = budget
        self.cost = cost
        self._cache: dict[tuple, dict[str, Any]] = {}

    def compiled_figures(self, family: str, params: dict[str, Any]) -> dict[str, Any]:
        """flash, arena, weight bytes, MACs and estimated instructions of the compiled untrained model."""
        key = arch_key(family, params)
        if key not in self._cache:
            keras = require("keras")

            from edgeloop.models.compiler import compile_bytes
            from edgeloop.models.quantize import to_tflite_int8

            n_in = adapter.model_input_shape(self.td, family, params)
            model = adapter.build_model(family, params, n_in, self.td.n_classes)
            _nonzero_biases(model)
            rep = adapter.representative_input(family, params, n_in)
            with quiet_stderr():
                tflite = to_tflite_int8(model, rep)
            compiled = compile_bytes(tflite, name="candidate",
                                     meta=None)
            label_bytes = sum(len(x.encode("utf-8")) + 1 + 4 for x in self.td.labels)
            self._cache[key] = {
                # the deployed model carries the real labels and 8 B per (mean, std) normalisation pair
                "flash_bytes": compiled.flash_bytes - compiled.label_bytes + label_bytes
                + 8 * adapter.norm_pairs(self.td, family, params),
                "arena_bytes": compiled.arena_bytes, "weight_bytes": compiled.const_bytes,
                "macc": compiled.macc, "instructions": self.cost.instructions(compiled.graph),
            }
            del model
            keras.backend.clear_session()
        return self._cache[key]

    def check(self, family: str, params: dict[str, Any]) -> Deployability:
        f = self.compiled_figures(family, params)
        flash, ram = self.budget.usage(f["flash_bytes"], f["arena_bytes"], f["weight_bytes"])
        ms = 1000.0 * f["instructions"] / self.budget.clock_hz
        return Deployability(flash, ram, f["arena_bytes"], f["weight_bytes"], f["macc"], f["instructions"], ms,
                             self.budget.violations(flash, ram, ms))
