"""The kernels' own answers to "which path, how much scratch": firmware/nn/nn_paths.c, asked through ctypes.

nn_paths.c is the one source of the optimized kernels' path selection and scratch sizes
(`nn_*_path`, `nn_opt_*_scratch_bytes`) and of the kernel ABI version. The compiler does not
re-derive those formulas: it builds nn_paths.c with the host C compiler into a small shared
library (cached under the temp directory by a hash of the sources, the shim and the compiler),
fills the parameter structs there and reads the answers back.

The shim takes a layer's integer fields as one int32 array whose order is written from the
field tuples below, so the C struct layout is never mirrored in Python.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from edgeloop.models.compiler.errors import CompileError
from edgeloop.models.compiler.host import CFLAGS, NN_DIR, HostBuildError, _cc

CONV_FIELDS = ("batches", "in_h", "in_w", "in_c", "out_h", "out_w", "out_c", "k_h", "k_w", "stride_h",
               "stride_w", "dil_h", "dil_w", "pad_top", "pad_left", "depth_mult", "in_offset", "out_offset",
               "act_min", "act_max", "per_channel", "wide_weights")
FC_FIELDS = ("batches", "in_features", "out_features", "in_offset", "out_offset", "act_min", "act_max",
             "per_channel")
POOL_FIELDS = ("batches", "in_h", "in_w", "channels", "out_h", "out_w", "k_h", "k_w", "stride_h", "stride_w",
               "pad_top", "pad_left", "act_min", "act_max")

ADD_PATHS = ("broadcast", "tables", "fused")
ADD_FIELDS = ("in1_offset", "in2_offset", "out_offset", "left_shift", "in1_mult", "in1_shift", "in2_mult",
              "in2_shift", "out_mult", "out_shift", "act_min", "act_max")   # after out_dims and the strides

# Defaults for fields a caller may leave out (a bare geometry): one batch, full int8 range, no offsets.
_DEFAULTS = {"batches": 1, "depth_mult": 1, "stride_h": 1, "stride_w": 1, "dil_h": 1, "dil_w": 1,
             "act_min": -128, "act_max": 127, "wide_weights": 0}

CONV_PATHS = ("im2col", "fused", "wide", "small_k", "small_k_reg", "small_k_rec", "gray3", "small_k_wide")
"""Names of nn_conv_path_t values, in enum order (nn_kernels.h)."""
DW_PATHS = ("channels", "multiplier", "rows3", "plane3", "map3", "s2pairs")
FC_PATHS = ("direct", "widened", "fused")
MAX_POOL_PATHS = ("windows", "2x2", "2x2_rows")


def _initializer(struct_fields: Sequence[str], array: str) -> str:
    return ", ".join(f".{name} = {array}[{i}]" for i, name in enumerate(struct_fields))


_SHIM = f"""
#include "nn_kernels.h"
/* out[0] = path, out[1] = scratch bytes of the optimized build, out[2] = whether it may run in place */
void el_conv_facts(const int32_t *f, const int32_t *mult, const int32_t *shift, const int32_t *bias, int depthwise,
                   int32_t *out) {{
    nn_conv_params_t p = {{{_initializer([n for n in CONV_FIELDS if n not in ("per_channel", "wide_weights")], "f")},
                          .per_channel = f[{CONV_FIELDS.index("per_channel")}],
                          .wide_weights = f[{CONV_FIELDS.index("wide_weights")}], .mult = mult, .shift = shift,
                          .bias = bias}};
    out[0] = depthwise ? (int32_t)nn_depthwise_conv2d_s8_path(&p) : (int32_t)nn_conv2d_s8_path(&p);
    out[1] = (int32_t)(depthwise ? nn_opt_depthwise_conv2d_s8_scratch_bytes(&p) : nn_opt_conv2d_s8_scratch_bytes(&p));
    out[2] = depthwise ? nn_depthwise_conv2d_s8_in_place(&p) : 0;
}}
void el_fc_facts(const int32_t *f, const int32_t *mult, const int32_t *shift, int32_t *out) {{
    nn_fc_params_t p = {{{_initializer(FC_FIELDS, "f")}, .mult = mult, .shift = shift}};
    out[0] = (int32_t)nn_fc_s8_path(&p);
    out[1] = (int32_t)nn_opt_fc_s8_scratch_bytes(&p);
}}
void el_add_table(int32_t in_offset, int32_t left_shift, int32_t mult, int32_t shift, int32_t *table) {{
    nn_add_s8_rescale_table(in_offset, left_shift, mult, shift, table);
}}
int32_t el_add_path(const int32_t *f, int tables) {{
    static const int32_t table[256];
    const int32_t *g = f + 12;
    nn_binary_params_t p = {{{_initializer(ADD_FIELDS, "g")},
                            .in1_table = tables ? table : NULL, .in2_table = tables ? table : NULL}};
    for (int i = 0; i < 4; ++i) {{
        p.out_dims[i] = f[i];
        p.in1_strides[i] = f[4 + i];
        p.in2_strides[i] = f[8 + i];
    }}
    return (int32_t)nn_add_s8_path(&p);
}}
int32_t el_max_pool_path(const int32_t *f) {{
    nn_pool_params_t p = {{{_initializer(POOL_FIELDS, "f")}}};
    return (int32_t)nn_max_pool_s8_path(&p);
}}
uint32_t el_abi_version(void) {{ return nn_kernel_abi_version(); }}
"""

_SOURCES = ("nn_paths.c",)


@functools.lru_cache(maxsize=1)
def _library() -> ctypes.CDLL:
    try:
        cc = _cc()
    except HostBuildError as e:
        raise CompileError(f"{e}: the compiler asks the kernels (firmware/nn/nn_paths.c) for their scratch "
                           "sizes through a small host-built library") from None
    flags = [f for f in CFLAGS if f != "-Werror"] + ["-DNN_OPTIMIZED=1", "-shared"]
    digest = hashlib.sha256(repr((cc, flags, _SHIM)).encode())
    for src in sorted(NN_DIR.glob("*.[ch]")):
        digest.update(src.name.encode() + src.read_bytes())
    lib = Path(tempfile.gettempdir()) / f"edgeloop-nnfacts-{digest.hexdigest()[:16]}.so"
    if not lib.is_file():
        with tempfile.TemporaryDirectory(prefix="edgeloop-nnfacts-") as tmp:
            shim = Path(tmp) / "facts_shim.c"
            shim.write_text(_SHIM, encoding="utf-8")
            out = Path(tmp) / "libnnfacts.so"
            cmd = [cc, *flags, "-I", str(NN_DIR), str(shim), *(str(NN_DIR / s) for s in _SOURCES), "-o", str(out)]
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
            if proc.returncode != 0:
                raise HostBuildError(f"{' '.join(cmd)} failed:\n{proc.stdout}{proc.stderr}")
            shutil.move(str(out), lib)   # atomic on one file system; a concurrent equal build is harmless
    dll = ctypes.CDLL(str(lib))
    i32p = ctypes.POINTER(ctypes.c_int32)
    dll.el_conv_facts.argtypes = [i32p, i32p, i32p, i32p, ctypes.c_int, i32p]
    dll.el_fc_facts.argtypes = [i32p, i32p, i32p, i32p]
    dll.el_max_pool_path.argtypes = [i32p]
    dll.el_max_pool_path.restype = ctypes.c_int32
    dll.el_abi_version.restype = ctypes.c_uint32
    dll.el_add_path.argtypes = [i32p, ctypes.c_int]
    dll.el_add_path.restype = ctypes.c_int32
    dll.el_add_table.argtypes = [ctypes.c_int32, ctypes.c_int32, ctypes.c_int32, ctypes.c_int32, i32p]
    return dll


def _fields(params: Mapping[str, object], names: Sequence[str]) -> ctypes.Array:
    values = [int(params.get(n, _DEFAULTS.get(n, 0))) for n in names]  # type: ignore[call-overload]
    return (ctypes.c_int32 * len(values))(*values)


def _quant(params: Mapping[str, object], shifts: Sequence[int], channels: int) -> tuple[ctypes.Array, ctypes.Array]:
    """(mult, shift) arrays: `shifts` per channel (or one), multipliers 2^30 (paths never read their values)."""
    shifts = [int(s) for s in shifts] or [-8]
    if int(params.get("per_channel", int(len(shifts) > 1))) and len(shifts) != channels:  # type: ignore[call-overload]
        raise ValueError(f"{len(shifts)} exponents for {channels} channels")
    return (ctypes.c_int32 * len(shifts))(*([1 << 30] * len(shifts))), (ctypes.c_int32 * len(shifts))(*shifts)


def _bias(bias: Sequence[int] | np.ndarray | None, channels: int) -> ctypes.Array | None:
    """The bias as an int32 array for the shim (None: no bias, as a layer without one)."""
    if bias is None:
        return None
    values = np.asarray(bias, dtype=np.int64).reshape(-1)
    if values.size != channels:
        raise ValueError(f"{values.size} biases for {channels} channels")
    return (ctypes.c_int32 * channels)(*(int(v) for v in values))


def _conv_answers(params: Mapping[str, object], shifts: Sequence[int], depthwise: bool,
                  bias: Sequence[int] | np.ndarray | None = None) -> tuple[int, int, int]:
    p = dict(params)
    p.setdefault("per_channel", int(len(shifts) > 1))
    mult, shift = _quant(p, shifts, int(p["out_c"]))  # type: ignore[call-overload]
    out = (ctypes.c_int32 * 3)()
    channels = int(p["out_c"])  # type: ignore[call-overload]
    _library().el_conv_facts(_fields(p, CONV_FIELDS), mult, shift, _bias(bias, channels), int(depthwise), out)
    return int(out[0]), int(out[1]), int(out[2])


def conv_facts(params: Mapping[str, object], shifts: Sequence[int] = (), depthwise: bool = False,
               bias: Sequence[int] | np.ndarray | None = None) -> tuple[str, int]:
    """(path name, scratch bytes) of a CONV_2D (or DEPTHWISE_CONV_2D) with nn_conv_params_t fields
    `params`, exponents `shifts` (one per output channel when per_channel, else one) and `bias` (one per
    output channel, or None: the wide paths need every |bias| below 2^28, nn_paths.c conv_wide_acc_ok)."""
    path, scratch, _ = _conv_answers(params, shifts, depthwise, bias)
    return (DW_PATHS if depthwise else CONV_PATHS)[path], scratch


def depthwise_in_place(params: Mapping[str, object], shifts: Sequence[int] = ()) -> bool:
    """Whether a DEPTHWISE_CONV_2D may write its output over its input (nn_depthwise_conv2d_s8_in_place)."""
    return bool(_conv_answers(params, shifts, True)[2])


def fc_facts(params: Mapping[str, object], shifts: Sequence[int] = ()) -> tuple[str, int]:
    """(path name, scratch bytes) of a FULLY_CONNECTED with nn_fc_params_t fields `params`."""
    p = dict(params)
    p.setdefault("per_channel", int(len(shifts) > 1))
    mult, shift = _quant(p, shifts, int(p["out_features"]))  # type: ignore[call-overload]
    out = (ctypes.c_int32 * 2)()
    _library().el_fc_facts(_fields(p, FC_FIELDS), mult, shift, out)
    return FC_PATHS[out[0]], int(out[1])


def max_pool_path(params: Mapping[str, object]) -> str:
    """Path name of a MAX_POOL_2D with nn_pool_params_t fields `params`."""
    return MAX_POOL_PATHS[_library().el_max_pool_path(_fields(params, POOL_FIELDS))]


def add_path(params: Mapping[str, object]) -> str:
    """Path name of an ADD with nn_binary_params_t fields `params` (tables present when it names them)."""
    values = [*params["out_dims"], *params["in1_strides"], *params["in2_strides"]]  # type: ignore[misc]
    values += [int(params[n]) for n in ADD_FIELDS]  # type: ignore[call-overload]
    tables = int(bool(params.get("in1_table")) and bool(params.get("in2_table")))
    return ADD_PATHS[_library().el_add_path((ctypes.c_int32 * len(values))(*values), tables)]


def add_rescale_table(in_offset: int, left_shift: int, mult: int, shift: int) -> np.ndarray:
    """The 256-entry int32 table of one ADD input (nn_add_s8_rescale_table): 2 x the rescaled x + 128."""
    table = (ctypes.c_int32 * 256)()
    _library().el_add_table(in_offset, left_shift, mult, shift, table)
    return np.frombuffer(table, np.int32).copy()


def abi_version() -> int:
    """NN_KERNEL_ABI_VERSION of the kernels in firmware/nn."""
    return int(_library().el_abi_version())
