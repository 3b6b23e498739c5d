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
    p.add_argument("--out", type=Path, help="directory for NAME.c and NAME.h")
    p.add_argument("--container", type=Path, metavar="FILE",
                   help="also (or, without --out, only) write the model as a container FILE.elmc that "
                   "`edgeloop deploy` uploads to a running board (docs/container.md)")
    p.add_argument("--name", help="C name of the model (default: the file name, sanitized)")
    p.add_argument("--meta", type=Path,
                   help="JSON sidecar with labels, input_kind, sample_rate_hz, window, hop "
                   "(default: MODEL.meta.json beside the model, if present)")
    p.add_argument("--wide-weights", choices=("free", "tflm", "all", "none"), default="free",
                   help="convolutions that widen their weights to int16 in the arena for about a quarter "
                   "more speed on Cortex-M: free (default: only where the arena does not grow), tflm (where "
                   "the arena stays within TFLite Micro's for the same model), all, none")
    p.add_argument("--kernels", choices=("fast", "small"), default="fast",
                   help="kernel set the generated C calls: fast (default: the build's kernels, optimized on "
                   "Cortex-M cores with DSP) or small (the reference kernels by name: bit-exact, several KB "
                   "less flash and no kernel scratch, several times slower). A container (--container) runs "
                   "on the board's own kernels either way")
    add_import_args(p)
    p.set_defaults(func=run, filter_native_logs=True)


def run(args: argparse.Namespace) -> int:
    """Compile and print a one-line summary."""
    from edgeloop import InputError
    from edgeloop.models.compiler.driver import compile_file, compile_source, default_name

    if args.out is None and args.container is None:
        raise InputError("give --out DIR for C sources, --container FILE for a container, or both")
    source, meta = args.model, args.meta
    if needs_import(args, args.model):
        from edgeloop.models.importers import compare, write_imported
        from edgeloop.models.importers.quant_error import format_comparison

        imported = import_from_args(args, args.model)
        name = args.name or default_name(args.model)
        paths = write_imported(imported, args.out or args.container.parent, name)
        source, meta = paths["tflite"], args.meta or paths["meta"]
        print(f"imported {args.model} ({imported.format}) in {imported.seconds:.1f} s -> {source} (int8)")
        comparison = compare(imported)
        if comparison is not None:
            print(format_comparison(comparison))
    kw = dict(name=args.name or default_name(args.model), meta_path=meta, wide_weights=args.wide_weights)
    if args.kernels != "fast" and args.out is None:
        print(f"note: --kernels {args.kernels} applies to generated C (--out); a container runs on the board's "
              "own kernels, so its figures are the fast set's")
    result = (compile_file(source, args.out, kernels=args.kernels, **kw) if args.out
              else compile_source(source, **kw))
    wide = sum(1 for s in result.graph.steps if s.params.get("wide_weights"))
    note = f" ({wide} conv layer{'s' if wide != 1 else ''} with wide weights)" if wide else ""
    targets = [str(args.out / (result.name + ".c")), str(args.out / (result.name + ".h"))] if args.out else []
    if args.container:
        from edgeloop.models.compiler.container import container_from_compiled, save_container

        # the board's executor runs a container on its own kernels: always plan it for the fast set
        blob = container_from_compiled(result if result.kernel_set == "fast" else compile_source(source, **kw))
        save_container(blob, args.container)
        targets.append(f"{args.container} ({len(blob)} B container)")
    print(f"{result.name}: {len(result.graph.steps)} ops, {result.macc} MACs, "
          f"arena {result.arena_bytes} B{note}, flash ~{result.flash_bytes} B ({result.kernel_set} kernels) -> "
          f"{', '.join(targets)}")
    return 0
