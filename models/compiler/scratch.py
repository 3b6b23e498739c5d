"""Scratch sizes and wide-weights eligibility of the optimized kernels, as the kernels state them.

A compiled model always reserves the optimized kernels' scratch in its arena, so the same
generated C runs with either kernel build. The sizes come from the C functions themselves
(firmware/nn/nn_paths.c, through kernel_facts); nothing here re-derives them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from edgeloop.models.compiler.kernel_facts import conv_facts, fc_facts


def conv_wide_applies(p: Mapping[str, object], shifts: Sequence[int], bias: Sequence[int] | None = None) -> bool:
    """Whether a convolution would take the wide-weights path if its wide_weights flag were set."""
    return conv_facts({**p, "wide_weights": 1}, shifts, bias=bias)[0] == "wide"


def conv_scratch_bytes(p: Mapping[str, object], shifts: Sequence[int] = (), bias: Sequence[int] | None = None) -> int:
    """nn_opt_conv2d_s8_scratch_bytes of a convolution with fields p, exponents `shifts` and `bias` (None: none)."""
    return conv_facts(p, shifts, bias=bias)[1]


def depthwise_scratch_bytes(p: Mapping[str, object], shifts: Sequence[int] = ()) -> int:
    """nn_opt_depthwise_conv2d_s8_scratch_bytes."""
    return conv_facts(p, shifts, depthwise=True)[1]


def fc_scratch_bytes(p: Mapping[str, object], shifts: Sequence[int] = ()) -> int:
    """nn_opt_fc_s8_scratch_bytes."""
    return fc_facts(p, shifts)[1]
