"""Measured Cortex-M7 code size of every kernel, per kernel set: the table the flash estimate reads.

A compiled model calls each kernel it needs once; what that costs in flash is
the kernel's own code plus the helpers it pulls in (requantization, memcpy...),
some shared with other kernels. This module measures it instead of keeping
hand figures: the kernel sources are compiled for Cortex-M7 exactly as
`analyze`'s ARM link does (-Os, -ffunction-sections, -fdata-sections) and, for
every kernel, a tiny program whose entry references only that kernel is linked
with --gc-sections. The flash-resident symbols of that program, minus those of
the same program without the kernel, are the kernel's code (its symbols and
their sizes are recorded, so a model's estimate can count a shared helper once).

Two kernel sets (KERNEL_SETS):
- "fast": the entry points generated C calls by default; on a DSP core
  (NN_OPTIMIZED=1) these are the optimized kernels (nn_opt_*.c), bigger and faster;
- "small": the reference kernels (nn_ref_*: plain loops, bit-exact, compact),
  called by name so a model compiled with `--kernels small` links no optimized code.

Run `python -m edgeloop.models.compiler.kernel_sizes` (needs arm-none-eabi-gcc)
after changing any kernel: it rewrites `kernel_code_bytes.json` beside this module,
which `emit.KERNEL_CODE_BYTES` and `emit.code_bytes` read.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

TABLE_FILE = Path(__file__).with_name("kernel_code_bytes.json")
KERNEL_SETS = ("fast", "small")
DEFAULT_KERNEL_SET = "fast"
# Entry points generated C calls. Those with two implementations (the nn_kernels.h macros) are
# called by their reference name in the small set; the others have a single implementation.
KERNELS = ("nn_conv2d_s8", "nn_depthwise_conv2d_s8", "nn_fc_s8", "nn_max_pool_s8", "nn_avg_pool_s8",
           "nn_mean_s8", "nn_add_s8", "nn_mul_s8", "nn_softmax_s8", "nn_logistic_s8", "nn_pad", "nn_concat",
           "nn_quantize_f32_s8", "nn_dequantize_s8_f32", "nn_requantize_s8", "nn_copy")
DUAL_KERNELS = ("nn_conv2d_s8", "nn_depthwise_conv2d_s8", "nn_fc_s8", "nn_max_pool_s8", "nn_avg_pool_s8",
                "nn_add_s8")
# The fast set's entry per kernel path (nn_kernels.h; path names of kernel_facts): generated C calls its
# layer's, so a model links only the paths it uses; each entry is measured on its own.
PATH_ENTRIES: dict[str, dict[str, str]] = {
    "nn_conv2d_s8": {"small_k": "small_k", "small_k_reg": "small_k", "small_k_rec": "small_k", "gray3": "gray3",
                     "wide": "wide", "small_k_wide": "wide", "im2col": "im2col", "fused": "im2col"},
    "nn_depthwise_conv2d_s8": {"channels": "channels", "multiplier": "channels", "rows3": "rows3",
                               "plane3": "plane3", "map3": "map3", "s2pairs": "s2pairs"},
    "nn_max_pool_s8": {"windows": "windows", "2x2": "2x2", "2x2_rows": "2x2"},
    "nn_fc_s8": {"direct": "rows", "widened": "rows", "fused": "fused"},
}
FAST_ONLY_ENTRIES = tuple(f"{kernel}_{entry}" for kernel, paths in PATH_ENTRIES.items()
                          for entry in dict.fromkeys(paths.values()))
_FLASH_SYMBOL_TYPES = set("tTrRdDwW")   # code, read-only and initialised data: what occupies flash


def entry_point(kernel: str, kernel_set: str, path: str | None = None) -> str:
    """The C function generated code calls for `kernel` in `kernel_set` (a macro name in the fast set);
    `path` (a kernel_facts path name) picks a fast-set kernel's path entry (PATH_ENTRIES)."""
    if kernel_set not in KERNEL_SETS:
        raise ValueError(f"kernel set must be one of {', '.join(KERNEL_SETS)}, not {kernel_set!r}")
    if kernel_set == "small" and kernel in DUAL_KERNELS:
        return "nn_ref_" + kernel[3:]
    if kernel in PATH_ENTRIES and path is not None:
        return f"{kernel}_{PATH_ENTRIES[kernel][path]}"
    return kernel


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise FileNotFoundError(f"{name} not found: install gcc-arm-none-eabi (Debian) to measure kernel sizes")
    return path


def _run(cmd: list[str]) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])} ... failed:\n{proc.stderr[-3000:]}")
    return proc.stdout


def _flash_symbols(nm: str, elf: Path) -> dict[str, int]:
    """name -> bytes of every sized symbol in flash (code, constants, initialised data)."""
    out: dict[str, int] = {}
    for line in _run([nm, "--print-size", "-t", "d", str(elf)]).splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2] in _FLASH_SYMBOL_TYPES:
            out[parts[3]] = out.get(parts[3], 0) + int(parts[1])
    return out


def measure(cc: str | None = None) -> dict[str, Any]:
    """Build every kernel alone for Cortex-M7 and return the table (see module docstring)."""
    from edgeloop.models.compiler.analyze import ARM_FLAGS
    from edgeloop.models.compiler.host import NN_DIR, kernel_sources

    cc = cc or _tool("arm-none-eabi-gcc")
    nm = _tool("arm-none-eabi-nm")
    flags = [*ARM_FLAGS, "-DNN_OPTIMIZED=1", "-I", str(NN_DIR)]
    link = ["-nostartfiles", "--specs=nano.specs", "-Wl,--gc-sections", "-Wl,-e,el_size_entry", "-lm"]
    with tempfile.TemporaryDirectory(prefix="edgeloop-kernel-sizes-") as tmp:
        d = Path(tmp)
        objs = []
        for src in kernel_sources():
            obj = d / (src.stem + ".o")
            _run([cc, *flags, "-c", str(src), "-o", str(obj)])
            objs.append(str(obj))

        def symbols_of(target: str | None) -> dict[str, int]:
            tag = target or "empty"
            body = (f"const void *el_size_entry(void) {{ return (const void *)&{target}; }}\n" if target
                    else "const void *el_size_entry(void) { return (const void *)0; }\n")
            (d / f"{tag}.c").write_text('#include "nn_kernels.h"\n' + body, encoding="utf-8")
            elf = d / f"{tag}.elf"
            _run([cc, *flags, str(d / f"{tag}.c"), *objs, *link, "-o", str(elf)])
            return _flash_symbols(nm, elf)

        empty = symbols_of(None)
        table: dict[str, Any] = {}
        for kernel_set in KERNEL_SETS:
            kernels = {}
            for kernel in KERNELS + (FAST_ONLY_ENTRIES if kernel_set == "fast" else ()):
                # the fast set's entry may be a macro: referenced through the header as generated C does
                syms = symbols_of(entry_point(kernel, kernel_set))
                own = {k: v for k, v in sorted(syms.items()) if k not in empty}
                kernels[kernel] = {"entry": _resolved_entry(kernel, kernel_set, own), "bytes": sum(own.values()),
                                   "symbols": own}
            table[kernel_set] = kernels
    version = _run([cc, "--version"]).splitlines()[0]
    return {"toolchain": version, "flags": [*ARM_FLAGS, "-DNN_OPTIMIZED=1", "--gc-sections", "nano.specs"],
            "sources_hash": kernel_sources_hash(), "sets": table}


def _resolved_entry(kernel: str, kernel_set: str, symbols: dict[str, int]) -> str:
    """The function the entry point resolves to in the build (nn_opt_* behind a fast-set macro)."""
    name = entry_point(kernel, kernel_set) if kernel in KERNELS else kernel
    if name in symbols:
        return name
    optimized = "nn_opt_" + kernel[3:]
    return optimized if optimized in symbols else name


def kernel_sources_hash() -> str:
    """SHA-256 (12 hex digits) of the kernel sources the table was measured from."""
    import hashlib

    from edgeloop.models.compiler.host import NN_DIR

    digest = hashlib.sha256()
    for path in sorted(NN_DIR.glob("*.[ch]")):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:12]


def load_table(path: Path = TABLE_FILE) -> dict[str, Any]:
    """The committed table (written by `measure` through this module's command line)."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Measure the Cortex-M7 code bytes of every kernel, per kernel "
                                     "set, and write the table the compiler's flash estimate reads.")
    parser.add_argument("--out", type=Path, default=TABLE_FILE, help=f"table to write (default {TABLE_FILE})")
    parser.add_argument("--check", action="store_true",
                        help="only compare a fresh measurement with the table; exit 1 when they differ")
    args = parser.parse_args(argv)
    table = measure()
    text = json.dumps(table, indent=1, sort_keys=True) + "\n"
    if args.check:
        same = args.out.is_file() and load_table(args.out)["sets"] == table["sets"]
        print(f"{args.out}: {'up to date' if same else 'differs from the kernels: re-run without --check'}")
        return 0 if same else 1
    args.out.write_text(text, encoding="utf-8")
    for kernel_set in KERNEL_SETS:
        sizes = ", ".join(f"{k[3:]} {v['bytes']}" for k, v in table["sets"][kernel_set].items())
        print(f"{kernel_set}: {sizes}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
