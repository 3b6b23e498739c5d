"""`edgeloop analyze`: per-layer cost of an int8 .tflite model, and TFLite Micro's figures beside ours."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from edgeloop import require


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `analyze` subcommand."""
    p = subparsers.add_parser(
        "analyze",
        help="per-layer MACs, parameters and memory of a .tflite model",
        description="Per layer and in total: op, shapes, MACs, parameters, weight and activation bytes; "
        "the planned arena, flash estimate and Cortex-M7 section sizes (arm-none-eabi-size), "
        "side by side with TFLite Micro's arena and the flatbuffer size.",
    )
    p.add_argument("model", type=Path, help="the .tflite file")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    p.add_argument("--no-tflm", action="store_true", help="skip measuring TFLite Micro's arena")
    p.add_argument("--no-arm", action="store_true", help="skip the Cortex-M7 build for section sizes")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Analyze and print the table or the JSON object."""
    if not args.no_tflm:  # [train] holds TFLite Micro and the [compile] packages: one pip line covers both
        require("tflite_micro.python.tflite_micro.runtime", needed_for="the TFLite Micro arena (or pass --no-tflm)")
    from edgeloop.models.compiler import CompileError
    from edgeloop.models.compiler.analyze import analyze, format_report
    from edgeloop.models.compiler.driver import default_name, sidecar_path
    from edgeloop.models.compiler.meta import load_meta

    try:
        data = args.model.read_bytes()
    except OSError as exc:
        raise CompileError(f"cannot read {args.model}: {exc.strerror or exc}") from None
    sidecar = sidecar_path(args.model)  # labels + normalisation table count in flash, as `compile` puts them
    report = analyze(data, name=default_name(args.model), with_tflm=not args.no_tflm, with_arm=not args.no_arm,
                     meta=load_meta(sidecar) if sidecar else None)
    print(json.dumps(report) if args.json else format_report(report))
    return 0
