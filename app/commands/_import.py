"""Import options shared by `analyze`, `compile` and `validate`: any model format, calibration, labels."""

from __future__ import annotations

import argparse
from pathlib import Path

MODEL_HELP = ("the model: int8 or float .tflite, Keras .keras/.h5, a SavedModel folder, or ONNX (float or "
              "QDQ); float models are quantized to int8 with --calib")


def add_import_args(p: argparse.ArgumentParser) -> None:
    """Add --calib, --labels, --pixel-range and --color-order to a subcommand."""
    from edgeloop.models.importers.options import COLOR_ORDERS, PIXEL_RANGES

    g = p.add_argument_group("import of float and foreign models")
    g.add_argument("--calib", type=Path, metavar="DATA",
                   help="calibration data for float models: an .npz with x (and y), a folder-per-class image "
                   "set or session, or IMU CSV recordings; also the float-vs-int8 evaluation set")
    g.add_argument("--labels", metavar="A,B,..|FILE",
                   help="class labels, comma-separated or a file (one per line or a JSON list)")
    g.add_argument("--pixel-range", choices=sorted(PIXEL_RANGES), default="0,1",
                   help="real range of image pixels 0..255 the model was trained on (default 0,1; write a "
                        "negative one as --pixel-range=-1,1); run and the GUI read it from NAME.preprocess.json")
    g.add_argument("--color-order", choices=COLOR_ORDERS, default="rgb",
                   help="channel order the model was trained on (default rgb)")


def needs_import(args: argparse.Namespace, model: Path) -> bool:
    """True unless MODEL is an int8 .tflite given without any import option (the plain compile path)."""
    from edgeloop.models.importers import detect_format

    plain = args.calib is None and args.labels is None and args.color_order == "rgb" and args.pixel_range == "0,1"
    return not (plain and detect_format(model) == "tflite-int8")


def import_from_args(args: argparse.Namespace, model: Path, *, structure_only: bool = False):
    """Import MODEL with the command's options; warnings go to stderr."""
    import sys

    from edgeloop.models.importers import import_model
    from edgeloop.models.importers.options import PIXEL_RANGES

    imported = import_model(model, calib=args.calib, labels=args.labels,
                            pixel_range=PIXEL_RANGES[args.pixel_range], color_order=args.color_order,
                            structure_only=structure_only)
    for warning in imported.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return imported
