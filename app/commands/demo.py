"""`edgeloop demo`: a host virtual board with the bundled models, the synthetic bottle scene and the GUI."""

from __future__ import annotations

import argparse
import sys

from edgeloop.app.commands._live import add_stream_options
from edgeloop.app.commands.gui import add_gui_options, launch, require_gui
from edgeloop.app.gui.display import NO_DISPLAY_HINT, has_display
from edgeloop.app.live.sources import open_source
from edgeloop.protocol import InputKind, ModelDescriptor

DEMO_SOURCE = "synthetic:bottles?seed=3"
FALLBACK_MODEL = "mean96"  # a firmware test model (image in, mean brightness out), used when the zoo has no image model


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `demo` subcommand."""
    p = subparsers.add_parser(
        "demo", help="start a virtual board with the bundled models and show the live bottle demo",
        description="Build and start the host virtual board with the zoo's models, stream the synthetic "
                    "draining IV bottle to it and open the GUI. Without a display it says so and runs "
                    "headless (bounded by --frames / --seconds; otherwise until Ctrl-C). Timings come from "
                    "the host clock of the virtual board: they are not MCU cycles.")
    p.add_argument("--baud", type=int, default=921600,
                   help="pace the virtual link like a UART at this baud rate (default 921600; 0 = unpaced)")
    p.add_argument("--models", nargs="+", metavar="NAME",
                   help="models to build into the board (default: every zoo model)")
    p.add_argument("--headless", action="store_true", help="no GUI even when a display is present")
    add_gui_options(p)
    # Seed 3 opens on a clearly lit bottle; later bottles in the loop get fresh, harder scenes.
    add_stream_options(p, source_default=DEMO_SOURCE)
    p.set_defaults(func=run)


def bundled_models() -> list[str]:
    """The zoo's compiled models, plus the image test model when the zoo has no image model yet."""
    from edgeloop.app.link.firmware_build import zoo_models

    zoo = zoo_models()
    return zoo + [FALLBACK_MODEL] if not any("bottle" in name for name in zoo) else zoo


def pick_demo_model(models: tuple[ModelDescriptor, ...]) -> int | None:
    """Index of the bottle classifier (labels include no_bottle), else of the first image model."""
    for i, model in enumerate(models):
        if "no_bottle" in model.labels:
            return i
    for i, model in enumerate(models):
        if model.input_kind == InputKind.IMAGE and "bottle" in model.name:
            return i
    for i, model in enumerate(models):
        if model.input_kind == InputKind.IMAGE:
            return i
    return None


def run(args: argparse.Namespace) -> int:
    """Start the board, then the GUI or the headless runner; stop the board on the way out."""
    from edgeloop.app.link.boards import start_board

    headless = args.headless or not has_display()
    if headless and not args.headless:
        print(f"edgeloop demo: {NO_DISPLAY_HINT}; running headless instead", file=sys.stderr)
    if not headless:
        require_gui()
    open_source(args.source).close()  # a bad spec or a missing extra fails here, before the board is built
    models = args.models or bundled_models()
    print(f"starting the host virtual board with models: {', '.join(models)} (building it the first time)")
    with start_board("host", models=models, baud=args.baud) as board:
        print(f"board ready at {board.url}" + (f", link paced at {args.baud} baud" if args.baud else ""))
        if args.model is None:
            args.model = _demo_model_name(board.url)
        if headless:
            return _headless(board.url, args)
        return launch(board.url, args.source, args)


def _demo_model_name(url: str) -> str | None:
    from edgeloop.app.link.session import Session

    with Session(url) as session:
        info = session.connect()
    index = pick_demo_model(info.models)
    return None if index is None else info.models[index].name


def _headless(url: str, args: argparse.Namespace) -> int:
    from edgeloop.app.live.pipeline import Pipeline
    from edgeloop.app.live.runner import run_headless
    from edgeloop.app.link.session import Session

    source = open_source(args.source)
    try:
        with Session(url) as session:
            session.connect()
            pipeline = Pipeline(source, session, model=args.model, roi=args.roi)
            print(f"model {pipeline.model.name}, source {source.name}; timings are host clock "
                  f"(a virtual board), not MCU cycles")
            summary = run_headless(pipeline, frames=args.frames, seconds=args.seconds)
    finally:
        source.close()
    for line in summary.lines():
        print(line)
    return 130 if summary.interrupted else (0 if summary.results else 1)
