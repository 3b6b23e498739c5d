"""`edgeloop analyze`: per-layer cost of a model, TFLite Micro's figures beside ours, float vs int8 for imports."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from edgeloop import require
from edgeloop.app.commands._import import MODEL_HELP, add_import_args, import_from_args, needs_import


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `analyze` subcommand."""
    p = subparsers.add_parser(
        "analyze",
        help="per-layer MACs, parameters and memory of a model (any format import reads)",
        description="Per layer and in total: op, shapes, MACs, parameters, weight and activation bytes; "
        "the planned arena, flash estimate and Cortex-M7 section sizes (arm-none-eabi-size), "
        "side by side with TFLite Micro's arena and the flatbuffer size. Float and foreign models are "
        "imported first; with --calib the report adds float vs int8 (output error, accuracy, and the "
        "quantization error of every layer). Without --calib a float model is sized from a structure-only "
        "quantization: MACs, parameters and memory hold, accuracy is not measured.",
    )
    p.add_argument("model", type=Path, help=MODEL_HELP)
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    p.add_argument("--no-tflm", action="store_true", help="skip measuring TFLite Micro's arena")
    p.add_argument("--no-arm", action="store_true", help="skip the Cortex-M7 build for section sizes")
    p.add_argument("--kernels", choices=("fast", "small"), default="fast",
                   help="kernel set to size the model with, as `compile --kernels` builds it (default fast)")
    p.add_argument("--html", type=Path, metavar="FILE",
                   help="also write the report as a self-contained HTML page (layer table, arena picture, "
                   "float vs int8)")
    p.add_argument("--port", metavar="URL",
                   help="also time every layer on this board (PROFILE): the board must run the model compiled "
                   "from this file")
    p.add_argument("--board-model", metavar="NAME|ID",
                   help="with --port: the board model (default: the one whose hash matches the int8 model)")
    p.add_argument("--save-int8", type=Path, metavar="FOLDER",
                   help="also write the imported int8 NAME.tflite (+ meta/preprocess JSON) into FOLDER")
    add_import_args(p)
    p.set_defaults(func=run, filter_native_logs=True)


def _profile_on_board(args: argparse.Namespace, int8: bytes, imported) -> dict:
    """PROFILE the model on the board at --port: the first calibration sample, else an all-zero-point input."""
    import hashlib

    import numpy as np

    from edgeloop.app.link.session import Session
    from edgeloop.app.validate.per_layer import profile_layers
    from edgeloop.app.validate.validator import ValidationError, resolve_model_id
    from edgeloop.models.importers.quant_error import int8_io

    digest = hashlib.sha256(int8).digest()
    with Session(args.port) as session:
        info = session.connect()
        if args.board_model is not None:
            model_id = resolve_model_id(info, args.board_model)
        else:
            matches = [model_id for model_id, m in zip(info.model_ids, info.models) if m.hash == digest]
            if not matches:
                raise ValidationError(f"no model on {info.board} was compiled from this model (SHA-256 "
                                      f"{digest.hex()[:16]}...): flash it, or name one with --board-model")
            model_id = matches[0]
        (s, z), _ = int8_io(int8)
        desc = info.model_by_id(model_id).input
        if imported is not None and imported.calibration is not None:
            x = imported.board_input(imported.calibration.x[:1])
            q = np.clip(np.round(x / s) + z, -128, 127).astype(np.int8)
        else:
            q = np.full(desc.size, z, np.int8)
        return profile_layers(session, model_id, int8, q.tobytes())


def run(args: argparse.Namespace) -> int:
    """Analyze and print the table or the JSON object."""
    if not args.no_tflm:  # [train] holds TFLite Micro and the [compile] packages: one pip line covers both
        require("tflite_micro.python.tflite_micro.runtime", needed_for="the TFLite Micro arena (or pass --no-tflm)")
    from edgeloop.models.compiler import CompileError
    from edgeloop.models.compiler.analyze import analyze, format_report
    from edgeloop.models.compiler.driver import default_name, sidecar_path
    from edgeloop.models.compiler.meta import load_meta

    name = default_name(args.model)
    comparison = None
    import_note = None
    imported = None
    if needs_import(args, args.model):
        from edgeloop.models.importers import compare, write_imported
        from edgeloop.models.importers.quant_error import format_comparison

        imported = import_from_args(args, args.model, structure_only=args.calib is None)
        data = imported.int8_tflite
        if args.save_int8:
            write_imported(imported, args.save_int8, name)
        comparison = compare(imported)
        import_note = {"format": imported.format, "seconds": round(imported.seconds, 3),
                       "structure_only": imported.structure_only, "warnings": imported.warnings,
                       "preprocess": imported.preprocess(),
                       "labels": list(imported.labels) if imported.labels else None}
        from edgeloop.models.compiler.meta import ModelMeta

        meta = ModelMeta(labels=imported.labels, input_kind=imported.input_kind())
    else:
        try:
            data = args.model.read_bytes()
        except OSError as exc:
            raise CompileError(f"cannot read {args.model}: {exc.strerror or exc}") from None
        sidecar = sidecar_path(args.model)  # labels + normalisation table count in flash, as `compile` puts them
        meta = load_meta(sidecar) if sidecar else None
    imported_here = import_note is not None
    report = analyze(data, name=name, with_tflm=not args.no_tflm and not imported_here, with_arm=not args.no_arm,
                     meta=meta, kernels=args.kernels)
    if imported_here:
        from edgeloop.models.importers.tf_models import tflm_arena_bytes_isolated

        if not args.no_tflm:
            report["totals"]["tflm_arena_bytes"] = tflm_arena_bytes_isolated(data)
        report["import"] = import_note
    if comparison is not None:
        report["float_vs_int8"] = comparison
    if args.port:
        report["on_board"] = _profile_on_board(args, data, imported if imported_here else None)
    if args.html:
        from edgeloop.app.validate.report_layers import render_analyze_html

        args.html.parent.mkdir(parents=True, exist_ok=True)
        args.html.write_text(render_analyze_html(report), encoding="utf-8")
    if args.json:
        print(json.dumps(report))
        return 0
    print(format_report(report))
    if import_note is not None:
        print(f"\nimported from {import_note['format']} in {import_note['seconds']:.1f} s")
        if import_note["structure_only"]:
            print("float model sized without calibration data (random inputs): MACs, parameters and memory hold; "
                  "pass --calib DATA to quantize it for the board and measure float vs int8")
    if comparison is not None:
        print(format_comparison(comparison))
    if "on_board" in report:
        from edgeloop.app.validate.per_layer import format_profile

        print(format_profile(report["on_board"]))
    if args.html:
        print(f"HTML report: {args.html}")
    return 0
