"""The per-operator latency model: path classes, their fallback, and per-step timing under QEMU."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from edgeloop.models.design import latency


def _step(macc: float, out: float = 100.0) -> dict[str, float]:
    return {"macc": macc, "out": out, "in": out, "weights": 0.0, "patch": 0.0, "call": 1.0}


def test_a_path_gets_its_own_class_only_from_enough_steps() -> None:
    """Six steps took the wide path (1 instr/MAC + 500 per call), two the im2col path (3.5/MAC): the wide path is
    fitted exactly, the rare one falls back to the conv kind fitted on all eight."""
    steps = [("conv:wide", _step(m), 1.0 * m + 500) for m in (1e4, 2e4, 4e4, 8e4, 1.6e5, 3.2e5)]
    steps += [("conv:im2col", _step(m), 3.5 * m) for m in (3e4, 6e4)]
    coef = latency.fit_cost_model(steps)
    assert set(coef) == {"conv", "conv:wide"}
    model = latency.CostModel(coef)
    assert model.instructions_of_rows([("conv:wide", _step(5e4))]) == pytest.approx(5e4 + 500, rel=1e-6)
    pooled = model.instructions_of_rows([("conv", _step(5e4))])
    assert model.instructions_of_rows([("conv:im2col", _step(5e4))]) == pytest.approx(pooled)
    assert model.instructions_of_rows([("depthwise:rows3", _step(5e4))]) == 0.0  # no class, no "other" either


def test_committed_calibrations_price_every_class_they_were_fitted_on() -> None:
    for kernel_set, model in latency.load_cost_models().items():
        kinds = {latency.kind_of(c) for c in model.coefficients}
        assert kinds <= set(model.coefficients), kernel_set  # every path class has its kind's fallback
        assert {"conv", "fc", "softmax", "other"} <= kinds, kernel_set
        assert all(set(c) <= set(latency.TERMS) for c in model.coefficients.values())


@pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
                    reason="needs qemu-system-arm and arm-none-eabi-gcc")
def test_step_timings_add_up_to_the_whole_inference(tmp_path: Path) -> None:
    """The calibration times each step through the model's step-observing twin: one figure per compiled step,
    together the whole inference (the hook adds a few instructions per step)."""
    from edgeloop.app.commands._design_target import qemu_timing
    from edgeloop.models.compiler import compile_bytes
    from edgeloop.models.design.deploy import quiet_stderr

    with quiet_stderr():
        tflite = latency.calibration_tflites("fit")["cnn_32_g4_d3"]
    steps = compile_bytes(tflite, name="m", kernels="fast").graph.steps
    timing = qemu_timing(tflite, tmp_path / "m", kernels="fast")
    assert len(timing.step_instructions) == len(steps)
    assert abs(sum(timing.step_instructions) - timing.instructions) <= 0.01 * timing.instructions + 40 * len(steps)
    convs = [t for s, t in zip(steps, timing.step_instructions) if s.kernel == "nn_conv2d_s8"]
    assert len(convs) == 3 and min(convs) > 1000
