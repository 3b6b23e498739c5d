"""`edgeloop dataset synth bottles|imu`: write synthetic training sets (no downloads, seeded)."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `dataset` subcommand with its `synth` action."""
    p = subparsers.add_parser("dataset", help="make synthetic data sets (IV bottle images, IMU recordings)",
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
