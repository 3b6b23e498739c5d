"""C11 emission of a lowered, planned model: NAME.c and NAME.h."""

from __future__ import annotations

import numpy as np

from edgeloop.models.compiler.kernel_facts import (
    CONV_PATHS, DW_PATHS, FC_PATHS, MAX_POOL_PATHS, abi_version, conv_facts, fc_facts, max_pool_path,
)
from edgeloop.models.compiler.kernel_sizes import DEFAULT_KERNEL_SET, KERNEL_SETS, entry_point, load_table
from edgeloop.models.compiler.lower import LoweredGraph, Step
from edgeloop.models.compiler.planner import INPUT, OUTPUT, Plan

# Bytes of Cortex-M7 -Os code per kernel set and kernel, each kernel linked alone with the helpers it
# pulls in: measured by kernel_sizes.py into kernel_code_bytes.json (one source; re-run it after changing
# a kernel, test_kernel_sizes checks it is current). A model's estimate counts each helper symbol once.
_KERNEL_TABLE = load_table()["sets"]
KERNEL_CODE_BYTES: dict[str, dict[str, int]] = {
    kernel_set: {kernel: row["bytes"] for kernel, row in kernels.items()}
    for kernel_set, kernels in _KERNEL_TABLE.items()
}
MODEL_CODE_BYTES = 48      # invoke() prologue and argument checks
DESCRIPTOR_BYTES = 144     # the nn_model_t descriptor on a 32-bit target (arm-none-eabi-nm)
CALL_CODE_BYTES = 12       # one kernel call in invoke()
HOOK_CODE_BYTES = 12       # the step hook's call and test in invoke_steps(), per step

_KERNEL_SET_NOTES = {
    "fast": "the build's kernels: the optimized nn_opt_* on a DSP core, NN_OPTIMIZED",
    "small": "the reference kernels nn_ref_* called by name: compact, bit-exact, slower; no optimized code linked",
}
_C_TYPES = {np.dtype("int8"): "int8_t", np.dtype("int32"): "int32_t"}
DTYPE_CODES = {9: 0, 3: 1, 7: 2, 2: 3, 0: 4}   # TFLite type -> nn_dtype_t
SCRATCH_FUNCTIONS = {  # the kernels' own scratch sizes (nn_paths.c), checked by NN_CHECK_SCRATCH builds
    "nn_conv2d_s8": "nn_opt_conv2d_s8_scratch_bytes",
    "nn_depthwise_conv2d_s8": "nn_opt_depthwise_conv2d_s8_scratch_bytes",
    "nn_fc_s8": "nn_opt_fc_s8_scratch_bytes",
}
STRUCT_BYTES = {  # sizeof() of the parameter structs on a 32-bit target (asserted in the generated C)
    "nn_conv_params_t": 26 * 4, "nn_fc_params_t": 12 * 4, "nn_pool_params_t": 14 * 4,
    "nn_mean_params_t": 7 * 4, "nn_binary_params_t": 26 * 4, "nn_softmax_params_t": 5 * 4,
    "nn_logistic_params_t": 5 * 4, "nn_pad_params_t": 14 * 4, "nn_concat_params_t": 18 * 4,
    "nn_affine_params_t": 3 * 4, "nn_requant_params_t": 7 * 4,
}


def _array(name: str, arr: np.ndarray) -> str:
    ctype = _C_TYPES[arr.dtype]
    values = [str(int(v)) for v in arr.reshape(-1)]
    if ctype == "int32_t":
        values = [v if v != "-2147483648" else "INT32_MIN" for v in values]
    per_line = 24 if ctype == "int8_t" else 8
    lines = [", ".join(values[i:i + per_line]) for i in range(0, len(values), per_line)]
    body = ",\n    ".join(lines)
    return f"static const _Alignas(4) {ctype} {name}[{len(values)}] = {{\n    {body}\n}};\n"


def _c_float(v: float) -> str:
    """A C float literal with 9 significant digits, always with a decimal point or exponent."""
    text = f"{v:.9g}"
    return f"{text}{'' if any(c in text for c in '.e') else '.0'}f"


def _value(v: object, prefix: str) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, str):
        return f"{prefix}_{v}"
    if isinstance(v, float):
        return f"{np.float32(v).item()!r}f" if np.isfinite(v) else "0.0f"
    if isinstance(v, (list, tuple)):
        return "{" + ", ".join(_value(x, prefix) for x in v) + "}"
    iv = int(v)  # type: ignore[call-overload]
    return "INT32_MIN" if iv == -(1 << 31) else str(iv)


def _struct_asserts(steps: list[Step]) -> str:
    """_Static_asserts that the parameter structs have the sizes STRUCT_BYTES assumes (on 32-bit targets)."""
    structs = sorted({s.struct for s in steps if s.struct})
    return "".join(f"_Static_assert(sizeof(void *) != 4 || sizeof({t}) == {STRUCT_BYTES[t]}u, "
                   f'"{t} differs from the layout the compiler assumed");\n' for t in structs)


def const_bytes(steps: list[Step]) -> int:
    """Bytes of constant data (weights, biases, multipliers, parameter structs)."""
    total = 0
    for s in steps:
        total += sum(a.nbytes for a in s.consts.values())
        total += STRUCT_BYTES.get(s.struct or "", 0)
    return total


def _table_key(step: Step, kernel_set: str) -> str:
    """The row of kernel_code_bytes.json a step's code is measured in (kernel, or a fast-set path entry)."""
    entry = step_entry(step, kernel_set)
    return entry if entry in _KERNEL_TABLE[kernel_set] else step.kernel


def kernel_code_bytes(kernels: set[str] | list[str], kernel_set: str = DEFAULT_KERNEL_SET) -> int:
    """Measured code bytes of `kernels` linked together from `kernel_set`: each helper symbol counted once."""
    if kernel_set not in KERNEL_SETS:
        raise ValueError(f"kernel set must be one of {', '.join(KERNEL_SETS)}, not {kernel_set!r}")
    symbols: dict[str, int] = {}
    for kernel in kernels:
        symbols.update(_KERNEL_TABLE[kernel_set][kernel]["symbols"])
    return sum(symbols.values())


def kernel_path(step: Step, kernel_set: str) -> str | None:
    """The optimized path of a fast-set step whose kernel has path entries (kernel_sizes.PATH_ENTRIES), else None."""
    if kernel_set != "fast":
        return None
    if step.kernel in ("nn_conv2d_s8", "nn_depthwise_conv2d_s8"):
        return conv_facts(step.params, step.consts["shift"].reshape(-1).tolist(),
                          depthwise=step.kernel == "nn_depthwise_conv2d_s8", bias=step.consts.get("bias"))[0]
    if step.kernel == "nn_max_pool_s8":
        return max_pool_path(step.params)
    if step.kernel == "nn_fc_s8":
        return fc_facts(step.params, step.consts["shift"].reshape(-1).tolist())[0]
    return None


def _path_check(step: Step, path: str | None, prefix: str) -> str:
    """The debug-build check (NN_PATH_IS) that the kernel takes the path whose entry the step calls."""
    if path is None:
        return ""
    names = {"nn_conv2d_s8": CONV_PATHS, "nn_depthwise_conv2d_s8": DW_PATHS, "nn_max_pool_s8": MAX_POOL_PATHS,
             "nn_fc_s8": FC_PATHS}[step.kernel]
    return f"NN_PATH_IS({step.kernel}_path(&{prefix}_params) == {names.index(path)});\n    "


def step_entry(step: Step, kernel_set: str = DEFAULT_KERNEL_SET) -> str:
    """The function (or nn_kernels.h macro) generated C calls for `step`: a fast-set kernel with path entries
    calls its layer's, so that a model links only the paths it uses."""
    return entry_point(step.kernel, kernel_set, kernel_path(step, kernel_set))


def code_bytes(steps: list[Step], kernel_set: str = DEFAULT_KERNEL_SET) -> int:
    """Estimated code bytes: the kernel entries called (measured, `kernel_set`), plus invoke(), its
    step-observing twin and the model's descriptor."""
    return (kernel_code_bytes({_table_key(s, kernel_set) for s in steps}, kernel_set) + DESCRIPTOR_BYTES
            + MODEL_CODE_BYTES + CALL_CODE_BYTES * len(steps)
            + MODEL_CODE_BYTES + (CALL_CODE_BYTES + HOOK_CODE_BYTES) * len(steps))


def _tensor_desc(graph: LoweredGraph, ti: int) -> str:
    t = graph.model.tensors[ti]
    dims = list(t.shape) + [0] * (4 - len(t.shape))
    scale = float(t.quant.scale[0]) if (t.quant is not None and t.type_code != 0) else 0.0
    zp = int(t.quant.zero_point[0]) if (t.quant is not None and t.type_code != 0) else 0
    return (f"{{.dtype = {DTYPE_CODES[t.type_code]}, .rank = {len(t.shape)}, "
            f".dims = {{{', '.join(map(str, dims))}}}, .scale = {_value(scale, '')}, "
            f".zero_point = {zp}, .bytes = {t.nbytes}u}}")


def _c_string(s: str) -> str:
    out = []
    for ch in s.encode("utf-8"):
        c = chr(ch)
        if c in '"\\':
            out.append("\\" + c)
        elif 32 <= ch < 127 and c != "?":
            out.append(c)
        else:
            out.append(f"\\{ch:03o}")
    return '"' + "".join(out) + '"'


def emit_c(graph: LoweredGraph, plan: Plan, *, name: str, source_name: str, sha256: bytes,
           labels: tuple[str, ...], input_kind: int, sample_rate_hz: int, window: int, hop: int,
           macc: int, flash_bytes: int,
           input_norm: tuple[tuple[float, float], ...] = (), feature_set: int = 0, sample_rate_mhz: int = 0,
           norm_mode: int = 0, kernel_set: str = DEFAULT_KERNEL_SET) -> tuple[str, str]:
    """Return (NAME.c, NAME.h) source text.

    `kernel_set` "small" calls the reference kernels by name (nn_ref_*) and no scratch-size check,
    so the model links none of the optimized kernels (the graph must have been prepared by
    driver.use_reference_kernels: no scratch, no ADD tables).

    `feature_set`, `sample_rate_mhz` and `norm_mode` are the SPEC.md §9.3 descriptor fields; each is emitted
    only when it says more than its default (0; a whole rate in sample_rate_hz), so models without them
    compile to the same C as before.
    """
    extra_fields = "".join(
        f"    .{field} = {value}{'u' if field == 'sample_rate_mhz' else ''},\n"
        for field, value, default in (("feature_set", feature_set, 0),
                                      ("sample_rate_mhz", sample_rate_mhz, 1000 * sample_rate_hz),
                                      ("norm_mode", norm_mode, 0)) if value and value != default)
    upper = name.upper()
    model = graph.model

    def loc(ti: int, const: bool) -> str:
        kind, off = plan.location(ti)
        ctype = "float" if model.tensors[ti].type_code == 0 else "int8_t"
        qual = "const " if const else ""
        if kind == INPUT:
            base = "in"
            qual = "const "
        elif kind == OUTPUT:
            base = "out"
        else:
            base = f"(a + {off})"
        return f"({qual}{ctype} *){base}"

    decls: list[str] = []
    calls: list[str] = []
    small = kernel_set == "small"
    for pos, step in enumerate(graph.steps):
        prefix = f"op{pos}"
        path = kernel_path(step, kernel_set)
        fn = entry_point(step.kernel, kernel_set, path)
        path_check = _path_check(step, path, prefix)
        for key, arr in step.consts.items():
            decls.append(_array(f"{prefix}_{key}", arr))
        if step.struct is not None:
            fields = ",\n    ".join(f".{k} = {_value(v, prefix)}" for k, v in step.params.items())
            decls.append(f"static const {step.struct} {prefix}_params = {{\n    {fields}\n}};\n")
        comment = f"    /* {step.op} (operator {step.index}) -> {list(step.out_shape)} */\n"
        out = loc(step.output, const=False)
        act_inputs = iter(step.inputs)

        def operand(pos_in: int) -> str:
            if pos_in in step.const_inputs:
                return f"{prefix}_{step.const_inputs[pos_in]}"
            return loc(next(act_inputs), const=True)

        if step.kernel == "nn_copy":
            src_kind = plan.location(step.inputs[0])
            dst_kind = plan.location(step.output)
            if src_kind == dst_kind:
                calls.append(comment.replace("*/", "(shares storage) */"))
                continue
            call = f"nn_copy({loc(step.inputs[0], True)}, {out}, {step.params['bytes']}u);"
        elif step.kernel in ("nn_add_s8", "nn_mul_s8"):
            call = f"{fn}(&{prefix}_params, {operand(0)}, {operand(1)}, {out});"
        elif step.kernel == "nn_concat":
            count = int(step.params["count"])  # type: ignore[arg-type]
            parts = ", ".join(operand(i) for i in range(count))
            calls.append(comment + f"    {{\n        const void *const parts[{count}] = {{{parts}}};\n"
                         f"        nn_concat(&{prefix}_params, parts, {out});\n    }}\n")
            continue
        elif step.kernel in SCRATCH_FUNCTIONS and small:   # scratch only for an in-place depthwise layer
            sc = plan.scratch(pos)
            scratch = "NULL" if sc is None else f"(void *)(a + {sc})"
            call = f"{fn}(&{prefix}_params, {loc(step.inputs[0], True)}, {out}, {scratch});"
        elif step.kernel in SCRATCH_FUNCTIONS:
            sc = plan.scratch(pos)
            scratch = "NULL" if sc is None else f"(void *)(a + {sc})"
            call = (f"NN_SCRATCH_FITS({SCRATCH_FUNCTIONS[step.kernel]}(&{prefix}_params), {step.scratch_bytes}u);\n"
                    f"    {path_check}{fn}(&{prefix}_params, {loc(step.inputs[0], True)}, {out}, {scratch});")
        else:
            call = f"{path_check}{fn}(&{prefix}_params, {loc(step.inputs[0], True)}, {out});"
        calls.append(comment + "    " + call + "\n")

    # The step-observing twin of invoke(): the same calls, each followed by the hook (stop when it says so).
    step_calls = []
    for pos, (step, call) in enumerate(zip(graph.steps, calls)):
        kind, off = plan.location(step.output)
        where = {INPUT: "in", OUTPUT: "out"}.get(kind, f"(a + {off})")
        step_calls.append(call + f"    if (!hook(ctx, {pos}u, (const void *){where}, "
                                 f"{model.tensors[step.output].nbytes}u)) {{\n        return NN_OK;\n    }}\n")
    # The pointer set-up shared by invoke() and invoke_steps().
    prologue = """    const uint8_t *const in = (const uint8_t *)input;
    uint8_t *const out = (uint8_t *)output;
    uint8_t *const a = (uint8_t *)arena;
    (void)in;
    (void)out;
    (void)a;
"""
    label_block = ""
    labels_ref = "NULL"
    if labels:
        label_block = (f"static const char *const {name}_labels[{len(labels)}] = {{"
                       + ", ".join(_c_string(x) for x in labels) + "};\n\n")
        labels_ref = f"{name}_labels"
    norm_ref = "NULL"
    if input_norm:
        # "%.9g" prints 1.0 as "1": C needs "1.0f" ("1f" is an integer constant with a bad suffix)
        values = ", ".join(_c_float(v) for pair in input_norm for v in pair)
        label_block += (f"/* (mean, std) per input element: the host standardises inputs (SPEC.md 5.3). */\n"
                        f"static const float {name}_input_norm[{2 * len(input_norm)}] = {{{values}}};\n\n")
        norm_ref = f"{name}_input_norm"
    hash_c = ", ".join(f"0x{b:02x}" for b in sha256)
    c_src = f"""/*
 * {name}.c - generated by `edgeloop compile` from {source_name}. Do not edit.
 *
 * {len(graph.steps)} operators, {macc} MACs, arena {plan.arena_bytes} bytes.
 * Kernel set: {kernel_set} ({_KERNEL_SET_NOTES[kernel_set]}).
 * Build with the kernels of edgeloop's firmware/nn (nn_ref.c, nn_paths.c, nn_opt_*.c).
 */
#include <stddef.h>
#include <stdint.h>

#include "{name}.h"
#include "nn_kernels.h"

_Static_assert(NN_KERNEL_ABI_VERSION == {abi_version()}u, "{name}.c was generated for kernel ABI {abi_version()}: "
               "regenerate it with this edgeloop's compiler or use the matching firmware/nn");
{_struct_asserts(graph.steps)}
/* NN_CHECK_SCRATCH=1 (debug builds): each layer first asks its kernel how much scratch it needs
 * and, where it calls a path's entry, whether the kernel takes that path. */
#if defined(NN_CHECK_SCRATCH) && NN_CHECK_SCRATCH
#define NN_SCRATCH_FITS(need, planned) \\
    do {{ if ((need) > (planned)) return NN_ERR_INTERNAL; }} while (0)
#define NN_PATH_IS(ok) \\
    do {{ if (!(ok)) return NN_ERR_INTERNAL; }} while (0)
#else
#define NN_SCRATCH_FITS(need, planned) ((void)0)
#define NN_PATH_IS(ok) ((void)0)
#endif

{"".join(decls)}
{label_block}static nn_status_t {name}_invoke(const void *input, void *output, void *arena) {{
    if (input == NULL || output == NULL || arena == NULL || ((uintptr_t)arena & 15u) != 0u) {{
        return NN_ERR_ARGUMENT;
    }}
{prologue}{"".join(calls)}    return NN_OK;
}}

#ifndef NN_NO_STEP_HOOKS
/* invoke() calling `hook` after every step (SPEC.md 9.6, 9.7: PROFILE, DUMP_TENSOR); only those requests run it. */
static nn_status_t {name}_invoke_steps(const void *input, void *output, void *arena, nn_step_hook_t hook,
                                       void *ctx) {{
    if (input == NULL || output == NULL || arena == NULL || hook == NULL || ((uintptr_t)arena & 15u) != 0u) {{
        return NN_ERR_ARGUMENT;
    }}
{prologue}{"".join(step_calls)}    return NN_OK;
}}
#define {upper}_INVOKE_STEPS {name}_invoke_steps
#else
#define {upper}_INVOKE_STEPS NULL
#endif

const nn_model_t nn_model_{name} = {{
    .name = {_c_string(name)},
    .hash = {{{hash_c}}},
    .macc = {macc}u,
    .flash_bytes = {flash_bytes}u,
    .ram_bytes = {plan.arena_bytes}u,
    .input_kind = {input_kind},
    .sample_rate_hz = {sample_rate_hz},
    .window = {window},
    .hop = {hop},
    .input = {_tensor_desc(graph, graph.input)},
    .output = {_tensor_desc(graph, graph.output)},
    .label_count = {len(labels)},
    .labels = {labels_ref},
    .arena_bytes = {upper}_ARENA_BYTES,
    .invoke = {name}_invoke,
    .input_norm_count = {len(input_norm)},
    .input_norm = {norm_ref},
    .step_count = {len(graph.steps)},
    .invoke_steps = {upper}_INVOKE_STEPS,
{extra_fields}}};
"""
    in_t, out_t = model.tensors[graph.input], model.tensors[graph.output]
    h_src = f"""/*
 * {name}.h - generated by `edgeloop compile` from {source_name}. Do not edit.
 *
 * Model `{name}`: input {in_t.dtype_name}{list(in_t.shape)}, output {out_t.dtype_name}{list(out_t.shape)}.
 * Contract of nn_model_{name}.invoke(): see nn_model.h. Example:
 *
 *     static uint8_t arena[{upper}_ARENA_BYTES] __attribute__((aligned(16)));
 *     nn_status_t st = nn_model_{name}.invoke(input, output, arena);
 */
#ifndef {upper}_H
#define {upper}_H

#include "nn_model.h"

/* Bytes of 16-byte aligned scratch invoke() needs (activations + kernel scratch). */
#define {upper}_ARENA_BYTES {plan.arena_bytes}u
/* Bytes of the input and output tensors. */
#define {upper}_INPUT_BYTES {in_t.nbytes}u
#define {upper}_OUTPUT_BYTES {out_t.nbytes}u

#ifdef __cplusplus
extern "C" {{
#endif

extern const nn_model_t nn_model_{name};

#ifdef __cplusplus
}}
#endif

#endif /* {upper}_H */
"""
    return c_src, h_src
