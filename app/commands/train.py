"""`edgeloop train`: train a model for a task, export .keras/.tflite (float, int8)/.onnx/meta.json and a report."""

from __future__ import annotations

import argparse
from pathlib import Path

from edgeloop import os_errors_explained, require


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `train` subcommand."""
    from edgeloop.models.train.recipes import IMAGE_PRESETS, TASKS

    p = subparsers.add_parser(
        "train", help="train, quantize (int8) and export a model, with a float-vs-int8 report",
        description="Train a model for TASK on a data set (synthetic sets from `edgeloop dataset synth`, "
                    "recorded sessions, or any folder-per-class image set), quantize it to full int8 and "
                    "write NAME.keras, NAME_float.tflite, NAME.tflite, NAME.onnx, NAME.meta.json and "
                    "REPORT.md/report.json/confusion.png into --out. Seeded: the same command gives the same model.",
    )
    p.add_argument("--task", required=True, choices=sorted(TASKS), help="what to train")
    p.add_argument("--data", nargs="+", type=Path, default=[], metavar="DIR|SESSION",
                   help="data set folder(s); image sets are folder-per-class (+ optional manifest.jsonl), "
                        "IMU sets are folders or files of edgeloop-imu-csv v1 (not needed for sine)")
    p.add_argument("--out", required=True, type=Path, help="output folder (created)")
    p.add_argument("--seed", type=int, default=0, help="seed of weights, shuffling and splits (default 0)")
    p.add_argument("--name", help="model name (default: the --out folder's name, with - turned into _)")
    p.add_argument("--arch", choices=sorted(IMAGE_PRESETS), default="demo",
                   help="image CNN preset (bottles/images tasks; default demo)")
    p.add_argument("--input-size", type=int, help="image side in pixels (overrides the preset)")
    p.add_argument("--color", choices=("gray", "rgb"), help="image channels (overrides the preset)")
    p.add_argument("--width", type=int, help="channels of the first conv / hidden units (overrides the preset)")
    p.add_argument("--depth", type=int, help="conv blocks / hidden layers (overrides the preset)")
    p.add_argument("--max-channels", type=int,
                   help="channel cap of the image CNN's deeper convs (overrides the preset's, which scales with --width)")
    p.add_argument("--epochs", type=int, help="maximum epochs (early stopping may end sooner)")
    p.add_argument("--window", type=int, help="IMU window in samples (IMU tasks)")
    p.add_argument("--hop", type=int, help="IMU hop in samples (IMU tasks)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Train and export; print where the files went and the float/int8 figures."""
    require("tensorflow", needed_for="edgeloop train")  # before the data is read: say what to install first
    from edgeloop.models.train.recipes import TrainRequest, train

    name = args.name or args.out.name.replace("-", "_")
    created = not args.out.exists()
    with os_errors_explained(f"create the output folder {args.out}"):  # now, not after the training
        args.out.mkdir(parents=True, exist_ok=True)
    try:
        report = train(TrainRequest(
            task=args.task, data=list(args.data), out=args.out, seed=args.seed, name=name, arch=args.arch,
            input_size=args.input_size, color=args.color, width=args.width, depth=args.depth,
            max_channels=args.max_channels, epochs=args.epochs, window=args.window, hop=args.hop,
            progress=not args.no_progress,
        ))
    except BaseException:
        if created and not any(args.out.iterdir()):
            args.out.rmdir()  # a failed run leaves no empty folder behind
        raise
    fl, q = report["float"], report["int8"]
    if "accuracy" in fl:
        print(f"{name}: float accuracy {100 * fl['accuracy']:.2f} %, int8 {100 * q['accuracy']:.2f} % "
              f"({q['n']} held-out samples)")
    else:
        print(f"{name}: float MAE {fl['mae']:.4f}, int8 MAE {q['mae']:.4f} ({q['n']} samples)")
    print(f"wrote {args.out}/{name}.tflite (int8), {name}_float.tflite, {name}.keras, "
          f"{name}.meta.json, REPORT.md" + ("" if report.get("onnx_error") else f", {name}.onnx"))
    if report.get("onnx_error"):
        print(f"no ONNX file: {report['onnx_error']}")
    return 0
