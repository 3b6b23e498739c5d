"""Model zoo and model families: accuracy vs flash, RAM and MACC.

Reads the committed reports (models/zoo/<entry>/report.json for the zoo,
models/zoo/families/<name>/report.json for the size sweep of each model
family) and prints one table: float and int8 accuracy (the int8 figure is
measured on the TFLite Micro oracle over the held-out split), parameters,
MACC, flash (weights + code estimate) and RAM (planned arena) from the
model compiler's analysis, and the int8 .tflite size.

    python bench/models.py [--refresh] [--json]
    python bench/models.py --retrain --bottles DIR --activity DIR [--json]
    python bench/models.py --real [--json]

--real imports each real public set bundled in an installed package
(models/data/public.py; the `test` extra installs sktime) with `edgeloop
dataset import`, trains it with its recipe (public.RECIPES) and keeps report.json
and REPORT.md in models/zoo/real/<name>/; the JSON object then has `real` →
per set: net_window_accuracy, net_recording_accuracy, net_flash_bytes,
net_ram_bytes, train_seconds, best_baseline (name), best_baseline_accuracy
and best_baseline_bytes (per recording), and every baseline's figures.

--retrain re-trains the family sizes on the given data sets (made with
`edgeloop dataset synth`) into models/zoo/families/ before reading them: the
plain bottle CNN at sizes around the zoo's tiny (8→12 channels) and demo
(12→48) presets on --bottles, the IMU dense network at widths 16, 32 and 48
on --activity (either or both). The CNNs take several minutes each on two
cores, the dense networks about a minute each. With --json the last line printed is one JSON object of the figures.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import edgeloop

ZOO = edgeloop.PACKAGE_ROOT / "models" / "zoo"
FAMILIES = ZOO / "families"
# family name -> (preset, stem width, channel cap): the size sweep around the zoo's bottle CNNs
CNN_SIZES = {"cnn_8x16": ("tiny", 8, 16), "cnn_8x32": ("demo", 8, 32), "cnn_8x64": ("demo", 8, 64)}
IMU_WIDTHS = (16, 32, 48)
REAL = ZOO / "real"


def _row(kind: str, path: Path) -> dict[str, Any]:
    rep = json.loads(path.read_text(encoding="utf-8"))
    fl, q = rep["float"], rep["int8"]
    ana = rep.get("analysis") or {}
    row: dict[str, Any] = {
        "kind": kind, "name": rep["name"], "task": rep["task"], "params": rep["params"],
        "macc": ana.get("macc", rep["macc"]), "flash_bytes": ana.get("flash_bytes"), "ram_bytes": ana.get("ram_bytes"),
        "tflite_bytes": rep.get("sizes", {}).get("int8 .tflite bytes"), "test_samples": q["n"],
    }
    if "accuracy" in q:
        row.update(float_accuracy=round(fl["accuracy"], 4), int8_accuracy=round(q["accuracy"], 4))
        for key in ("event_recall", "event_false_alarm"):
            if key in q:
                row[f"int8_{key}"] = round(q[key], 4)
    else:
        row.update(float_mae=round(fl["mae"], 4), int8_mae=round(q["mae"], 4))
    return row


def collect() -> list[dict[str, Any]]:
    """Rows of every committed zoo entry, then every family size."""
    rows = [_row("zoo", p) for p in sorted(ZOO.glob("*/report.json")) if p.parent.name != "families"]
    rows += [_row("family", p) for p in sorted(FAMILIES.glob("*/report.json"))]
    return rows


def retrain(bottles: Path | None, activity: Path | None, seed: int) -> None:
    """Re-train every family size; keep only report.json and REPORT.md of each (the models stay out of git)."""
    from edgeloop.models.train.recipes import TrainRequest, train

    jobs: list[TrainRequest] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, (arch, width, cap) in CNN_SIZES.items() if bottles else ():
            jobs.append(TrainRequest(task="bottles", data=[bottles], out=Path(tmp) / name, seed=seed, name=name,
                                     arch=arch, width=width, max_channels=cap))
        for width in IMU_WIDTHS if activity else ():
            jobs.append(TrainRequest(task="imu-activity", data=[activity], out=Path(tmp) / f"mlp_{width}",
                                     seed=seed, name=f"mlp_{width}", width=width))
        for job in jobs:
            train(job)
            dest = FAMILIES / job.name
            dest.mkdir(parents=True, exist_ok=True)
            for name in ("report.json", "REPORT.md"):
                shutil.copy(job.out / name, dest / name)


def train_real(seed: int) -> None:
    """Import and train every real set (models/data/public.py RECIPES); keep report.json and REPORT.md under
    models/zoo/real/<name>/."""
    from edgeloop.app.cli import main as cli
    from edgeloop.models.data.public import RATES_HZ, RECIPES, bundled_uea

    with tempfile.TemporaryDirectory() as tmp:
        for name, options in RECIPES.items():
            data, out = Path(tmp) / f"{name}-set", Path(tmp) / name
            train_ts, test_ts = bundled_uea(name)
            if cli(["dataset", "import", str(train_ts), str(test_ts), "--rate", str(RATES_HZ[name]),
                    "--out", str(data), "--seed", str(seed)]):
                raise RuntimeError(f"importing {name} failed")
            if cli(["train", "--task", "timeseries", "--data", str(data), "--out", str(out), "--name", name.lower(),
                    "--seed", str(seed), "--no-progress", *options]):
                raise RuntimeError(f"training {name} failed")
            dest = REAL / name
            dest.mkdir(parents=True, exist_ok=True)
            for file in ("report.json", "REPORT.md"):
                shutil.copy(out / file, dest / file)


def real_rows() -> dict[str, dict[str, Any]]:
    """The `real` figures of every committed models/zoo/real/<name>/report.json."""
    rows = {}
    for path in sorted(REAL.glob("*/report.json")):
        rep = json.loads(path.read_text(encoding="utf-8"))
        ana = rep.get("analysis") or {}
        best = max(rep["baselines"], key=lambda b: (b["recording_accuracy"], -b["size_bytes"]))
        rows[path.parent.name] = {
            "net_window_accuracy": round(rep["window_accuracy"], 4),
            "net_recording_accuracy": round(rep["recording_accuracy"], 4), "net_flash_bytes": rep["flash_bytes"],
            "net_ram_bytes": ana.get("ram_bytes"), "train_seconds": rep.get("train_seconds"),
            "family": rep.get("family"), "recordings": rep["int8"].get("recordings"),
            "best_baseline": best["name"], "best_baseline_accuracy": round(best["recording_accuracy"], 4),
            "best_baseline_bytes": best["size_bytes"],
            "baselines": {b["name"]: {"window_accuracy": round(b["window_accuracy"], 4),
                                      "recording_accuracy": round(b["recording_accuracy"], 4),
                                      "size_bytes": b["size_bytes"]} for b in rep["baselines"]},
        }
    return rows


def _fmt(key: str, v: Any) -> str:
    if v is None:
        return "-"
    if key.endswith(("accuracy", "recall", "false_alarm")):
        return f"{100 * v:.2f}%"
    if isinstance(v, float):
        return f"{v:.4f}"
    return str(v)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print the figures as one JSON object, last line")
    ap.add_argument("--retrain", action="store_true", help="re-train the family sizes first")
    ap.add_argument("--bottles", type=Path, help="bottle image set for --retrain")
    ap.add_argument("--activity", type=Path, help="IMU activity recordings for --retrain")
    ap.add_argument("--real", action="store_true", help="import and train the real public sets first (models/data/public.py)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--refresh", action="store_true",
                    help="re-run the compiler analysis (flash/RAM/MACC) of every committed report first")
    args = ap.parse_args(argv)
    if args.refresh:
        from edgeloop.models.report import refresh_analysis

        for path in sorted(ZOO.glob("*/report.json")) + sorted(FAMILIES.glob("*/report.json")):
            if (path.parent / f"{json.loads(path.read_text())['name']}.tflite").exists():
                refresh_analysis(path.parent)
    if args.retrain:
        if not (args.bottles or args.activity):
            ap.error("--retrain needs --bottles DIR and/or --activity DIR (edgeloop dataset synth ...)")
        retrain(args.bottles, args.activity, args.seed)
    if args.real:
        train_real(args.seed)
    rows = collect()
    if not rows:
        print("no reports under models/zoo; train the zoo first (models/zoo/README.md)", file=sys.stderr)
        return 1
    cols = ["kind", "name", "float_accuracy", "int8_accuracy", "int8_mae", "int8_event_recall",
            "int8_event_false_alarm", "params", "macc", "flash_bytes", "ram_bytes", "tflite_bytes"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(_fmt(c, r.get(c)) for c in cols) + " |")
    real = real_rows()
    if real:
        cols = ["net_window_accuracy", "net_recording_accuracy", "net_flash_bytes", "net_ram_bytes",
                "best_baseline", "best_baseline_accuracy", "best_baseline_bytes", "train_seconds"]
        print("\n| real set | " + " | ".join(cols) + " |")
        print("|" + "---|" * (len(cols) + 1))
        for name, r in real.items():
            print(f"| {name} | " + " | ".join(_fmt(c, r.get(c)) for c in cols) + " |")
    if args.json:
        print(json.dumps({"models": rows, "real": real}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
