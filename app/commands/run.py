"""`edgeloop run`: headless field-trial runner against a board (real or virtual)."""

from __future__ import annotations

import argparse
from pathlib import Path

from edgeloop.app.commands._live import add_stream_options, resolve_port
from edgeloop.app.live.input_spec import search_folders
from edgeloop.app.live.pipeline import Pipeline
from edgeloop.app.live.source_choice import model_for_source
from edgeloop.app.live.timing import describe_ticks
from edgeloop.app.live.runner import run_headless
from edgeloop.app.link.session import Session
from edgeloop.app.live.sources import open_source
from edgeloop.models.decision import DecisionRule, rule_for_model
from edgeloop.protocol import TimingSource


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `run` subcommand."""
    p = subparsers.add_parser(
        "run", help="stream a source to a board headless: a line per result, results logged to CSV",
        description="Connect to an edgeloop board, stream a source through the board's model and print one "
                    "line per result (class, confidence, on-device time labelled measured / emulated / host "
                    "clock, round trip). --log writes every result and its timings to CSV.")
    p.add_argument("--port", metavar="URL", help="serial port or pyserial URL, e.g. /dev/ttyACM0 or "
                                                 "socket://127.0.0.1:5555 (default: the first ST-LINK board)")
    p.add_argument("--baud", type=int, help="baud rate of a real serial port (default 921600)")
    add_stream_options(p, source_default=None)
    p.add_argument("--log", type=Path, metavar="CSV", help="write every result to this CSV file")
    p.add_argument("--quiet", action="store_true", help="no line per result, only the summary")
    p.add_argument("--model-dir", type=Path, action="append", default=[], metavar="DIR",
                   help="folder of your compiled models (repeatable): the board model's NAME.preprocess.json "
                        "(colour order, pixel range) and meta.json decision rule are looked up there by its "
                        "SHA-256, as in the bundled zoo and the folders of EDGELOOP_MODEL_PATH")
    p.add_argument("--decision", metavar="RULE",
                   help="decision rule for the CSV's decided class (e.g. mean:4,threshold=0.6; default: the rule "
                        "in the model's meta.json when the board's model is a bundled one, else none)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Connect, stream, summarize; exit code 0, or 1 when no result came back."""
    folders = search_folders(args.model_dir)  # a wrong --model-dir fails before anything opens
    url = resolve_port(args.port)
    source = open_source(args.source)
    try:
        with Session(url, baudrate=args.baud) as session:
            info = session.connect()
            timing = TimingSource(info.timing_source)
            print(f"connected to {info.board} (firmware {info.firmware}) on {url}; "
                  f"device timings are {timing.label} ({describe_ticks(info)})")
            model = args.model
            if model is None:  # the active model, unless the source cannot feed it and another model can
                model = model_for_source(info, source.kind)
            pipeline = Pipeline(source, session, model=model, roi=args.roi, model_dirs=args.model_dir)
            print(f"model {pipeline.model.name}, source {source.name}")
            rule = DecisionRule.parse(args.decision) if args.decision else rule_for_model(pipeline.model.hash, folders)
            summary = run_headless(pipeline, log_path=args.log, frames=args.frames, seconds=args.seconds,
                                   quiet=args.quiet, rule=rule)
    finally:
        source.close()
    for line in summary.lines():
        print(line)
    if args.log:
        print(f"results written to {args.log}")
    if summary.interrupted:
        return 130
    return 0 if summary.results else 1
