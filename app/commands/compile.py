"""`edgeloop compile`: an int8 .tflite model to dependency-free C (NAME.c, NAME.h)."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `compile` subcommand."""
    p = subparsers.add_parser(
        "compile",
        help="compile an int8 .tflite model to C for the firmware",
        description="Compile a fully int8-quantized .tflite model into NAME.c and NAME.h defining "
        "`const nn_model_t nn_model_NAME` (firmware/nn/nn_model.h), bit-exact with TFLite Micro.",
    )
    p.add_argument("model", type=Path, help="the .tflite file")
    p.add_argument("--out", type=Path, required=True, help="directory for NAME.c and NAME.h")
    p.add_argument("--name", help="C name of the model (default: the file name, sanitized)")
    p.add_argument("--meta", type=Path,
                   help="JSON sidecar with labels, input_kind, sample_rate_hz, window, hop "
                   "(default: MODEL.meta.json beside the model, if present)")
    p.add_argument("--wide-weights", choices=("free", "all", "none"), default="free",
                   help="convolutions that widen their weights to int16 in the arena for about a quarter "
                   "more speed on Cortex-M: free (default: only where the arena does not grow), all, none")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Compile and print a one-line summary."""
    from edgeloop.models.compiler import compile_file

    result = compile_file(args.model, args.out, name=args.name, meta_path=args.meta,
                          wide_weights=args.wide_weights)
    wide = sum(1 for s in result.graph.steps if s.params.get("wide_weights"))
    note = f" ({wide} conv layer{'s' if wide != 1 else ''} with wide weights)" if wide else ""
    print(f"{result.name}: {len(result.graph.steps)} ops, {result.macc} MACs, "
          f"arena {result.arena_bytes} B{note}, flash ~{result.flash_bytes} B "
          f"-> {args.out / (result.name + '.c')}, {args.out / (result.name + '.h')}")
    return 0
