"""`edgeloop record`: record a labeled session headless, with the board's predictions when --port is given."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeloop import InputError
from edgeloop.app.live.stop_signals import on_stop_signals

if TYPE_CHECKING:
    from edgeloop.app.sessions.recording import LabelSet, Recorder


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `record` subcommand."""
    p = subparsers.add_parser(
        "record", help="record a labeled session (images or IMU) to a folder",
        description="Record captures from --source into a new session folder --out: images as folder-per-class "
                    "PNGs plus manifest.jsonl, IMU as edgeloop-imu-csv v1, and session.json. With --port, each "
                    "sample also stores the board's prediction and timings. Stops after --seconds or --samples, "
                    "at the end of a finite source, or on Ctrl-C / SIGTERM (the session is closed cleanly). "
                    "See docs/workflow.md.")
    p.add_argument("--source", required=True, metavar="SPEC",
                   help="source spec, e.g. synthetic:bottles, camera:0, clip.mp4, imu-serial:/dev/ttyUSB0, "
                        "or session:DIR to re-record a session")
    p.add_argument("--out", required=True, type=Path, help="new session folder (must not hold a session)")
    p.add_argument("--labels", default="", metavar="A,B,C",
                   help="the label set, comma-separated (optional with --label-from-source)")
    label = p.add_mutually_exclusive_group()
    label.add_argument("--label", help="label of every sample (default: the first of --labels)")
    label.add_argument("--label-from-source", action="store_true",
                       help="label each capture with the source's ground truth (synthetic scenes, session replays)")
    p.add_argument("--port", metavar="URL", help="board link (e.g. /dev/ttyACM0, socket://127.0.0.1:5555): "
                                                 "record its predictions and timings too")
    p.add_argument("--model", metavar="NAME|ID",
                   help="board model name or id for predictions (default: the active one)")
    p.add_argument("--baud", type=int, help="baud rate of a serial port")
    stop = p.add_mutually_exclusive_group()
    stop.add_argument("--seconds", type=float, help="stop after this many seconds")
    stop.add_argument("--samples", type=int, help="stop after this many samples (images, or IMU samples)")
    p.add_argument("--fsync-interval", type=float, default=1.0, metavar="S",
                   help="longest time between two fsyncs of the data files (default 1 s)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _limits(args: argparse.Namespace) -> None:
    if args.seconds is not None and args.seconds <= 0:
        raise InputError(f"--seconds must be > 0, got {args.seconds}")
    if args.samples is not None and args.samples <= 0:
        raise InputError(f"--samples must be > 0, got {args.samples}")


def run(args: argparse.Namespace) -> int:
    """Record until a limit, the end of the source or a stop signal; print what was written."""
    from edgeloop.app.sessions.recording import LabelSet

    _limits(args)
    labels = LabelSet.parse(args.labels) if args.labels.strip() else LabelSet()
    if not len(labels) and not args.label_from_source:
        raise InputError("give the label set with --labels a,b,c (or use --label-from-source)")
    if args.label is not None:
        if args.label not in labels:
            raise InputError(f"--label {args.label!r} is not in --labels {','.join(labels)}")
        labels.select(args.label)
    stop = threading.Event()
    with on_stop_signals(lambda _signum: stop.set(), (signal.SIGTERM,)):  # SIGTERM ends it like a limit
        recorder = _record(args, labels, stop)
    counts = ", ".join(f"{k}: {v}" for k, v in recorder.counts.items()) or "none"
    what = "images" if recorder.kind == "image" else "IMU samples"
    extra = f", {recorder.predictions} board predictions" if recorder.kind == "imu" and args.port else ""
    print(f"recorded {recorder.samples} {what} ({counts}){extra} in {recorder.elapsed():.1f} s to {args.out}")
    return 0


def _record(args: argparse.Namespace, labels: LabelSet, stop: threading.Event) -> Recorder:
    """Record until a limit, the end of the source or `stop`; returns the closed Recorder."""
    from tqdm import tqdm

    from edgeloop.app.sessions.recording import Recorder, TappedSource
    from edgeloop.app.live.sources import open_source

    source = open_source(args.source)
    session = None
    try:
        board: dict[str, Any] | None = None
        if args.port:
            from edgeloop.app.link.session import Session

            session = Session(args.port, baudrate=args.baud)
            info = session.connect()
            board = {"board": info.board, "firmware": info.firmware, "url": args.port,
                     "timing_source": info.timing_source.name.lower().replace("_", "-"),
                     "timing": info.timing_source.label, "cpu_hz": info.cpu_hz, "tick_hz": info.tick_hz}
        recorder = Recorder(args.out, labels, kind=source.kind, source={"spec": args.source, "name": source.name},
                            board=board, fsync_interval=args.fsync_interval,
                            label_from_source=args.label_from_source)
        unit = "img" if source.kind == "image" else "sample"
        bar = tqdm(total=args.samples, unit=unit, disable=args.no_progress, file=sys.stderr,
                   desc=f"recording {args.out.name}")
        deadline = None if args.seconds is None else time.monotonic() + args.seconds

        def done() -> bool:
            return (stop.is_set() or (deadline is not None and time.monotonic() >= deadline)
                    or (args.samples is not None and recorder.samples >= args.samples))

        def progress(n: int) -> None:
            if n:
                bar.update(n)
                bar.set_postfix_str(" ".join(f"{k}:{v}" for k, v in recorder.counts.items()), refresh=False)

        pipe = None
        if session is not None:
            from edgeloop.app.live.pipeline import Pipeline

            fed = source
            if source.kind == "imu":  # every IMU sample is recorded, even those the link is too slow for
                fed = TappedSource(source, lambda capture: progress(recorder.add_capture(capture)))
            pipe = Pipeline(fed, session, model=args.model)
            recorder.model = _model_fields(pipe.model)
        recorder.start()
        try:
            if pipe is None:
                while not done():
                    capture = source.read(timeout=0.2)
                    if capture is None:
                        if source.finished:
                            break
                        continue
                    progress(recorder.add_capture(capture))
            else:
                _record_with_board(pipe, recorder, done, progress)
        finally:
            bar.close()
            recorder.close()
    finally:
        source.close()
        if session is not None:
            session.close()
    return recorder


def _record_with_board(pipe, recorder, done, progress) -> None:
    """Run the pipeline; image samples are recorded with their result, IMU results as prediction lines."""
    with pipe:
        while not done():
            record = pipe.get(timeout=0.2)
            if record is None:
                if pipe.finished:
                    # The stream ended: a source or link failure that ended it is raised here.
                    next(pipe.records(timeout=1.0), None)
                    break
                continue
            progress(recorder.add_result(record))


def _model_fields(model) -> dict[str, Any]:
    return {"name": model.name, "hash": model.hash.hex(), "labels": list(model.labels), "macc": model.macc,
            "input": list(model.input.dims), "output": list(model.output.dims)}
