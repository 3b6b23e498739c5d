"""Benchmark of `edgeloop design`: best cross-validated accuracy at flash budgets, per task, in bounded runs.

    python bench/design.py [--tasks imu,bottles] [--minutes 15] [--work DIR] [--json]

Each task runs `edgeloop design` (the CLI, as a user would) with a time limit
into WORK/<task>; re-running with the same --work resumes the studies, so long
runs can be spread over several sittings. Figures are read back from the study
and design.json:

- `best_accuracy_at_flash_window`: budget in bytes -> best cross-validated
  per-window accuracy (train + val pool, grouped folds) among trials at or under it;
- `chosen`: the picked model's CV accuracy, test accuracy per window and per
  recording (int8, untouched test split), flash, RAM, estimated latency;
- `trials`, `rejected_before_training`, `minutes` (wall clock of this sitting).

Tasks: `imu` (synthetic activity set, 20 subjects), `bottles` (synthetic bottle
images generated with --margin 0: whole bins, boundaries included),
`real:<dir>` (any data folder, e.g. a real public set imported by
`edgeloop dataset import`).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

BUDGETS = (2 * 1024, 5 * 1024, 16 * 1024, 32 * 1024)


def _edgeloop(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edgeloop", *args], capture_output=True, text=True)


def _data(task: str, work: Path) -> tuple[Path, list[str]]:
    """The data folder of a task (generated once) and the task's extra design options."""
    if task.startswith("real:"):
        return Path(task[5:]), []
    data = work / "data" / task
    if not data.exists():
        if task == "imu":
            cmd = ["dataset", "synth", "imu", "--task", "activity", "--subjects", "20", "--out", str(data)]
        elif task == "bottles":
            cmd = ["dataset", "synth", "bottles", "--n", "8000", "--size", "96", "--margin", "0", "--out", str(data)]
        else:
            raise SystemExit(f"unknown task {task!r}: imu, bottles or real:<dir>")
        proc = _edgeloop(*cmd, "--no-progress")
        if proc.returncode:
            raise SystemExit(proc.stderr)
    opts = {"imu": ["--flash", "32KB"], "bottles": ["--flash", "48KB", "--max-side", "64", "--folds", "3",
                                                    "--epochs", "25"]}.get(task, [])
    return data, opts


def _study_figures(out: Path) -> dict:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    from edgeloop.models.design.search import best_at_budgets, trial_rows

    study = optuna.load_study(study_name="design", storage=f"sqlite:///{(out / 'study.db').resolve()}")
    rows = trial_rows(study)
    return {"best_accuracy_at_flash_window": {str(k): round(v, 4) for k, v in best_at_budgets(rows, BUDGETS).items()},
            "trials": len([r for r in rows if r["status"] != "running"]),
            "trained": sum(r["status"] == "trained" for r in rows),
            "rejected_before_training": sum(r["status"] == "rejected" for r in rows),
            "stopped_early": sum(r["status"] == "stopped" for r in rows)}


def run_task(task: str, work: Path, minutes: float, finalize: bool) -> dict:
    data, opts = _data(task, work)
    out = work / task.replace(":", "_").replace("/", "_")
    t0 = time.monotonic()
    proc = _edgeloop("design", "--data", str(data), "--out", str(out), "--time", f"{minutes}m", "--seeds", "2",
                     *opts, *([] if finalize else ["--no-finalize"]))
    figures: dict = {"minutes": round((time.monotonic() - t0) / 60, 1), "exit": proc.returncode}
    if proc.returncode not in (0,):
        figures["error"] = (proc.stderr.strip().splitlines() or ["?"])[-1]
    if (out / "study.db").exists():
        figures.update(_study_figures(out))
    design = out / "design.json"
    if finalize and design.exists() and proc.returncode == 0:
        d = json.loads(design.read_text())
        ch = d["chosen"]
        figures["chosen"] = {k: ch.get(k) for k in ("cv_accuracy", "cv_spread", "test_window_accuracy",
                                                     "test_recording_accuracy", "flash_bytes", "ram_bytes",
                                                     "latency_ms_estimate")}
        figures["chosen"]["recipe"] = ch["recipe"]["command"]
        figures["baselines"] = d["baselines"]
    return figures


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", default="imu,bottles", help="comma-separated: imu, bottles, real:<dir>")
    p.add_argument("--minutes", type=float, default=15, help="search time per task in this sitting")
    p.add_argument("--work", type=Path, default=Path("bench-design"), help="work folder (studies resume from it)")
    p.add_argument("--no-finalize", action="store_true", help="search only (no refit/export/report)")
    p.add_argument("--json", action="store_true", help="print one JSON object of the figures last")
    args = p.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    results = {}
    for task in args.tasks.split(","):
        results[task] = run_task(task, args.work, args.minutes, not args.no_finalize)
        print(f"{task}: {json.dumps(results[task])}", file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
