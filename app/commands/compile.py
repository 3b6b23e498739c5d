"""`edgeloop compile`: a model (int8 .tflite, or any format `import` reads) to dependency-free C (NAME.c, NAME.h)."""

from __future__ import annotations

import argparse
from pathlib import Path

from edgeloop.app.commands._import import MODEL_HELP, add_import_args, import_from_args, needs_import


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `compile` subcommand."""
    p = subparsers.add_parser(
        "compile",
        help="compile a model (int8 .tflite, or float TFLite/Keras/SavedModel/ONNX with --calib) to C",
        description="Compile a fully int8-quantized .tflite model into NAME.c and NAME.h defining "
        "`const nn_model_t nn_model_NAME` (firmware/nn/nn_model.h), bit-exact with TFLite Micro. "
        "Other formats are imported first: float models are quantized with --calib, and the int8 "
        "NAME.tflite (what the board runs and validate compares against), NAME.meta.json and "
        "NAME.preprocess.json are written beside the C files.",
    )
    p.add_argument("model", type=Path, help=MODEL_HELP)
    p.add_argument("--out", type=Path, required=True, help="directory for NAME.c and NAME.h")
    p.add_argument("--name", help="C name of the model (default: the file name, sanitized)")
    p.add_argument("--meta", type=Path,
                   help="JSON sidecar with labels, input_kind, sample_rate_hz, window, hop "
                   "(default: MODEL.meta.json beside the model, if present)")
    p.add_argument("--wide-weights", choices=("free", "all", "none"), default="free",
                   help="convolutions that widen their weights to int16 in the arena for about a quarter "
                   "more speed on Cortex-M: free (default: only where the arena does not grow), all, none")
    add_import_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Compile and print a one-line summary."""
    from edgeloop.models.compiler import compile_file
    from edgeloop.models.compiler.driver import default_name

    source, meta = args.model, args.meta
    if needs_import(args, args.model):
        from edgeloop.models.importers import compare, write_imported
        from edgeloop.models.importers.quant_error import format_comparison

        imported = import_from_args(args, args.model)
        name = args.name or default_name(args.model)
        paths = write_imported(imported, args.out, name)
        source, meta = paths["tflite"], args.meta or paths["meta"]
        print(f"imported {args.model} ({imported.format}) in {imported.seconds:.1f} s -> {source} (int8)")
        comparison = compare(imported)
        if comparison is not None:
            print(format_comparison(comparison))
    result = compile_file(source, args.out, name=args.name or default_name(args.model), meta_path=meta,
                          wide_weights=args.wide_weights)
    wide = sum(1 for s in result.graph.steps if s.params.get("wide_weights"))
    note = f" ({wide} conv layer{'s' if wide != 1 else ''} with wide weights)" if wide else ""
    print(f"{result.name}: {len(result.graph.steps)} ops, {result.macc} MACs, "
          f"arena {result.arena_bytes} B{note}, flash ~{result.flash_bytes} B "
          f"-> {args.out / (result.name + '.c')}, {args.out / (result.name + '.h')}")
    return 0
