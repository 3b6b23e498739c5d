"""`edgeloop train`: train a model for a task, export .keras/.tflite (float, int8)/.onnx/meta.json and a report."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from edgeloop import InputError, os_errors_explained, require

if TYPE_CHECKING:
    from edgeloop.models.train.recipes import TrainRequest


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `train` subcommand."""
    from edgeloop.models.train.families import IMAGE_BLOCKS, IMAGE_HEADS, IMAGE_POOLS
    from edgeloop.models.train.recipes import FAMILIES, IMAGE_PRESETS, TASKS

    p = subparsers.add_parser(
        "train", help="train, quantize (int8) and export a model, with a float-vs-int8 report",
        description="Train a model for TASK on a data set (synthetic sets from `edgeloop dataset synth`, "
                    "recorded sessions, or any folder-per-class image set), quantize it to full int8 and "
                    "write NAME.keras, NAME_float.tflite, NAME.tflite, NAME.onnx, NAME.meta.json and "
                    "REPORT.md/report.json/confusion.png into --out. Seeded: the same command gives the same model.",
    )
    p.add_argument("--task", choices=sorted(TASKS), help="what to train (required unless --recipe gives it)")
    p.add_argument("--recipe", type=Path, metavar="FILE",
                   help="reproduce a model from its NAME.recipe.json (written by every training run); "
                        "options given beside it override the recipe's")
    p.add_argument("--data", nargs="+", type=Path, default=[], metavar="DIR|SESSION",
                   help="data set folder(s); image sets are folder-per-class (+ optional manifest.jsonl), "
                        "IMU sets are folders or files of edgeloop-imu-csv v1 (not needed for sine)")
    p.add_argument("--out", required=True, type=Path, help="output folder (created)")
    p.add_argument("--seed", type=int, help="seed of weights, shuffling and splits (default 0)")
    p.add_argument("--name", help="model name (default: the --out folder's name, with - turned into _)")
    p.add_argument("--arch", choices=sorted(IMAGE_PRESETS),
                   help="image CNN preset (bottles/images tasks; default demo)")
    p.add_argument("--input-size", type=int, help="image side in pixels (overrides the preset)")
    p.add_argument("--color", choices=("gray", "rgb"), help="image channels (overrides the preset)")
    p.add_argument("--width", type=int, help="channels of the first conv / hidden units (overrides the preset)")
    p.add_argument("--depth", type=int, help="conv blocks / hidden layers (overrides the preset)")
    p.add_argument("--max-channels", type=int,
                   help="channel cap of the image CNN's deeper convs (overrides the preset's, which scales with --width)")
    p.add_argument("--stem-stride", type=int, choices=(1, 2),
                   help="image CNN: stride of the first conv (default 2)")
    p.add_argument("--pool", choices=list(IMAGE_POOLS),
                   help="image CNN downsampling per block: " + "; ".join(f"{k}: {v}" for k, v in IMAGE_POOLS.items()))
    p.add_argument("--head", choices=list(IMAGE_HEADS),
                   help="image CNN head: " + "; ".join(f"{k}: {v}" for k, v in IMAGE_HEADS.items()))
    p.add_argument("--block", choices=list(IMAGE_BLOCKS),
                   help="image CNN blocks: " + "; ".join(f"{k}: {v}" for k, v in IMAGE_BLOCKS.items()))
    p.add_argument("--conv-channels", metavar="C0,C1,...",
                   help="image CNN: every conv's output channels, stem first (depth + 1 values; e.g. a pruned net); "
                        "overrides --width and --max-channels")
    p.add_argument("--teacher", type=Path, metavar="MODEL",
                   help="knowledge distillation: also learn a trained model's softened probabilities (its .keras file "
                        "or training folder; images: an image teacher of another side or colour reads the images its "
                        "own way; time series: the same window, channels and features or raw windows)")
    p.add_argument("--train-margin", type=float, metavar="M",
                   help="image sets with value bins (bottles): leave training images whose fill level lies within M "
                        "of a boundary between two classes out of training (cleaner labels); validation and test "
                        "keep every image, e.g. 0.04")
    p.add_argument("--prune-keep", type=float, metavar="F",
                   help="after training, keep the fraction F (rounded up) of every hidden layer's neurons/filters "
                        "(time series) or of every conv's filters (image CNN), those of largest L1 norm, and "
                        "fine-tune the narrower net (structured pruning; the pruned net is exported)")
    p.add_argument("--epochs", type=int, help="maximum epochs (early stopping may end sooner)")
    p.add_argument("--window", type=int, help="IMU window in samples (IMU tasks)")
    p.add_argument("--hop", type=int, help="IMU hop in samples (IMU tasks)")
    p.add_argument("--family", choices=list(FAMILIES),
                   help="model family: " + "; ".join(f"{k}: {v}" for k, v in FAMILIES.items()))
    p.add_argument("--features", help="feature set of the feature MLP (time-series tasks), e.g. stats9 or "
                                      "min,max,rms,bands4 (docs/formats.md, 'Feature sets')")
    p.add_argument("--test", nargs="+", type=Path, default=None, metavar="DIR",
                   help="held-out test data; everything in --data is then train (and val, carved from it)")
    p.add_argument("--refit", action="store_true", default=None,
                   help="after choosing on val, retrain the final model from scratch on train + val (for the "
                        "epochs at which its val loss was lowest); the test split is never trained on")
    p.add_argument("--ignore-split", action="store_true", default=None,
                   help="ignore partial split metadata instead of refusing it (a seeded split is made instead)")
    p.add_argument("--decision", metavar="RULE",
                   help="decision rule stored in the model's meta: none, mean:K, vote:K or recording, "
                        "optionally ,threshold=T (uncertain below T) and ,debounce=D (e.g. mean:4,threshold=0.6)")
    p.add_argument("--kernels", choices=("fast", "small"),
                   help="kernel set the model is sized for, as `edgeloop compile --kernels` builds it (default "
                        "fast; small: the reference kernels, less flash, slower); recorded in the recipe")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run, filter_native_logs=True)


def request_from_args(args: argparse.Namespace) -> "TrainRequest":
    """The TrainRequest of a command line: the --recipe file's fields, overridden by options given."""
    from edgeloop.models.decision import DecisionRule
    from edgeloop.models.train.recipes import Recipe, TrainRequest, parse_channels

    recipe = Recipe.read(args.recipe) if args.recipe else None
    task = args.task or (recipe.task if recipe else None)
    if task is None:
        raise InputError("give --task (or --recipe FILE with a task); `edgeloop train --help` lists the tasks")
    base = recipe or Recipe(task=task)
    given = {"task": args.task, "data": list(args.data) or None, "test": args.test, "family": args.family,
             "features": args.features, "arch": args.arch, "input_size": args.input_size, "color": args.color,
             "width": args.width, "depth": args.depth, "max_channels": args.max_channels,
             "stem_stride": args.stem_stride, "pool": args.pool, "head": args.head, "block": args.block,
             "conv_channels": parse_channels(args.conv_channels) if args.conv_channels else None,
             "teacher": str(args.teacher) if args.teacher else None, "train_margin": args.train_margin,
             "prune_keep": args.prune_keep,
             "epochs": args.epochs,
             "window": args.window, "hop": args.hop, "refit": args.refit, "ignore_split": args.ignore_split,
             "seed": args.seed, "kernels": args.kernels,
             "decision": DecisionRule.parse(args.decision).to_json() if args.decision else None}
    return TrainRequest.from_recipe(base, args.out, name=args.name, progress=not args.no_progress, **given)


def run(args: argparse.Namespace) -> int:
    """Train and export; print where the files went and the float/int8 figures."""
    require("tensorflow", needed_for="edgeloop train")  # before the data is read: say what to install first
    from edgeloop.models.train.recipes import train

    request = request_from_args(args)
    created = not args.out.exists()
    with os_errors_explained(f"create the output folder {args.out}"):  # now, not after the training
        args.out.mkdir(parents=True, exist_ok=True)
    try:
        report = train(request)
    except BaseException:
        if created and not any(args.out.iterdir()):
            args.out.rmdir()  # a failed run leaves no empty folder behind
        raise
    name = report["name"]
    fl, q = report["float"], report["int8"]
    for line in report.get("notes", []):
        print(f"note: {line}")
    if "accuracy" in fl:
        print(f"{name}: float accuracy {100 * fl['accuracy']:.2f} %, int8 {100 * q['accuracy']:.2f} % "
              f"({report.get('evaluated_on') or str(q['n']) + ' held-out samples'})")
        if "recording_accuracy" in q:
            print(f"{name}: per recording (int8, {q['recordings']} recordings/cases) "
                  f"{100 * q['recording_accuracy']:.2f} %; flash {report.get('flash_bytes')} B")
        for b in report.get("baselines", []):
            per_recording = "" if b.get("recording_accuracy") is None else \
                f", recording {100 * b['recording_accuracy']:.2f} %"
            print(f"baseline {b['name']}: window {100 * b['window_accuracy']:.2f} %{per_recording}, "
                  f"~{b['size_bytes']} B")
        if report.get("baseline_verdict"):
            print(report["baseline_verdict"])
    else:
        print(f"{name}: float MAE {fl['mae']:.4f}, int8 MAE {q['mae']:.4f} ({q['n']} samples)")
    print(f"wrote {args.out}/{name}.tflite (int8), {name}_float.tflite, {name}.keras, "
          f"{name}.meta.json, REPORT.md" + ("" if report.get("onnx_error") else f", {name}.onnx"))
    if report.get("onnx_error"):
        print(f"no ONNX file: {report['onnx_error']}")
    return 0
