"""`edgeloop validate`: run labeled data through a board and the TFLite Micro reference; write HTML + JSON."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edgeloop import InputError, MissingFileError, require


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
    p.add_argument("--model", help="board model name or index (default: the active one)")
    p.add_argument("--tflite", required=True, type=Path, help="the int8 .tflite the board model was compiled from")
    p.add_argument("--data", required=True, type=Path,
                   help="image set or session folder, IMU CSV file(s)/folder, or .npz with x (and y)")
    p.add_argument("--split", help="only samples of this split (e.g. test) of an image set")
    p.add_argument("--limit", type=int, help="validate at most this many samples")
    p.add_argument("--out", type=Path, help="report folder (default: validation/<model>)")
    p.add_argument("--baud", type=int, help="baud rate of a serial port")
    p.add_argument("--allow-hash-mismatch", action="store_true",
                   help="run even when the board's model hash differs from the .tflite (noted in the report)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Validate, write the report, print a summary; a partial run still writes its report, then fails."""
    from tqdm import tqdm

    from edgeloop.app.link.session import Session
    from edgeloop.app.validate.validator import (
        ValidationError,
        load_validation_data,
        resolve_model_index,
        validate_on_board,
    )
    from edgeloop.app.validate.report import write_report

    # The reference is TFLite Micro ([train] extra): say so before connecting to the board.
    require("tflite_micro.python.tflite_micro.runtime", needed_for="the reference outputs of edgeloop validate")
    if args.limit is not None and args.limit <= 0:
        raise InputError(f"--limit must be > 0, got {args.limit}")
    if not args.tflite.is_file():
        raise MissingFileError(f"--tflite {args.tflite} does not exist")
    tflite = args.tflite.read_bytes()
    with Session(args.port, baudrate=args.baud) as session:
        info = session.connect()
        index = resolve_model_index(info, args.model)
        model = info.models[index]
        data = load_validation_data(args.data, model, split=args.split, limit=args.limit)
        bar = tqdm(total=len(data), unit="sample", desc=f"validating {model.name}", disable=args.no_progress,
                   file=sys.stderr)

        def progress(done: int, total: int) -> None:
            bar.update(done - bar.n)

        try:
            result = validate_on_board(session, index, tflite, data, tflite_path=str(args.tflite),
                                       allow_hash_mismatch=args.allow_hash_mismatch, progress=progress)
        finally:
            bar.close()
    out = args.out or Path("validation") / model.name
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
    for warning in result.warnings:
        print(f"  warning: {warning}")
    print(f"report: {html_path} and {json_path}")
    if result.status != "complete":
        raise ValidationError(f"validation incomplete: {result.error}; the partial report is in {out}")
    return 0
