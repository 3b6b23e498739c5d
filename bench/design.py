"""Benchmark of `edgeloop design`: best cross-validated accuracy at flash budgets, per task, in bounded runs.

    python bench/design.py [--tasks imu,bottles,real:BasicMotions] [--minutes 15] [--work DIR] [--json]
                           [--bottles-images 8000] [--bottles-epochs 25] [--teacher MODEL] [--train-margin M]
                           [--bottles-max-side 64] [--enqueue RECIPE...] [--resume-anyway]

Each task runs `edgeloop design` (the CLI, as a user would) with a time limit
into WORK/<task>; re-running with the same --work resumes the studies, so long
runs can be spread over several sittings. Figures are read back from the study
and design.json:

- `best_accuracy_at_flash_window`: budget in bytes (2 KB, 5 KB, 16 KB, 32 KB)
  -> best cross-validated per-window accuracy (train + val pool, grouped
  folds) among trials at or under it (the search scores windows only);
- `best_family_at_flash`: which family holds each of those bests;
- `chosen`: the picked model's CV accuracy, test accuracy per window and per
  recording (int8, untouched test split), flash, RAM, estimated latency;
- `baselines` (logistic regression, random forest on the same split) and, where
  edgeloop ships one, `zoo`: the zoo preset's int8 test accuracy and flash, with
  `smallest_flash_at_zoo_accuracy_window` (the smallest trained trial whose CV
  accuracy reaches it) and its ratio to the preset's flash;
- `trials`, `rejected_before_training`, `minutes` (wall clock of this sitting).

Tasks: `imu` (synthetic activity set, 20 subjects), `bottles` (synthetic bottle
images generated with --margin 0: whole bins, boundaries included),
`real:NAME` (a real public set bundled in an installed package, e.g.
`real:BasicMotions` from sktime's wheel: the bench imports it itself with
`edgeloop dataset import` into WORK/data; models/data/public.py), or
`real:<dir>` (any data folder already in edgeloop's formats).

Bottle levers (the bottles task only; each is a study of its own, since the
study's fingerprint covers the data, the teacher and the margin):
`--bottles-images N` generates N whole-bin images (WORK/data/bottles-N;
8,000 by default, kept in WORK/data/bottles), `--bottles-epochs`, `--teacher
MODEL` distils every trial from a trained model (e.g. models/zoo/bottles_demo,
read at its own 96-px side) and `--train-margin M` trains on the images at
least M from a class boundary while every score stays whole-bin.
`--bottles-max-side S` lets the search read the images at up to S px (64 by
default, the earlier sittings'; 96 is the generated side): a different side
set changes the search space, so it needs a `--work` of its own.
`--enqueue RECIPE...` runs those recipes first (`edgeloop design --enqueue`).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

BUDGETS = (2 * 1024, 5 * 1024, 16 * 1024, 32 * 1024)
ZOO = Path(__file__).resolve().parent.parent / "models" / "zoo"
ZOO_PRESETS = {"imu": "imu_activity"}  # the zoo model trained on the same kind of data as the task


def _edgeloop(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edgeloop", *args], capture_output=True, text=True)


def _import_bundled(name: str, work: Path) -> Path:
    """Import a real public set that ships inside an installed package (nothing is downloaded) with
    `edgeloop dataset import`, once per work folder (the study remembers the data's fingerprint)."""
    from edgeloop.models.data.public import RATES_HZ, bundled_uea

    data = work / "data" / name
    if not (data / "dataset.json").is_file():
        shutil.rmtree(data, ignore_errors=True)  # an interrupted import: `dataset import` wants an empty folder
        train_ts, test_ts = bundled_uea(name)
        proc = _edgeloop("dataset", "import", str(train_ts), str(test_ts), "--rate", str(RATES_HZ[name]),
                         "--out", str(data))
        if proc.returncode:
            raise SystemExit(f"importing {name} failed: {proc.stderr.strip()}")
    return data


def _data(task: str, work: Path, bottles: argparse.Namespace) -> tuple[Path, list[str]]:
    """The data folder of a task (generated or imported once) and the task's extra design options."""
    if task.startswith("real:"):
        given = Path(task[5:])
        return (given if given.exists() else _import_bundled(task[5:], work)), ["--flash", "32KB"]
    n_bottles = bottles.bottles_images
    data = work / "data" / (task if task != "bottles" or n_bottles == 8000 else f"bottles-{n_bottles}")
    if not data.exists():
        if task == "imu":
            cmd = ["dataset", "synth", "imu", "--task", "activity", "--subjects", "20", "--out", str(data)]
        elif task == "bottles":
            cmd = ["dataset", "synth", "bottles", "--n", str(n_bottles), "--size", "96", "--margin", "0",
                   "--out", str(data)]
        else:
            raise SystemExit(f"unknown task {task!r}: imu, bottles or real:<dir>")
        proc = _edgeloop(*cmd, "--no-progress")
        if proc.returncode:
            raise SystemExit(proc.stderr)
    levers = [*(["--teacher", str(bottles.teacher)] if bottles.teacher else []),
              *(["--train-margin", str(bottles.train_margin)] if bottles.train_margin else [])]
    side = str(bottles.bottles_max_side)
    opts = {"imu": ["--flash", "32KB"], "bottles": ["--flash", "48KB", "--max-side", side, "--folds", "3",
                                                    "--epochs", str(bottles.bottles_epochs), *levers]}.get(task, [])
    return data, opts


def _study_figures(out: Path) -> dict:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    from edgeloop.models.design.search import best_at_budgets, trial_rows

    study = optuna.load_study(study_name="design", storage=f"sqlite:///{(out / 'study.db').resolve()}")
    rows = trial_rows(study)
    best = best_at_budgets(rows, BUDGETS)
    done = [r for r in rows if r["status"] == "trained"]
    holder = {b: next(r["family"] for r in done if r["least_flash_bytes"] <= b and r["cv_accuracy"] == acc)
              for b, acc in best.items()}
    return {"best_accuracy_at_flash_window": {str(k): round(v, 4) for k, v in best.items()},
            "best_family_at_flash": {str(k): v for k, v in holder.items()},
            "trials": len([r for r in rows if r["status"] != "running"]),
            "trained": sum(r["status"] == "trained" for r in rows),
            "rejected_before_training": sum(r["status"] == "rejected" for r in rows),
            "stopped_early": sum(r["status"] == "stopped" for r in rows),
            "trained_by_family": {f: sum(r["family"] == f for r in done) for f in sorted({r["family"] for r in done})}}


def _zoo_comparison(task: str, out: Path) -> dict | None:
    """The task's zoo preset (int8 test accuracy, flash) and the smallest trained trial that reaches its accuracy
    in cross-validation (CV on train + val vs the preset's test split: the same data kind, not the same rows)."""
    if task not in ZOO_PRESETS:
        return None
    import optuna

    from edgeloop.models.design.search import trained, trial_rows

    name = ZOO_PRESETS[task]
    report = json.loads((ZOO / name / "report.json").read_text(encoding="utf-8"))
    acc, flash = report["int8"]["accuracy"], report["analysis"]["flash_bytes"]
    study = optuna.load_study(study_name="design", storage=f"sqlite:///{(out / 'study.db').resolve()}")
    reach = sorted((r for r in trained(trial_rows(study)) if r["cv_accuracy"] >= acc), key=lambda r: r["flash_bytes"])
    row = {"name": name, "test_window_accuracy": round(acc, 4), "flash_bytes": flash}
    if reach:
        r = reach[0]
        row["smallest_flash_at_zoo_accuracy_window"] = {
            "flash_bytes": r["flash_bytes"], "cv_accuracy": round(r["cv_accuracy"], 4), "family": r["family"],
            "params": r["params"], "trial": r["number"], "kernel_set": r.get("kernel_set"),
            "flash_ratio": round(r["flash_bytes"] / flash, 3)}
    return row


def run_task(task: str, work: Path, minutes: float, finalize: bool, bottles: argparse.Namespace) -> dict:
    data, opts = _data(task, work, bottles)
    out = work / task.replace(":", "_").replace("/", "_")
    t0 = time.monotonic()
    given = ["--enqueue", *map(str, bottles.enqueue)] if bottles.enqueue else []
    proc = _edgeloop("design", "--data", str(data), "--out", str(out), "--time", f"{minutes}m", "--seeds", "2",
                     *opts, *given, *([] if finalize else ["--no-finalize"]),
                     *(["--resume-anyway"] if bottles.resume_anyway else []))
    figures: dict = {"minutes": round((time.monotonic() - t0) / 60, 1), "exit": proc.returncode}
    if task == "bottles":  # which levers this study trains with (each combination is a study of its own)
        figures["training"] = {"images": bottles.bottles_images, "epochs": bottles.bottles_epochs,
                               "max_side": bottles.bottles_max_side,
                               "teacher": str(bottles.teacher) if bottles.teacher else None,
                               "train_margin": bottles.train_margin,
                               "enqueued": [p.name for p in bottles.enqueue]}
    if proc.returncode not in (0,):
        figures["error"] = (proc.stderr.strip().splitlines() or ["?"])[-1]
    if (out / "study.db").exists():
        figures.update(_study_figures(out))
        zoo = _zoo_comparison(task, out)
        if zoo:
            figures["zoo"] = zoo
    design = out / "design.json"
    if finalize and design.exists() and proc.returncode == 0:
        d = json.loads(design.read_text())
        ch = d["chosen"]
        figures["chosen"] = {k: ch.get(k) for k in ("cv_accuracy", "cv_spread", "test_window_accuracy",
                                                     "test_recording_accuracy", "flash_bytes", "ram_bytes",
                                                     "latency_ms_estimate", "kernel_set")}
        figures["chosen"]["recipe"] = ch["recipe"]["command"]
        figures["baselines"] = d["baselines"]
    return figures


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", default="imu,bottles,real:BasicMotions",
                   help="comma-separated: imu, bottles, real:NAME (a bundled public set) or real:<dir>")
    p.add_argument("--minutes", type=float, default=15, help="search time per task in this sitting")
    p.add_argument("--work", type=Path, default=Path("bench-design"), help="work folder (studies resume from it)")
    p.add_argument("--no-finalize", action="store_true", help="search only (no refit/export/report)")
    p.add_argument("--json", action="store_true", help="print one JSON object of the figures last")
    p.add_argument("--bottles-images", type=int, default=8000, help="bottles: whole-bin images generated")
    p.add_argument("--bottles-epochs", type=int, default=25, help="bottles: maximum epochs per fold")
    p.add_argument("--bottles-max-side", type=int, default=64, choices=(16, 24, 32, 48, 64, 96),
                   help="bottles: largest image side searched (a study of its own: it changes the space)")
    p.add_argument("--teacher", type=Path, help="bottles: distil every trial from this trained model")
    p.add_argument("--enqueue", nargs="+", type=Path, default=[], metavar="RECIPE",
                   help="recipe files to run first in every task's study (`edgeloop design --enqueue`), e.g. the "
                        "recipes that did well on one split")
    p.add_argument("--train-margin", type=float, default=0.0,
                   help="bottles: train on images at least this far from a class boundary (scores stay whole-bin)")
    p.add_argument("--resume-anyway", action="store_true",
                   help="resume a study whose data fingerprint changed (`edgeloop design --resume-anyway`), e.g. one "
                        "fingerprinted before the teacher counted by its .keras file alone")
    args = p.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    results = {}
    for task in args.tasks.split(","):
        results[task] = run_task(task, args.work, args.minutes, not args.no_finalize, args)
        print(f"{task}: {json.dumps(results[task])}", file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
