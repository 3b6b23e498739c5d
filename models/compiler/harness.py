"""C source of a self-checking test program for a compiled model.

The program runs the model on embedded inputs, compares every output byte
with embedded expected outputs (from the TFLite Micro oracle), times each
inference with port_ticks() and prints one line

    EL_RESULT mismatches=<n> runs=<n> ticks_min=<t> ticks_total=<t>

then returns the number of mismatching runs. With `step_ticks` (the step count) it then runs the
model's step-observing twin (invoke_steps, the same calls SPEC.md's PROFILE
request times) and prints the least ticks of each step over the runs:

    EL_STEPS <t0> <t1> ...

It is built into a bare-metal
Cortex-M7 image for QEMU (edgeloop.app.link.qemu.build_bare_metal), where a tick is
40 emulated instructions, with either kernel build.
"""

from __future__ import annotations

import numpy as np


def _bytes_block(rows: np.ndarray) -> str:
    lines = []
    for row in rows:
        b = np.ascontiguousarray(row).view(np.uint8).reshape(-1)
        lines.append("    {" + ", ".join(str(int(v)) for v in b) + "}")
    return ",\n".join(lines)


def _step_timer(name: str, steps: int, repeats: int) -> tuple[str, str]:
    """(definitions, statements) timing every step of invoke_steps: a hook reads the tick counter after each
    step, so a step's ticks include the hook call after the previous one (a few instructions)."""
    defs = f"""static uint32_t el_step_min[{steps}];
static uint32_t el_step_last;
static uint32_t el_step_run[{steps}];

static bool el_step_hook(void *ctx, uint16_t step, const void *output, uint32_t bytes) {{
    (void)ctx;
    (void)output;
    (void)bytes;
    uint32_t now = port_ticks();
    el_step_run[step] = now - el_step_last;
    el_step_last = now;
    return true;
}}
"""
    body = f"""    for (unsigned s = 0; s < {steps}u; ++s) el_step_min[s] = UINT32_MAX;
    for (int r = 0; r < {repeats}; ++r) {{
        el_step_last = port_ticks();
        if (nn_model_{name}.invoke_steps(el_inputs[0], el_output, el_arena, el_step_hook, NULL) != NN_OK) ++mismatches;
        for (unsigned s = 0; s < {steps}u; ++s)
            if (el_step_run[s] < el_step_min[s]) el_step_min[s] = el_step_run[s];
    }}
    printf("EL_STEPS");
    for (unsigned s = 0; s < {steps}u; ++s) printf(" %lu", (unsigned long)el_step_min[s]);
    printf("\\n");
"""
    return defs, body


def harness_source(name: str, inputs: np.ndarray, expected: np.ndarray, *, repeats: int = 1,
                   step_ticks: int = 0) -> str:
    """Return main.c for model `name`: inputs [N, ...] in the input dtype, expected [N, ...] outputs; with
    `step_ticks` = the model's step count, also the EL_STEPS line (the model must keep its step hooks)."""
    n = len(inputs)
    if n == 0 or len(expected) != n:
        raise ValueError(f"need as many expected outputs as inputs (got {n} and {len(expected)}), at least 1")
    upper = name.upper()
    step_defs, step_body = _step_timer(name, step_ticks, repeats) if step_ticks else ("", "")
    in_bytes = inputs[0].nbytes
    out_bytes = expected[0].nbytes
    return f"""/* Self-check of model {name} against TFLite Micro outputs (generated). */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "bm_runtime.h"
#include "port.h"
#include "{name}.h"

static const _Alignas(16) uint8_t el_inputs[{n}][{in_bytes}] = {{
{_bytes_block(inputs)}
}};
static const uint8_t el_expected[{n}][{out_bytes}] = {{
{_bytes_block(expected)}
}};
static _Alignas(16) uint8_t el_arena[{upper}_ARENA_BYTES];
static _Alignas(16) uint8_t el_output[{out_bytes}];
{step_defs}
int main(void) {{
    port_init();
    unsigned mismatches = 0, runs = 0;
    uint32_t ticks_min = UINT32_MAX;
    uint32_t ticks_total = 0;  /* 2^32 ticks = 171 G instructions: no wrap in practice */
    for (int r = 0; r < {repeats}; ++r) {{
        for (int i = 0; i < {n}; ++i) {{
            memset(el_arena, 0xA5, sizeof el_arena);
            memset(el_output, 0x5A, sizeof el_output);
            uint32_t t0 = port_ticks();
            nn_status_t st = nn_model_{name}.invoke(el_inputs[i], el_output, el_arena);
            uint32_t t = port_ticks() - t0;
            ticks_total += t;
            if (t < ticks_min) ticks_min = t;
            if (st != NN_OK || memcmp(el_output, el_expected[i], sizeof el_output) != 0) ++mismatches;
            ++runs;
        }}
    }}
    printf("EL_RESULT mismatches=%u runs=%u ticks_min=%lu ticks_total=%lu\\n", mismatches, runs,
           (unsigned long)ticks_min, (unsigned long)ticks_total);
{step_body}    return mismatches != 0;
}}
"""


def parse_step_ticks(output: str) -> list[int]:
    """The per-step ticks of the EL_STEPS line printed by a harness built with `step_ticks`."""
    for line in output.splitlines():
        if line.startswith("EL_STEPS"):
            return [int(v) for v in line.split()[1:]]
    raise ValueError(f"no EL_STEPS line in the program output:\n{output[-2000:]}")


def parse_result(output: str) -> dict[str, int]:
    """The numbers of the EL_RESULT line printed by the harness."""
    for line in output.splitlines():
        if line.startswith("EL_RESULT "):
            return {k: int(v) for k, v in (kv.split("=") for kv in line.split()[1:])}
    raise ValueError(f"no EL_RESULT line in the program output:\n{output[-2000:]}")
