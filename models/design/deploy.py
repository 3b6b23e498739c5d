"""Deployability before training: exact flash, RAM and MACs of a candidate from its untrained int8 graph.

Sizes do not depend on weight values, so an untrained model converted to
full int8 (calibrated on random inputs in the deployed range) and compiled by
our compiler gives exactly the flash, arena and MACs the trained model will
have. Latency is the per-operator cost model's estimate (latency.py),
converted at the board clock. Candidates over a budget are rejected here,
before any training.

Each candidate is sized with every kernel set the Sizer has a cost model for
(`compile --kernels`: fast, the optimized kernels; small, the reference ones:
less flash and RAM, slower). The deployable variant is, among the sets that meet the
budgets (all sets when none does), the smallest whose latency estimate meets the
latency limit: --latency-ms when given, else real time (one hop of a time series, one
camera frame of an image model: latency.realtime_latency_ms); when no set meets it,
the fastest, which then reports the latency it exceeds. Real time is no budget: a set
that alone fits the flash is deployed even when it is slower than real time.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from edgeloop import require
from edgeloop.models.design import adapter
from edgeloop.models.design.budgets import Budget
from edgeloop.models.design.latency import CostModel, realtime_latency_ms
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
    kernel_set: str = "fast"                 # the set this variant compiles with (compile --kernels)
    latency_limit_ms: float | None = None    # the limit the set was chosen against (None: no limit known)
    latency_limit_source: str = ""           # "--latency-ms", "real time: one hop ...", ...
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)   # every set's figures, by set
    # The least flash of the sets that meet every budget: a tighter --flash would deploy that set (past real time
    # if need be), so "the best model at <= N bytes" counts a candidate at this size. None: not known (old trials).
    least_flash_bytes: int | None = None

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
    """Sizes candidates (cached by architecture) with each kernel set and checks them against a budget."""

    def __init__(self, td: adapter.TaskData, budget: Budget, cost: CostModel | Mapping[str, CostModel]) -> None:
        """`cost`: one CostModel (only its kernel set is sized) or a cost model per kernel set."""
        self.td = td
        self.budget = budget
        self.costs = {cost.kernel_set: cost} if isinstance(cost, CostModel) else dict(cost)
        self.cost = self.costs.get("fast") or next(iter(self.costs.values()))
        self._cache: dict[tuple, dict[str, Any]] = {}

    def compiled_figures(self, family: str, params: dict[str, Any]) -> dict[str, Any]:
        """flash, arena, weight bytes, MACs and estimated instructions of the compiled untrained model: the
        first kernel set's at the top level (fast when sized), every set's under "sets"."""
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
            label_bytes = sum(len(x.encode("utf-8")) + 1 + 4 for x in self.td.labels)
            sets = {}
            for kernel_set, cost in self.costs.items():
                compiled = compile_bytes(tflite, name="candidate", meta=None, kernels=kernel_set)
                sets[kernel_set] = {
                    # the deployed model carries the real labels and 8 B per (mean, std) normalisation pair
                    "flash_bytes": compiled.flash_bytes - compiled.label_bytes + label_bytes
                    + 8 * adapter.norm_pairs(self.td, family, params),
                    "arena_bytes": compiled.arena_bytes, "weight_bytes": compiled.const_bytes,
                    "macc": compiled.macc, "instructions": cost.instructions(compiled.graph),
                }
            self._cache[key] = {**sets[self.cost.kernel_set], "sets": sets}
            del model
            keras.backend.clear_session()
        return self._cache[key]

    def latency_limit(self, params: dict[str, Any]) -> tuple[float | None, str]:
        """The latency the kernel set is chosen against, and where it comes from."""
        if self.budget.latency_ms is not None:
            return self.budget.latency_ms, "--latency-ms"
        realtime = realtime_latency_ms(self.td.kind, params, self.td.rate_hz) if self.td is not None else None
        if realtime is None:
            return None, "none (no --latency-ms, no input period known)"
        what = "one camera frame at 30 frames/s" if self.td.kind == "images" else \
            f"one hop ({params.get('hop')} samples at {self.td.rate_hz:g} Hz)"
        return realtime, f"real time: {what}"

    def check(self, family: str, params: dict[str, Any]) -> Deployability:
        """The candidate's deployable variant: of the kernel sets within the budgets, the one with the least flash
        whose latency meets the latency limit (see the module docstring), with its figures and violations."""
        f = self.compiled_figures(family, params)
        limit, source = self.latency_limit(params)
        variants = {}
        for kernel_set, g in f["sets"].items():
            flash, ram = self.budget.usage(g["flash_bytes"], g["arena_bytes"], g["weight_bytes"])
            ms = 1000.0 * g["instructions"] / self.budget.clock_hz
            variants[kernel_set] = {"flash_bytes": flash, "ram_bytes": ram, "arena_bytes": g["arena_bytes"],
                                    "weight_bytes": g["weight_bytes"], "instructions": g["instructions"],
                                    "latency_ms_estimate": ms}
        violations = {k: self.budget.violations(v["flash_bytes"], v["ram_bytes"], v["latency_ms_estimate"])
                      for k, v in variants.items()}
        # Only the budgets are hard (flash, RAM, --latency-ms): real time chooses among the sets that meet them and
        # never rejects, so a set that alone fits the flash is deployed even when it runs past one frame or hop.
        fitting = [k for k in variants if not violations[k]] or list(variants)
        in_time = [k for k in fitting if limit is None or variants[k]["latency_ms_estimate"] <= limit]
        chosen = (min(in_time, key=lambda k: (variants[k]["flash_bytes"], variants[k]["latency_ms_estimate"]))
                  if in_time else min(fitting, key=lambda k: variants[k]["latency_ms_estimate"]))
        v = variants[chosen]
        least = min((variants[k]["flash_bytes"] for k in variants if not violations[k]), default=v["flash_bytes"])
        return Deployability(v["flash_bytes"], v["ram_bytes"], v["arena_bytes"], v["weight_bytes"], f["macc"],
                             v["instructions"], v["latency_ms_estimate"], violations[chosen],
                             kernel_set=chosen, latency_limit_ms=limit, latency_limit_source=source,
                             variants=variants, least_flash_bytes=least)
