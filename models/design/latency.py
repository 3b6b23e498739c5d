"""Per-operator latency model calibrated against emulated instruction counts (QEMU, Cortex-M7).

Running every candidate under QEMU would cost a firmware build and an emulator
run per trial (seconds each), so the search estimates instead: every compiled
kernel call ("step") costs

    instructions = a_k * MACs + b_k * output elements + c_k * input elements + d_k

with one coefficient set per operator class k (`op_class`). The coefficients are
fitted (non-negative least squares) on single-layer models measured under
`qemu-system-arm -icount shift=0` with the optimized kernels, and the fit
reports its own relative error on whole models it never saw (held-out shapes).
Each kernel set (`compile --kernels`, models/compiler/kernel_sizes.py) has its own
calibration: the fast set (the optimized kernels) in `latency_calibration.json`,
the small set (the reference kernels) in `latency_calibration_small.json`, beside
this module. They are regenerated with `edgeloop design --calibrate-latency [SET]`
(which needs QEMU and the ARM toolchain) and record a hash of the kernel sources
they measured, so a stale calibration is detectable (`CostModel.stale`).

Milliseconds are `instructions / clock`: an **estimate from emulated
instructions**, not measured cycles (a Cortex-M7 dual-issues some
instructions and stalls on memory for others).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgeloop import MissingFileError, require
from edgeloop.models.compiler.kernel_sizes import DEFAULT_KERNEL_SET, KERNEL_SETS
from edgeloop.models.compiler.kernel_sizes import kernel_sources_hash as kernel_sources_hash

CALIBRATION_FILE = Path(__file__).with_name("latency_calibration.json")
CALIBRATION_FILES = {"fast": CALIBRATION_FILE, "small": Path(__file__).with_name("latency_calibration_small.json")}
SOURCES = {"fast": "qemu-system-arm -M mps2-an500 -icount shift=0, optimized kernels",
           "small": "qemu-system-arm -M mps2-an500 -icount shift=0, reference kernels (kernel set small)"}
# A camera frame period: the real-time latency of an image model when no --latency-ms is given (30 frames/s).
FRAME_PERIOD_MS = 1000.0 / 30.0
LATENCY_LABEL = "estimate from emulated instructions (QEMU Cortex-M7 icount, per-operator model)"
TERMS = ("macc", "out", "in", "call")


def op_class(step: Any, kernel_set: str = DEFAULT_KERNEL_SET) -> str:
    """The cost class of a compiled step with a kernel set: kernels whose instructions/MAC differ get their own class.

    First convolution layers with a channel count that is not a multiple of 4
    (gray or RGB images) take a slower path than the SMLAD core, and depthwise
    and 1x1 convolutions have their own loops. The reference kernels (small set)
    have one loop for every channel count: there only a stem (fewer than 4 input
    channels, few MACs per output) is a class of its own, and an inner conv of 6,
    10 or 15 channels is a conv (priced as a stem it came out 57 % above QEMU).
    """
    kernel = step.kernel
    if kernel == "nn_conv2d_s8":
        p = step.params
        in_c = int(p.get("in_c", 4))
        if in_c == 1:
            return "conv_stem_gray"
        if in_c % 4 and (kernel_set != "small" or in_c < 4):
            return "conv_stem_odd"
        if int(p.get("k_h", 3)) * int(p.get("k_w", 3)) == 1:
            return "conv_1x1"
        return "conv"
    if kernel == "nn_depthwise_conv2d_s8":
        return "depthwise"
    if kernel in ("nn_fc_s8", "nn_max_pool_s8", "nn_avg_pool_s8", "nn_softmax_s8", "nn_mean_s8"):
        return kernel[3:-3]
    return "other"


def step_terms(step: Any, tensors: Sequence[Any]) -> dict[str, float]:
    """The regressors of one step: MACs, output and input elements, and 1 (the call)."""
    out = float(np.prod(step.out_shape)) if step.out_shape else 0.0
    inp = float(sum(np.prod(s) for s in step.in_shapes)) if step.in_shapes else 0.0
    return {"macc": float(step.macc), "out": out, "in": inp, "call": 1.0}


def graph_rows(graph: Any, kernel_set: str = DEFAULT_KERNEL_SET) -> list[tuple[str, dict[str, float]]]:
    """(class, terms) of every step of a lowered graph (`CompiledModel.graph`), in the kernel set's classes."""
    return [(op_class(s, kernel_set), step_terms(s, graph.model.tensors)) for s in graph.steps]


def realtime_latency_ms(kind: str, params: dict[str, Any], rate_hz: float) -> float | None:
    """The latency a model must meet to keep up with its input when no limit is given: one hop for time
    series (a new window every hop / rate seconds), one camera frame for images (FRAME_PERIOD_MS)."""
    if kind == "images":
        return FRAME_PERIOD_MS
    hop = params.get("hop")
    return 1000.0 * float(hop) / float(rate_hz) if hop and rate_hz else None


@dataclass
class CostModel:
    """Fitted per-class coefficients plus the fit's own error on held-out models."""

    coefficients: dict[str, dict[str, float]]
    held_out: list[dict[str, Any]] = field(default_factory=list)
    kernels_hash: str = ""
    source: str = SOURCES[DEFAULT_KERNEL_SET]
    kernel_set: str = DEFAULT_KERNEL_SET   # the kernels measured (compile --kernels)

    def instructions(self, graph: Any) -> float:
        """Estimated emulated instructions of one inference of a lowered graph."""
        return self.instructions_of_rows(graph_rows(graph, self.kernel_set))

    def instructions_of_rows(self, rows: Iterable[tuple[str, dict[str, float]]]) -> float:
        total = 0.0
        for cls, terms in rows:
            coef = self.coefficients.get(cls) or self.coefficients.get("other", {})
            total += sum(coef.get(t, 0.0) * terms[t] for t in TERMS)
        return total

    def milliseconds(self, graph: Any, clock_hz: float) -> float:
        """Estimated latency in ms at `clock_hz`, one emulated instruction per cycle."""
        return 1000.0 * self.instructions(graph) / float(clock_hz)

    @property
    def held_out_error(self) -> dict[str, float]:
        """Relative error |estimate - measured| / measured on the held-out models: mean and max."""
        errs = [abs(h["estimate"] - h["measured"]) / h["measured"] for h in self.held_out if h["measured"]]
        if not errs:
            return {"mean": float("nan"), "max": float("nan"), "models": 0}
        return {"mean": float(np.mean(errs)), "max": float(np.max(errs)), "models": len(errs)}

    @property
    def stale(self) -> bool:
        """True when firmware/nn changed since the calibration was measured."""
        return bool(self.kernels_hash) and self.kernels_hash != kernel_sources_hash()

    def to_json(self) -> dict[str, Any]:
        out = {"coefficients": self.coefficients, "held_out": self.held_out, "kernels_hash": self.kernels_hash,
               "source": self.source, "terms": list(TERMS)}
        if self.kernel_set != DEFAULT_KERNEL_SET:   # the fast set's file predates the field: keep it as it is
            out["kernel_set"] = self.kernel_set
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "CostModel":
        return cls({k: dict(v) for k, v in data["coefficients"].items()}, list(data.get("held_out", [])),
                   str(data.get("kernels_hash", "")), str(data.get("source", "")),
                   str(data.get("kernel_set", DEFAULT_KERNEL_SET)))

    def save(self, path: Path | None = None) -> Path:
        """Write the calibration (default: the kernel set's file in CALIBRATION_FILES); returns the path."""
        path = Path(path) if path is not None else CALIBRATION_FILES[self.kernel_set]
        path.write_text(json.dumps(self.to_json(), indent=1) + "\n", encoding="utf-8")
        return path


def load_cost_model(kernel_set: str = DEFAULT_KERNEL_SET, path: Path | None = None) -> CostModel:
    """The committed calibration of `kernel_set`; raises MissingFileError with the command that makes one."""
    if kernel_set not in KERNEL_SETS:
        raise ValueError(f"kernel set must be one of {', '.join(KERNEL_SETS)}, not {kernel_set!r}")
    path = Path(path) if path is not None else CALIBRATION_FILES[kernel_set]
    try:
        return CostModel.from_json(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise MissingFileError(f"no latency calibration at {path}: run `edgeloop design --calibrate-latency "
                               f"{kernel_set}` (needs qemu-system-arm and arm-none-eabi-gcc)") from None


def load_cost_models() -> dict[str, CostModel]:
    """Every kernel set's calibration, by set."""
    return {kernel_set: load_cost_model(kernel_set) for kernel_set in KERNEL_SETS}


def fit_cost_model(samples: Sequence[tuple[list[tuple[str, dict[str, float]]], float]]) -> dict[str, dict[str, float]]:
    """Fit non-negative per-class coefficients to (rows of a model, measured instructions) samples.

    One joint non-negative least-squares problem over all classes, weighted by
    1/measured so small and large models count alike (relative error).
    """
    from scipy.optimize import nnls

    classes = sorted({cls for rows, _ in samples for cls, _ in rows})
    cols = [(c, t) for c in classes for t in TERMS]
    a = np.zeros((len(samples), len(cols)))
    b = np.zeros(len(samples))
    for i, (rows, measured) in enumerate(samples):
        for cls, terms in rows:
            for t in TERMS:
                a[i, cols.index((cls, t))] += terms[t]
        a[i] /= measured
        b[i] = 1.0
    coef, _ = nnls(a, b)
    out: dict[str, dict[str, float]] = {c: {} for c in classes}
    for (c, t), v in zip(cols, coef):
        out[c][t] = float(v)
    return out


def _keras_net(shape: tuple[int, ...], layers_spec: Sequence[tuple], seed: int) -> Any:
    keras = require("keras")
    layers = require("keras.layers")

    keras.utils.set_random_seed(seed)
    inp = keras.Input(shape)
    x = inp
    for kind, *args in layers_spec:
        if kind == "conv":
            ch, k, stride = args
            x = layers.Conv2D(ch, k, strides=stride, padding="same", activation="relu")(x)
        elif kind == "dw":
            (stride,) = args
            x = layers.DepthwiseConv2D(3, strides=stride, padding="same", activation="relu")(x)
        elif kind == "pool":
            x = layers.MaxPooling2D(2)(x)
        elif kind == "flat":
            x = layers.Flatten()(x)
        elif kind == "dense":
            units, act = args
            x = layers.Dense(units, activation=act)(x)
    return keras.Model(inp, x)


# name -> (input shape, layers); "fit" models calibrate, "held_out" ones only check the fit.
CALIBRATION_NETS: dict[str, dict[str, tuple[tuple[int, ...], list[tuple]]]] = {
    "fit": {
        "fc_54_16": ((54,), [("dense", 16, "relu")]),
        "fc_54_64": ((54,), [("dense", 64, "relu")]),
        "fc_256_32": ((256,), [("dense", 32, "relu")]),
        "fc_1024_8": ((1024,), [("dense", 8, "relu")]),
        "fc_softmax_32_5": ((32,), [("dense", 5, "softmax")]),
        "fc_softmax_128_10": ((128,), [("dense", 10, "softmax")]),
        "stem_32_g8": ((32, 32, 1), [("conv", 8, 3, 2)]),
        "stem_64_g8": ((64, 64, 1), [("conv", 8, 3, 2)]),
        "stem_48_rgb12": ((48, 48, 3), [("conv", 12, 3, 2)]),
        "stem_96_g4": ((96, 96, 1), [("conv", 4, 3, 2)]),
        "stem_32_rgb8": ((32, 32, 3), [("conv", 8, 3, 2)]),
        "stem_64_rgb4": ((64, 64, 3), [("conv", 4, 3, 2)]),
        "conv_16_8_8": ((16, 16, 8), [("conv", 8, 3, 1)]),
        "conv_16_8_16": ((16, 16, 8), [("conv", 16, 3, 1)]),
        "conv_8_16_32": ((8, 8, 16), [("conv", 32, 3, 1)]),
        "conv_12_24_24": ((12, 12, 24), [("conv", 24, 3, 1)]),
        "conv_4_32_32": ((4, 4, 32), [("conv", 32, 3, 1)]),
        "pw_16_8_16": ((16, 16, 8), [("conv", 16, 1, 1)]),
        "pw_8_32_32": ((8, 8, 32), [("conv", 32, 1, 1)]),
        "dw_16_8": ((16, 16, 8), [("dw", 1)]),
        "dw_32_16": ((32, 32, 16), [("dw", 1)]),
        "dw_16_32_s2": ((16, 16, 32), [("dw", 2)]),
        "pool_32_8": ((32, 32, 8), [("pool",)]),
        "pool_16_24": ((16, 16, 24), [("pool",)]),
    },
    "held_out": {
        "mlp_54_24_12_5": ((54,), [("dense", 24, "relu"), ("dense", 12, "relu"), ("dense", 5, "softmax")]),
        "mlp_36_8_5": ((36,), [("dense", 8, "relu"), ("dense", 5, "softmax")]),
        "cnn_48_g6_d2": ((48, 48, 1), [("conv", 6, 3, 2), ("pool",), ("conv", 12, 3, 1), ("pool",),
                                        ("conv", 12, 3, 1), ("flat",), ("dense", 5, "softmax")]),
        "cnn_64_g8_d3": ((64, 64, 1), [("conv", 8, 3, 2), ("pool",), ("conv", 16, 3, 1), ("pool",),
                                        ("conv", 16, 3, 1), ("pool",), ("conv", 16, 3, 1), ("flat",),
                                        ("dense", 5, "softmax")]),
        "dsconv_32_rgb": ((32, 32, 3), [("conv", 8, 3, 2), ("dw", 1), ("conv", 16, 1, 1), ("pool",),
                                        ("dw", 1), ("conv", 16, 1, 1), ("flat",), ("dense", 4, "softmax")]),
    },
}


def calibration_tflites(group: str) -> dict[str, bytes]:
    """int8 .tflite bytes of the calibration nets of `group` ("fit" or "held_out"), random weights."""
    from edgeloop.models.quantize import to_tflite_int8

    out = {}
    for i, (name, (shape, spec)) in enumerate(CALIBRATION_NETS[group].items()):
        model = _keras_net(shape, spec, seed=i)
        rep = np.random.default_rng(i).uniform(-1, 1, (64, *shape)).astype(np.float32)
        out[name] = to_tflite_int8(model, rep)
    return out
