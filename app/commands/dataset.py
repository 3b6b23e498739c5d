"""`edgeloop dataset synth bottles|imu` (seeded synthetic sets) and `edgeloop dataset import` (your own data)."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `dataset` subcommand with its `synth` action."""
    p = subparsers.add_parser("dataset", help="make synthetic data sets or import your own data",
                              description="Make data sets for `edgeloop train`. Formats: docs/formats.md; "
                                          "what the generators draw: docs/datasets.md.")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    synth = actions.add_parser("synth", help="generate a synthetic data set",
                               description="Generate a seeded synthetic data set into an empty folder.")
    kinds = synth.add_subparsers(dest="kind", metavar="KIND", required=True)

    b = kinds.add_parser("bottles", help="IV bottle/bag images at known fill levels (folder-per-class PNG)",
                         description="Procedural webcam-like images of saline bottles and bags, binned into "
                                     "no_bottle, empty, low, half, full; 70/10/20 %% train/val/test, where the "
                                     "test split shows only container shapes and backgrounds unseen in training.")
    b.add_argument("--n", type=int, required=True, help="number of images in all splits")
    b.add_argument("--out", type=Path, required=True, help="output folder (new or empty)")
    b.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    b.add_argument("--size", type=int, default=96, help="image side in pixels (default 96)")
    b.add_argument("--margin", type=float, default=None,
                   help="keep fill levels at least this far from a boundary between two fill classes "
                        "(default 0.04: a frame on a boundary has no right label; 0 draws whole bins)")
    b.add_argument("--no-progress", action="store_true", help="no progress bar")
    b.set_defaults(func=_run_bottles)

    i = kinds.add_parser("imu", help="6-axis IMU recordings (edgeloop-imu-csv v1), one file per subject",
                         description="Synthetic accelerometer (g) + gyroscope (dps) recordings: activities at "
                                     "100 Hz, or falls and daily activities (with hard negatives) at 200 Hz. "
                                     "Subjects are split train/val/test, so test subjects are never seen in training.")
    i.add_argument("--task", choices=("activity", "fall"), required=True, help="which recordings")
    i.add_argument("--out", type=Path, required=True, help="output folder (new or empty)")
    i.add_argument("--subjects", type=int, default=20, help="number of subjects (default 20)")
    i.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    i.add_argument("--no-progress", action="store_true", help="no progress bar")
    i.set_defaults(func=_run_imu)

    imp = actions.add_parser(
        "import", help="import your own data (CSV, Edge Impulse CSV, wide tables, .npz, UEA/UCR .ts, image folders)",
        description="Read time series or images in common shapes and write edgeloop's canonical formats into an "
                    "empty folder: edgeloop-recording v2 files (one per case) under train/, val/, test/ with "
                    "dataset.json, or an edgeloop-image-set v1. Prints everything it inferred. Sources are only "
                    "read, never modified. Splits come from folder names (train/ val/ test/), a split column, "
                    "*_TRAIN/*_TEST file names or --test; a missing val (and test) split is carved from train by "
                    "whole recordings/subjects, stratified. Walk-through: docs/byod.md.")
    imp.add_argument("sources", nargs="+", type=Path, metavar="SRC", help="files or folders to import")
    imp.add_argument("--out", type=Path, required=True, help="output folder (new or empty)")
    imp.add_argument("--test", nargs="+", type=Path, default=[], metavar="SRC", help="held-out test files or folders")
    imp.add_argument("--format", dest="fmt", default="auto", metavar="FORMAT",
                     help="source format: auto (default: by suffix and contents), csv, edge-impulse, wide, npz, ts "
                          "or images")
    imp.add_argument("--label-column", help="column holding the class (default: label, class, activity, target, ...)")
    imp.add_argument("--label", help="one label for every sample (e.g. a file per class without a label column)")
    imp.add_argument("--time-column", help="timestamp column (default: t, time, timestamp, ...)")
    imp.add_argument("--time-unit", default="auto", choices=("auto", "s", "ms", "us", "iso"),
                     help="unit of the timestamp column (default auto)")
    imp.add_argument("--case-column", help="column telling labelled cases apart (default: case, trial, ...)")
    imp.add_argument("--subject-column", help="column naming the subject (default: subject, user, ...)")
    imp.add_argument("--split-column", help="column naming the split train/val/test (default: split)")
    imp.add_argument("--rate", type=float, help="sample rate in Hz (needed when the files hold no timestamps)")
    imp.add_argument("--resample", type=float, metavar="HZ", help="resample every recording to HZ (files of "
                                                                  "different rates are refused otherwise)")
    imp.add_argument("--delimiter", help="field delimiter (default: detected among , ; tab |)")
    imp.add_argument("--encoding", help="text encoding (default UTF-8, or UTF-16 with a BOM)")
    imp.add_argument("--label-order", type=Path, metavar="FILE",
                     help="labels in model output order, one per line (images: labels.txt in SRC is used too; "
                          "default: natural sort, '2' before '10')")
    imp.add_argument("--ignore-split", action="store_true",
                     help="ignore every split the data gives and make a seeded one (instead of refusing partial "
                          "split metadata)")
    imp.add_argument("--seed", type=int, default=0, help="seed of the carved splits (default 0)")
    imp.set_defaults(func=_run_import)


def _run_import(args: argparse.Namespace) -> int:
    from edgeloop.models.data.ingest import ImportRequest, ReadOptions, describe, import_dataset

    read = ReadOptions(label_column=args.label_column, time_column=args.time_column, case_column=args.case_column,
                       subject_column=args.subject_column, split_column=args.split_column, delimiter=args.delimiter,
                       encoding=args.encoding, time_unit=args.time_unit, rate=args.rate, label=args.label,
                       fmt=args.fmt)
    summary = import_dataset(ImportRequest(list(args.sources), args.out, test=list(args.test), seed=args.seed,
                                           ignore_split=args.ignore_split, resample=args.resample,
                                           label_order=args.label_order, read=read))
    for line in summary["notes"]:
        print(f"inferred: {line}")
    for line in describe(summary):
        print(line)
    print(f"wrote {args.out} ({summary.get('format', 'edgeloop-image-set v1')}); train with "
          f"`edgeloop train --task {'images' if summary['kind'] == 'images' else 'timeseries'} --data {args.out} ...`")
    return 0


def _run_bottles(args: argparse.Namespace) -> int:
    from edgeloop.models.data.bottles import LABEL_MARGIN, generate_bottle_set

    margin = LABEL_MARGIN if args.margin is None else args.margin
    counts = generate_bottle_set(args.out, args.n, seed=args.seed, size=args.size, progress=not args.no_progress,
                                 margin=margin)
    print(f"wrote {sum(counts.values())} images to {args.out} "
          f"({', '.join(f'{k} {v}' for k, v in counts.items())}) with manifest.jsonl")
    return 0


def _run_imu(args: argparse.Namespace) -> int:
    from edgeloop.models.data.imu import generate_imu_set

    counts = generate_imu_set(args.out, args.task, subjects=args.subjects, seed=args.seed,
                              progress=not args.no_progress)
    print(f"wrote {sum(counts.values())} {args.task} recordings to {args.out} "
          f"({', '.join(f'{k} {v}' for k, v in counts.items())}) with manifest.jsonl")
    return 0
