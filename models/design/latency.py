"""Per-operator latency model calibrated against emulated instruction counts (QEMU, Cortex-M7).

Running every candidate under QEMU would cost a firmware build and an emulator
run per trial (seconds each), so the search estimates instead: every compiled
kernel call ("step") costs

    instructions = a_k * MACs + b_k * output elements + c_k * input elements
                   + w_k * weights + p_k * patch elements + d_k

(patch elements: the inputs a convolution or FC reads per output channel,
MACs / output channels, which an im2col path copies once)

with one coefficient set per operator class k (`op_class`). With the fast set a
class is the operator kind and the optimized path the kernel takes for that
layer (`conv:wide`, `depthwise:plane3`, ...: paths differ by 2-3x per MAC), with
the kind alone as the fallback for a path the calibration never met. The
coefficients are fitted (non-negative least squares, relative error) per class on
every step of the calibration models, each step timed under
`qemu-system-arm -icount shift=0` through the model's step-observing twin, and
the fit reports its own relative error on whole models it never saw (held-out
shapes).
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
TERMS = ("macc", "out", "in", "weights", "patch", "call")
# A path class is fitted only from at least this many steps; fewer fall back to their operator kind's class.
MIN_CLASS_STEPS = 3
# Steps are weighted by 1/instructions (relative error), but a tick is 40 instructions: below this a step's
# measurement is mostly rounding, so it weighs as if it were this long.
MIN_WEIGHTED_INSTRUCTIONS = 400.0


def op_class(step: Any, kernel_set: str = DEFAULT_KERNEL_SET) -> str:
    """The cost class of a compiled step with a kernel set: its operator kind (`op_kind`), and with the fast set
    the optimized path the kernel takes for it ("conv:wide"); `kind_of(cls)` is the fallback class."""
    from edgeloop.models.compiler.emit import kernel_path

    kind = op_kind(step, kernel_set)
    path = kernel_path(step, kernel_set)
    return f"{kind}:{path}" if path else kind


def kind_of(cls: str) -> str:
    """The operator-kind class of a cost class ("conv:wide" -> "conv")."""
    return cls.split(":", 1)[0]


def op_kind(step: Any, kernel_set: str = DEFAULT_KERNEL_SET) -> str:
    """The operator kind of a compiled step with a kernel set: kernels whose instructions/MAC differ get their own.

    First convolution layers (gray or RGB images) have paths of their own, an
    inner conv whose channel count is not a multiple of 4 takes a slower path
    than the SMLAD core with the optimized kernels, and depthwise and 1x1
    convolutions have their own loops. The reference kernels (small set) have
    one loop for every channel count: there only a stem (fewer than 4 input
    channels, few MACs per output) is a class of its own, and an inner conv of 6,
    10 or 15 channels is a conv (priced as a stem it came out 57 % above QEMU).
    """
    kernel = step.kernel
    if kernel == "nn_conv2d_s8":
        p = step.params
        in_c = int(p.get("in_c", 4))
        if in_c == 1:
            return "conv_stem_gray"
        if in_c % 4 and in_c < 4:
            return "conv_stem_odd"
        if in_c % 4 and kernel_set != "small":
            return "conv_odd"
        if int(p.get("k_h", 3)) * int(p.get("k_w", 3)) == 1:
            return "conv_1x1"
        return "conv"
    if kernel == "nn_depthwise_conv2d_s8":
        return "depthwise"
    if kernel in ("nn_fc_s8", "nn_max_pool_s8", "nn_avg_pool_s8", "nn_softmax_s8", "nn_mean_s8"):
        return kernel[3:-3]
    return "other"


def step_terms(step: Any, tensors: Sequence[Any]) -> dict[str, float]:
    """The regressors of one step: MACs, output and input elements, weights (per-call set-up such as widened
    weight records scales with them), patch elements (above) and 1 (the call)."""
    out = float(np.prod(step.out_shape)) if step.out_shape else 0.0
    inp = float(sum(np.prod(s) for s in step.in_shapes)) if step.in_shapes else 0.0
    weights = float(step.consts["weights"].size) if "weights" in step.consts else 0.0
    patch = float(step.macc) / step.out_shape[-1] if step.kernel in ("nn_conv2d_s8", "nn_fc_s8") else 0.0
    return {"macc": float(step.macc), "out": out, "in": inp, "weights": weights, "patch": patch, "call": 1.0}


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
            coef = (self.coefficients.get(cls) or self.coefficients.get(kind_of(cls))
                    or self.coefficients.get("other", {}))
            total += sum(coef.get(t, 0.0) * terms.get(t, 0.0) for t in TERMS)
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


def fit_cost_model(steps: Sequence[tuple[str, dict[str, float], float]]) -> dict[str, dict[str, float]]:
    """Fit non-negative coefficients per class to measured steps (class, terms, instructions).

    Every operator kind gets a class fitted on all its steps; a path class
    ("conv:wide") gets its own when at least MIN_CLASS_STEPS steps took it.
    Each class is one non-negative least-squares problem weighted by
    1/instructions, so short and long steps count alike (relative error).
    """
    groups: dict[str, list[tuple[dict[str, float], float]]] = {}
    for cls, terms, measured in steps:
        groups.setdefault(kind_of(cls), []).append((terms, measured))
        if cls != kind_of(cls):
            groups.setdefault(cls, []).append((terms, measured))
    return {cls: _fit_class(rows) for cls, rows in sorted(groups.items())
            if cls == kind_of(cls) or len(rows) >= MIN_CLASS_STEPS}


def _fit_class(rows: Sequence[tuple[dict[str, float], float]]) -> dict[str, float]:
    from scipy.optimize import nnls

    a = np.array([[terms.get(t, 0.0) for t in TERMS] for terms, _ in rows])
    b = np.array([measured for _, measured in rows], dtype=float)
    w = 1.0 / np.maximum(b, MIN_WEIGHTED_INSTRUCTIONS)
    coef, _ = nnls(a * w[:, None], b * w)
    return {t: float(v) for t, v in zip(TERMS, coef)}


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
        elif kind == "avgpool":
            x = layers.AveragePooling2D(2)(x)
        elif kind == "gap":
            x = layers.GlobalAveragePooling2D()(x)
        elif kind == "conv1d":
            ch, k, stride = args
            x = layers.Conv1D(ch, k, strides=stride, padding="same", activation="relu")(x)
        elif kind == "pool1d":
            x = layers.MaxPooling1D(2)(x)
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
        # Whole nets of the shapes the search proposes: inside a net the compiler has arena room for the
        # optimized paths a lone layer never takes (wide weights, in-place depthwise), and each step is a sample.
        "cnn_32_g4_d3": ((32, 32, 1), [("conv", 4, 3, 2), ("pool",), ("conv", 8, 3, 1), ("pool",),
                                        ("conv", 8, 3, 1), ("flat",), ("dense", 5, "softmax")]),
        "cnn_64_g12_d4": ((64, 64, 1), [("conv", 12, 3, 2), ("pool",), ("conv", 16, 3, 1), ("pool",),
                                         ("conv", 16, 3, 1), ("pool",), ("conv", 16, 3, 1), ("flat",),
                                         ("dense", 5, "softmax")]),
        "cnn_40_g10_d3": ((40, 40, 1), [("conv", 10, 3, 2), ("pool",), ("conv", 15, 3, 1), ("pool",),
                                         ("conv", 15, 3, 1), ("flat",), ("dense", 5, "softmax")]),
        "cnn_96_g8_d4": ((96, 96, 1), [("conv", 8, 3, 2), ("pool",), ("conv", 12, 3, 1), ("pool",),
                                        ("conv", 24, 3, 1), ("pool",), ("conv", 24, 3, 1), ("gap",),
                                        ("dense", 5, "softmax")]),
        "cnn_48_rgb8_d3": ((48, 48, 3), [("conv", 8, 3, 2), ("avgpool",), ("conv", 12, 3, 1), ("avgpool",),
                                          ("conv", 20, 3, 1), ("flat",), ("dense", 4, "softmax")]),
        "cnn_24_rgb16_d2": ((24, 24, 3), [("conv", 16, 3, 1), ("pool",), ("conv", 32, 3, 1), ("pool",),
                                           ("conv", 32, 3, 1), ("gap",), ("dense", 10, "softmax")]),
        "sep_64_g8": ((64, 64, 1), [("conv", 8, 3, 2), ("dw", 1), ("conv", 16, 1, 1), ("pool",), ("dw", 1),
                                     ("conv", 24, 1, 1), ("pool",), ("dw", 2), ("conv", 32, 1, 1), ("flat",),
                                     ("dense", 5, "softmax")]),
        "sep_32_rgb12": ((32, 32, 3), [("conv", 12, 3, 2), ("dw", 1), ("conv", 12, 1, 1), ("dw", 2),
                                        ("conv", 24, 1, 1), ("dw", 1), ("conv", 48, 1, 1), ("gap",),
                                        ("dense", 6, "softmax")]),
        "cnn1d_128x6": ((128, 6), [("conv1d", 8, 5, 2), ("pool1d",), ("conv1d", 16, 5, 1), ("pool1d",),
                                    ("conv1d", 16, 3, 1), ("flat",), ("dense", 6, "softmax")]),
        "cnn1d_100x3": ((100, 3), [("conv1d", 12, 7, 1), ("pool1d",), ("conv1d", 24, 3, 2), ("flat",),
                                    ("dense", 16, "relu"), ("dense", 4, "softmax")]),
        "cnn_32_g6_odd": ((32, 32, 1), [("conv", 6, 3, 2), ("pool",), ("conv", 10, 3, 1), ("pool",),
                                         ("conv", 14, 3, 1), ("flat",), ("dense", 5, "softmax")]),
        "cnn_48_g9_odd": ((48, 48, 1), [("conv", 9, 3, 2), ("pool",), ("conv", 18, 3, 1), ("pool",),
                                         ("conv", 18, 3, 1), ("pool",), ("conv", 22, 3, 1), ("flat",),
                                         ("dense", 5, "softmax")]),
        "cnn1d_96x3_odd": ((96, 3), [("conv1d", 6, 5, 1), ("pool1d",), ("conv1d", 10, 3, 1), ("pool1d",),
                                      ("conv1d", 14, 3, 1), ("flat",), ("dense", 5, "softmax")]),
        "mlp_128_64_32": ((128,), [("dense", 64, "relu"), ("dense", 32, "relu"), ("dense", 8, "softmax")]),
        "mlp_60_30_20": ((60,), [("dense", 30, "relu"), ("dense", 20, "relu"), ("dense", 6, "softmax")]),
        "mlp_90_40": ((90,), [("dense", 40, "relu"), ("dense", 3, "softmax")]),
        "dense_px_256": ((16, 16, 1), [("flat",), ("dense", 24, "relu"), ("dense", 12, "relu"),
                                        ("dense", 5, "softmax")]),
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
        "bottle_64_g12_d4": ((64, 64, 1), [("conv", 12, 3, 2), ("pool",), ("conv", 18, 3, 1), ("pool",),
                                            ("conv", 18, 3, 1), ("pool",), ("conv", 18, 3, 1), ("flat",),
                                            ("dense", 5, "softmax")]),
        "cnn1d_64x9": ((64, 9), [("conv1d", 10, 5, 1), ("pool1d",), ("conv1d", 20, 3, 1), ("pool1d",),
                                  ("flat",), ("dense", 5, "softmax")]),
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
