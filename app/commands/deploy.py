"""`edgeloop deploy`: put a model on a running board over the link, with no reflash and no restart."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from edgeloop.app.commands._import import MODEL_HELP, add_import_args, import_from_args, needs_import


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `deploy` subcommand."""
    p = subparsers.add_parser(
        "deploy",
        help="upload a model into a slot of a running board and activate it",
        description="Upload a model container (MODEL.elmc from `edgeloop compile --container`; or any model "
        "`edgeloop compile` reads: an int8 .tflite, or a float TFLite/Keras/SavedModel/ONNX model imported and "
        "quantized with --calib, compiled first) into an upload slot of the board at --port, over the link. "
        "The board checks its "
        "SHA-256 and validates it before it replaces the active model; the compiled-in models stay as the "
        "fallback. Prints the time taken and the new model's descriptor.",
    )
    p.add_argument("model", type=Path, help="MODEL.elmc container, or " + MODEL_HELP)
    p.add_argument("--port", required=True, help="the board's link, a pyserial URL or device "
                   "(e.g. socket://127.0.0.1:5555, /dev/ttyACM0)")
    p.add_argument("--slot", type=int, help="upload slot (default: a free slot that does not hold the active model)")
    p.add_argument("--no-activate", action="store_true", help="load the model but keep the active model")
    p.add_argument("--name", help="model name when compiling a model (default: the file name)")
    p.add_argument("--save-int8", type=Path, metavar="FOLDER",
                   help="imported models: also write NAME.tflite (int8, what `edgeloop validate --tflite` compares "
                   "the board against), NAME.meta.json and NAME.preprocess.json into FOLDER")
    add_import_args(p)
    p.set_defaults(func=run, filter_native_logs=True)


def _bar(done: int, total: int) -> None:
    width = 30
    filled = width * done // max(total, 1)
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} B")
    if done >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def run(args: argparse.Namespace) -> int:
    """Deploy and print the time and the descriptor."""
    from edgeloop.app.link.deploy import deploy

    container = _container(args)
    result = deploy(args.port, container, slot=args.slot, activate=not args.no_activate, progress=_bar)
    m = result.model
    state = "active" if result.committed.active_model == result.model_id else "loaded (not active)"
    print(f"deployed {m.name} as model {result.model_id} (slot {result.committed.slot}), {state}, "
          f"{result.container_bytes} B in {result.seconds:.3f} s (host clock)")
    shape = lambda t: "x".join(map(str, t.dims))  # noqa: E731
    print(f"  input {shape(m.input)} scale {m.input.scale:.6g} zp {m.input.zero_point}; "
          f"output {shape(m.output)}; {m.macc} MACs; arena {m.ram_bytes} B; sha256 {m.hash.hex()[:16]}...")
    if m.labels:
        print(f"  labels: {', '.join(m.labels)}")
    return 0


def _container(args: argparse.Namespace) -> bytes:
    """The container to upload: read (.elmc), compiled (int8 .tflite), or imported, then compiled."""
    from edgeloop.app.link.deploy import CONTAINER_SUFFIX, load_container
    from edgeloop.models.compiler.driver import default_name

    if args.model.suffix == CONTAINER_SUFFIX or not needs_import(args, args.model):
        return load_container(args.model, name=args.name)
    from edgeloop.models.importers import write_imported

    imported = import_from_args(args, args.model)
    name = args.name or default_name(args.model)
    print(f"imported {args.model} ({imported.format}) in {imported.seconds:.1f} s (int8)")
    if args.save_int8:   # compiled from the written files, the sidecar included, as `compile` does
        return load_container(write_imported(imported, args.save_int8, name)["tflite"], name=name)
    with tempfile.TemporaryDirectory(prefix="edgeloop-deploy-") as tmp:
        return load_container(write_imported(imported, Path(tmp), name)["tflite"], name=name)
