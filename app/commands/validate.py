"""`edgeloop validate`: run labeled data through a board and the TFLite Micro reference; write HTML + JSON."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

from edgeloop import InputError, MissingFileError, require
from edgeloop.app.commands._import import add_import_args, import_from_args, needs_import


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `validate` subcommand."""
    p = subparsers.add_parser(
        "validate", help="validate a model on a board against the host reference (accuracy, agreement, latency)",
        description="Run every sample of --data through the board's model (credit-pipelined INFER) and through "
                    "the same .tflite in TFLite Micro's interpreter, then write report.json and report.html: "
                    "accuracy per class and confusion matrices (board and reference), output agreement "
                    "(exact-match rate, max |diff|, RMSE, MAE, L2 relative error, cosine) and device latency "
                    "labelled by its timing source. The board's model hash must be the SHA-256 of --tflite.")
    p.add_argument("--port", required=True, metavar="URL", help="board link, e.g. /dev/ttyACM0 or socket://HOST:PORT")
    p.add_argument("--model", metavar="NAME|ID", help="board model name or id (default: the active one)")
    p.add_argument("--tflite", required=True, type=Path, metavar="MODEL",
                   help="the model the board's was compiled from: its int8 .tflite, or the float/foreign source "
                   "(float TFLite, .keras, .h5, SavedModel, ONNX) with the same --calib as at compile time; the "
                   "imported int8 .tflite is written into the report folder and compared against")
    p.add_argument("--data", required=True, type=Path,
                   help="image set or session folder, IMU CSV file(s)/folder, or .npz with x (and y)")
    p.add_argument("--split", help="only samples of this split (e.g. test) of an image set")
    p.add_argument("--limit", type=int, help="validate at most this many samples")
    p.add_argument("--out", type=Path, help="report folder (default: validation/<model>)")
    p.add_argument("--baud", type=int, help="baud rate of a serial port")
    p.add_argument("--allow-hash-mismatch", action="store_true",
                   help="run even when the board's model hash differs from the .tflite (noted in the report)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--per-layer", action="store_true",
                   help="also time every layer on the board (PROFILE, first sample) and, when outputs differ, name "
                   "the first layer whose output differs from TFLite Micro (DUMP_TENSOR, first mismatching sample)")
    add_import_args(p)
    p.set_defaults(func=run, filter_native_logs=True)


@contextlib.contextmanager
def _board_layout_data(path: Path, imported) -> Iterator[Path]:
    """An .npz of NCHW inputs for an NCHW source, given as a temporary NHWC .npz (the board's layout)."""
    import tempfile

    import numpy as np

    if imported is None or imported.source_layout != "NCHW" or path.suffix != ".npz" or not path.is_file():
        yield path
        return
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    x = arrays.get("x")
    if x is None or x.ndim != 4 or tuple(x.shape[1:]) != imported.source_input_shape:
        yield path  # already in the board's layout, or not inputs: the loader explains what it needs
        return
    arrays["x"] = np.ascontiguousarray(x.transpose(0, 2, 3, 1))  # dtype kept: int8 inputs stay exact
    with tempfile.TemporaryDirectory(prefix="edgeloop-validate-") as tmp:
        np.savez(Path(tmp) / path.name, **arrays)
        yield Path(tmp) / path.name


def _per_layer(session, model_id: int, tflite: bytes, data, result) -> None:
    """Per-layer time on the first sample and the first differing layer on the first mismatching one."""
    import numpy as np

    from edgeloop.app.validate.per_layer import FirmwareTooOld, first_divergence, profile_layers

    try:
        section = {"profile": profile_layers(session, model_id, tflite, data.inputs[0]),
                   "profile_sample": data.names[0]}
        n = result.completed
        board = result.board_outputs.reshape(n, -1)
        reference = result.reference_outputs[:n].reshape(n, -1)
        mismatching = np.flatnonzero(np.any(board != reference, axis=1))
        if len(mismatching):
            k = int(mismatching[0])
            section["divergence_sample"] = data.names[k]
            section["divergence"] = first_divergence(session, model_id, tflite, data.inputs[k])
        result.metrics["per_layer"] = section
    except FirmwareTooOld as exc:
        result.warnings.append(str(exc))


def run(args: argparse.Namespace) -> int:
    """Validate, write the report, print a summary; a partial run still writes its report, then fails."""
    from tqdm import tqdm

    from edgeloop.app.link.session import Session
    from edgeloop.app.validate.validator import (
        ValidationError,
        load_validation_data,
        resolve_model_id,
        validate_on_board,
    )
    from edgeloop.app.validate.report import write_report

    # The reference is TFLite Micro ([train] extra): say so before connecting to the board.
    require("tflite_micro.python.tflite_micro.runtime", needed_for="the reference outputs of edgeloop validate")
    if args.limit is not None and args.limit <= 0:
        raise InputError(f"--limit must be > 0, got {args.limit}")
    if not args.tflite.exists():
        raise MissingFileError(f"--tflite {args.tflite} does not exist")
    imported = None
    if needs_import(args, args.tflite):
        imported = import_from_args(args, args.tflite)
        tflite = imported.int8_tflite
    else:
        tflite = args.tflite.read_bytes()
    with Session(args.port, baudrate=args.baud) as session:
        info = session.connect()
        model_id = resolve_model_id(info, args.model)  # a stable id (SPEC §9.4), not a list position
        model = info.model_by_id(model_id)
        with _board_layout_data(args.data, imported) as data_path:
            data = load_validation_data(data_path, model, split=args.split, limit=args.limit,
                                        model_dirs=[args.tflite.parent],
                                        preprocess=imported.preprocess() if imported is not None else None)
        bar = tqdm(total=len(data), unit="sample", desc=f"validating {model.name}", disable=args.no_progress,
                   file=sys.stderr)

        def progress(done: int, total: int) -> None:
            bar.update(done - bar.n)

        try:
            result = validate_on_board(session, model_id, tflite, data, tflite_path=str(args.tflite),
                                       allow_hash_mismatch=args.allow_hash_mismatch, progress=progress)
        finally:
            bar.close()
        if args.per_layer:
            _per_layer(session, model_id, tflite, data, result)
    out = args.out or Path("validation") / model.name
    if imported is not None:
        from edgeloop.models.importers import compare, write_imported

        written = write_imported(imported, out, model.name)
        result.tflite_path = str(written["tflite"])
        comparison = compare(imported)
        if comparison is not None:
            result.metrics["float_vs_int8"] = comparison
    json_path, html_path = write_report(result, out)
    m = result.metrics
    print(f"{model.name} on {info.board}: {result.completed}/{len(data)} samples in {result.seconds:.1f} s")
    cls = m.get("classification")
    if cls:
        acc = cls["accuracy"]
        fmt = lambda v: "n/a" if v is None else f"{100 * v:.2f} %"  # noqa: E731
        print(f"  accuracy: board {fmt(acc['board'])}, reference {fmt(acc['reference'])}, "
              f"board = reference {fmt(acc['board_vs_reference'])}")
    for who, err in m.get("regression", {}).items():
        print(f"  error vs targets ({who}): MAE {err['mae']:.4g}, RMSE {err['rmse']:.4g}")
    ag = m["agreement"]
    if ag.get("samples"):
        print(f"  agreement: exact match {100 * ag['exact_match_rate']:.2f} %, max |diff| {ag['max_abs_diff_q']:g} "
              f"steps, RMSE {ag['rmse']:.3g}, cosine {ag['cosine_mean']:.6f}")
    lat = m["latency"]
    if "us" in lat:
        per = lat.get("per_macc")
        print(f"  t_infer ({lat['timing']}): mean {lat['us']['mean']:.1f} µs, min {lat['us']['min']:.1f}, "
              f"max {lat['us']['max']:.1f}" + (f"; {per['value']:.3g} {per['unit']}" if per else ""))
    per_layer = m.get("per_layer")
    if per_layer:
        from edgeloop.app.validate.per_layer import format_divergence, format_profile

        print("  " + format_profile(per_layer["profile"]).replace("\n", "\n  "))
        if "divergence_sample" in per_layer:
            print("  " + format_divergence(per_layer["divergence"], per_layer["divergence_sample"]))
    fvi = m.get("float_vs_int8")
    if fvi:
        from edgeloop.models.importers.quant_error import format_comparison

        print("  " + format_comparison(fvi).replace("\n", "\n  "))
    for warning in result.warnings:
        print(f"  warning: {warning}")
    print(f"report: {html_path} and {json_path}")
    if result.status != "complete":
        raise ValidationError(f"validation incomplete: {result.error}; the partial report is in {out}")
    return 0
