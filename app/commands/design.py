"""`edgeloop design`: search for the smallest model that does the job under flash, RAM and latency budgets.

One process runs the search loop (trials are sized by the compiler before
training; over-budget ones are rejected untrained) and then, if it is the
finalizing process, the finalists' repeated seeds, the pick, the refit with
`edgeloop train`, the test, the C export with bit-exact validation on the host
board, design.json and report.html.

Which process finalizes: with the default SQLite study every run finalizes
after its search; with a shared --storage URL workers only search, and one
run with --finalize (e.g. `--finalize --trials 0` once the workers are done)
finalizes.
"""

from __future__ import annotations

import argparse
import errno
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

from edgeloop import InputError, ResourceError

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|min)?\s*$")


def parse_duration(text: str) -> float:
    """'30m' -> 1800 seconds ('s', 'm'/'min', 'h'; a bare number is seconds)."""
    m = _DURATION_RE.match(text)
    if not m:
        raise argparse.ArgumentTypeError(f"cannot read duration {text!r}: write e.g. 90s, 30m or 2h")
    return float(m.group(1)) * {"s": 1, None: 1, "m": 60, "min": 60, "h": 3600}[m.group(2)]


def _size(text: str) -> int:
    from edgeloop.models.design.budgets import parse_size

    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `design` subcommand."""
    p = subparsers.add_parser(
        "design", help="automatic tiny-model design under flash, RAM and latency budgets (resumable, distributed)",
        description="Search model families and sizes for the smallest model within --tolerance points of the best "
                    "cross-validated accuracy that fits the budgets; every candidate is compiled (untrained) to get "
                    "its exact flash and RAM before any training. Writes design.json, report.html and the chosen "
                    "model (exported like `edgeloop train`, compiled to C, validated on the host board) into --out. "
                    "Re-running the same command resumes the study.")
    p.add_argument("--data", nargs="+", type=Path, default=[], metavar="DIR", help="data set folder(s)")
    p.add_argument("--out", type=Path, help="output folder: study.db (default storage), design.json, report.html")
    p.add_argument("--task", help="training task (default: detected from the data)")
    p.add_argument("--board", help="take flash/RAM budgets and the clock from this board (see --list-boards)")
    p.add_argument("--list-boards", action="store_true", help="show the board presets with measured budgets")
    p.add_argument("--flash", type=_size, help="flash the model may use, e.g. 16KB (overrides --board)")
    p.add_argument("--ram", type=_size, help="RAM the model may use, e.g. 8KB (overrides --board)")
    p.add_argument("--latency-ms", type=float, help="latency limit (estimate from emulated instructions)")
    p.add_argument("--clock-mhz", type=float, help="clock for latency (default: the board's, else 400)")
    p.add_argument("--deploy-to", choices=("flash", "ram"), default="flash",
                   help="where the weights live: compiled into flash (default) or uploaded into a RAM slot")
    p.add_argument("--trials", type=int, help="stop after this many finished trials in the study (all workers)")
    p.add_argument("--time", type=parse_duration, help="stop starting trials after this long, e.g. 30m")
    p.add_argument("--storage", help="Optuna RDB URL shared by workers, e.g. postgresql://u:pw@host/db "
                                     "(default: SQLite in --out)")
    p.add_argument("--study", default="design", help="study name (default design)")
    p.add_argument("--resume-anyway", action="store_true", help="add trials to a study that was run on other data")
    p.add_argument("--status", action="store_true", help="show the study's progress and exit")
    p.add_argument("--finalize", action=argparse.BooleanOptionalAction, default=None,
                   help="pick, refit, export and report after searching (default: yes with SQLite, no with --storage)")
    p.add_argument("--tolerance", type=float, default=1.0, help="accuracy points the chosen model may trail the best")
    p.add_argument("--folds", type=int, default=4, help="cross-validation folds (grouped by recording/subject)")
    p.add_argument("--epochs", type=int, default=40, help="maximum epochs per fold (early stopping ends sooner)")
    p.add_argument("--seeds", type=int, default=3, help="seeds per finalist (mean ± spread)")
    p.add_argument("--finalists", type=int, default=3, help="how many finalists get repeated seeds")
    p.add_argument("--families", help="comma-separated model families to search (default: every family of the data "
                                      "kind; time series: feature_mlp,cnn1d,dense_raw; images: image_cnn,dense_pixels)")
    p.add_argument("--max-width", type=int, default=64, help="largest first-layer width searched")
    p.add_argument("--max-side", type=int, default=96, help="largest image side searched")
    p.add_argument("--seed", type=int, default=0, help="sampler and training seed")
    p.add_argument("--heartbeat", type=int, default=10, help="seconds between a worker's heartbeats")
    p.add_argument("--grace", type=int, default=30,
                   help="seconds without a heartbeat after which a trial counts as failed")
    p.add_argument("--distill", action=argparse.BooleanOptionalAction, default=True,
                   help="measure knowledge distillation from a larger candidate into the chosen one (default yes)")
    p.add_argument("--teacher", type=Path, metavar="MODEL",
                   help="image sets: distil every candidate from this trained model (.keras or its training folder, "
                        "e.g. models/zoo/bottles_demo); it reads the images at its own side and colour; replaces "
                        "--distill's search-internal teacher")
    p.add_argument("--train-margin", type=float, default=0.0, metavar="M",
                   help="image sets with value bins (bottles): leave training rows whose fill level lies within M of "
                        "a class boundary out of every fold's training (cleaner labels); the held-out folds, "
                        "validation and test keep every image, e.g. 0.04")
    p.add_argument("--enqueue", nargs="+", type=Path, default=[], metavar="RECIPE",
                   help="recipe files (NAME.recipe.json of `edgeloop train`, or a design's chosen recipe) to run as "
                        "the study's first trials, e.g. an earlier study's best when a new teacher or data set "
                        "starts a new one; only the model is taken, every trial trains with this run's options")
    p.add_argument("--prune", action=argparse.BooleanOptionalAction, default=True,
                   help="measure structured pruning (image CNN filters; time-series neurons/filters) of the chosen model "
                        "across the CV folds and export the pruned model where it pays (default yes)")
    p.add_argument("--no-validate", action="store_true", help="skip the host-board validation of the chosen model")
    p.add_argument("--calibrate-latency", nargs="*", choices=("fast", "small"), metavar="SET",
                   help="re-measure the latency cost model of kernel sets SET (fast, small; default both) under "
                   "QEMU and exit (needs qemu-system-arm)")
    p.set_defaults(func=run, filter_native_logs=True)


def run(args: argparse.Namespace) -> int:
    if args.list_boards:
        return _list_boards()
    if args.calibrate_latency is not None:
        return _calibrate(tuple(args.calibrate_latency) or ("fast", "small"))
    if not args.data or args.out is None:
        raise InputError("edgeloop design needs --data DIR... and --out DIR (or --list-boards)")
    for opt in ("trials", "folds", "epochs", "seeds", "finalists"):
        v = getattr(args, opt)
        if v is not None and v < (0 if opt == "trials" else 1):
            raise InputError(f"--{opt} must be {'≥ 0' if opt == 'trials' else '≥ 1'}, got {v}")
    return _design(args)


def _recipe_candidates(paths: list[Path], kind: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(name, family, params) of each --enqueue recipe file (one-line errors for a bad file or recipe)."""
    from edgeloop.models.design.adapter import recipe_candidate
    from edgeloop.models.train.recipes import Recipe

    return [(path.name, *recipe_candidate(Recipe.read(path), kind, source=str(path))) for path in paths]


def _list_boards() -> int:
    from edgeloop.app.commands._design_target import board_presets, measure_board
    from edgeloop.models.design.budgets import fmt_bytes

    for name, preset in board_presets().items():
        spec = measure_board(name)
        print(f"{name:18s} {preset.description}: {spec.clock_hz / 1e6:g} MHz, flash {fmt_bytes(spec.flash_free)} "
              f"free of {fmt_bytes(spec.flash_total)}, RAM {fmt_bytes(spec.ram_free)} free of "
              f"{fmt_bytes(spec.ram_total)} (firmware without a model: {fmt_bytes(spec.firmware_flash)} flash, "
              f"{fmt_bytes(spec.firmware_ram)} RAM, measured from {spec.firmware_image})")
    return 0


def _calibrate(kernel_sets: tuple[str, ...]) -> int:
    """Measure the calibration nets under QEMU with each kernel set (whole and per step), fit its cost model on
    the fit nets' steps, check it on the held-out nets, write its file."""
    import tempfile

    from edgeloop.app.commands._design_target import qemu_timing
    from edgeloop.models.design import latency
    from edgeloop.models.design.deploy import quiet_stderr

    nets = {}
    with quiet_stderr():
        for group in ("fit", "held_out"):
            nets[group] = latency.calibration_tflites(group)
    for kernel_set in dict.fromkeys(kernel_sets):
        steps: list[tuple[str, dict[str, float], float]] = []
        held_out = []
        with tempfile.TemporaryDirectory(prefix="edgeloop-calibrate-") as tmp:
            for group in ("fit", "held_out"):
                for name, tfl in nets[group].items():
                    timing = qemu_timing(tfl, Path(tmp) / name, kernels=kernel_set)
                    rows = latency.graph_rows(timing.graph, kernel_set)
                    if group == "fit":
                        steps += [(cls, terms, m) for (cls, terms), m in zip(rows, timing.step_instructions)]
                    else:
                        held_out.append((name, rows, timing.instructions))
                    print(f"{kernel_set:5s} {group:8s} {name:22s} {timing.instructions:>10,} emulated instructions, "
                          f"{len(rows)} steps", flush=True)
        model = latency.CostModel(latency.fit_cost_model(steps), kernels_hash=latency.kernel_sources_hash(),
                                  source=latency.SOURCES[kernel_set], kernel_set=kernel_set)
        model.held_out = [{"name": n, "measured": m, "estimate": model.instructions_of_rows(rows)}
                          for n, rows, m in held_out]
        path = model.save()
        err = model.held_out_error
        print(f"wrote {path} ({kernel_set} kernels, {len(model.coefficients)} cost classes from {len(steps)} "
              f"steps): held-out error mean {100 * err['mean']:.1f} %, max {100 * err['max']:.1f} % over "
              f"{err['models']} models", flush=True)
    return 0


class _StopRequest:
    """First Ctrl-C/SIGTERM: finish the running trial, then stop. Second: abandon it (marked failed)."""

    def __init__(self) -> None:
        self.requested = False
        # fd 2 may be silenced while the converter runs (deploy.quiet_stderr): keep our own copy of it
        self._stderr = os.dup(2)

    def __call__(self, signum: int) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        os.write(self._stderr, b"\nedgeloop design: stopping after the running trial "
                               b"(press Ctrl-C again to abandon it)\n")

    def close(self) -> None:
        os.close(self._stderr)


def _design(args: argparse.Namespace) -> int:
    import edgeloop

    optuna = edgeloop.require("optuna", needed_for="edgeloop design")
    edgeloop.require("sklearn", needed_for="edgeloop design's cross-validation")

    from edgeloop.app.live.stop_signals import on_stop_signals
    from edgeloop.models.design import adapter
    from edgeloop.models.design.budgets import Budget
    from edgeloop.models.design.deploy import Sizer
    from edgeloop.models.design.latency import load_cost_models
    from edgeloop.models.design.search import (
        Objective, SearchConfig, enqueue_presets, enqueue_recipes, make_sampler, progress_line, trial_rows,
    )
    from edgeloop.models.design.space import SpaceContext
    from edgeloop.models.design.study import (
        StudyIdentity, open_storage, open_study, storage_url,
    )

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    td = adapter.load_task(list(args.data), args.task, seed=args.seed, teacher=args.teacher,
                           train_margin=args.train_margin)
    wanted = _recipe_candidates(args.enqueue, td.kind)  # a bad recipe file stops here, before the study opens
    if td.teacher is not None:  # every candidate already learns from the given teacher
        args.distill = False
    identity = StudyIdentity(td.task, td.fingerprint, tuple(td.labels))
    args.out.mkdir(parents=True, exist_ok=True)
    url = storage_url(args.storage, args.out)
    storage = open_storage(url, args.heartbeat, args.grace)
    study = open_study(storage, args.study, identity, sampler=make_sampler(args.seed),
                       resume_anyway=args.resume_anyway, create=not args.status)
    if args.status:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)  # a dead worker's trial shows as failed, not running
        import datetime

        starts = [t.datetime_start for t in study.get_trials(deepcopy=False) if t.datetime_start]
        span = (datetime.datetime.now() - min(starts)).total_seconds() if starts else 0.0
        print(f"study {args.study!r} ({td.task}, data {td.fingerprint}): "
              f"{progress_line(trial_rows(study), time.monotonic() - span, None, None)} since the first trial")
        running = [r for r in trial_rows(study) if r["status"] == "running"]
        for r in running:
            print(f"  trial {r['number']} running on {r['worker']}")
        return 0
    spec = None
    if args.board:
        from edgeloop.app.commands._design_target import board_presets, measure_board

        if args.board not in board_presets():
            raise InputError(f"unknown board {args.board!r}; see `edgeloop design --list-boards` "
                             f"({', '.join(board_presets())})")
        spec = measure_board(args.board)
    budget = Budget.from_board(spec, flash=args.flash, ram=args.ram, latency_ms=args.latency_ms,
                               deploy_to=args.deploy_to,
                               clock_hz=int(args.clock_mhz * 1e6) if args.clock_mhz else None)
    costs = load_cost_models()
    sizer = Sizer(td, budget, costs)
    families = _families(args.families, adapter.FAMILIES_BY_KIND[td.kind], td.kind)
    ctx = SpaceContext(td.kind, td.rate_hz, args.max_width, args.max_side, n_channels=td.n_channels)
    families = _check_possible(sizer, families, ctx, budget)
    cfg = SearchConfig(folds=args.folds, epochs=args.epochs, seed=args.seed, tolerance=args.tolerance,
                       families=families, ctx=ctx)
    print(f"design {td.task} on {', '.join(map(str, td.data))}: {budget.describe()}; "
          f"families {', '.join(families)}; study {args.study!r} at {url.split('@')[-1]}", flush=True)
    print("kernel set per candidate: the smallest (small: reference kernels, fast: optimized) whose latency estimate "
          + ("meets --latency-ms" if budget.latency_ms else "keeps real time (one hop of a window; one frame at 30 "
             "frames/s for images)"), flush=True)
    stale = [k for k, c in costs.items() if c.stale]
    if stale:
        print(f"note: the latency calibration of the {' and '.join(stale)} kernel set predates the current kernels; "
              f"re-run --calibrate-latency {' '.join(stale)}", file=sys.stderr)
    fresh = not study.get_trials(deepcopy=False)
    if args.enqueue:
        given, left_out = enqueue_recipes(study, wanted, sizer, cfg)
        if given:
            print(f"first trials: the given recipes ({', '.join(given)})", flush=True)
        for why in left_out:
            print(f"note: --enqueue {why}: not queued", flush=True)
    seeded = enqueue_presets(study, td, sizer, cfg, fresh=fresh)
    if seeded:
        print(f"first trials: the presets that fit ({', '.join(seeded)})", flush=True)
    started = time.monotonic()
    deadline = started + args.time if args.time else None
    stop = _StopRequest()
    finished_states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)

    already = len(study.get_trials(deepcopy=False, states=finished_states))

    def after_trial(study: Any, trial: Any) -> None:
        print(f"trial {trial.number}: {_trial_summary(trial)}", flush=True)
        print("  " + progress_line(trial_rows(study), started, args.trials, args.time, already), flush=True)
        done = len(study.get_trials(deepcopy=False, states=finished_states))
        if stop.requested or (args.trials is not None and done >= args.trials):
            study.stop()

    if args.trials is not None and already >= args.trials:
        stop.close()
    if args.trials is None or already < args.trials:
        try:
            with on_stop_signals(stop):
                study.optimize(Objective(td, sizer, cfg, study, deadline), timeout=args.time,
                               callbacks=[after_trial], catch=(), gc_after_trial=True)
        except KeyboardInterrupt:
            print("edgeloop design: interrupted; the abandoned trial is marked failed, finished trials are kept. "
                  "Run the same command to resume.", file=sys.stderr)
            return 130
        except Exception as exc:  # storage trouble surfaces as SQLAlchemy or OS errors
            _storage_failure(exc, url)
            raise
        finally:
            stop.close()
    if stop.requested:
        print("edgeloop design: stopped between trials; every finished trial is in the study. Run the same "
              "command to resume.", file=sys.stderr)
        return 130
    rows = trial_rows(study)
    if not any(r["status"] == "trained" for r in rows):
        raise InputError(_why_nothing_trained(rows, args.time, started))
    if args.finalize is None:
        args.finalize = args.storage is None
    if not args.finalize:
        print("search done; this worker does not finalize (run one process with --finalize)")
        return 0
    from edgeloop.app.commands._design_finish import finalize

    finalize(td, study, rows, cfg, budget, costs, args)
    return 0


def _families(given: str | None, offered: tuple[str, ...], kind: str) -> tuple[str, ...]:
    """The families to search: --families (checked against what the data kind offers) or all of them."""
    if not given:
        return offered
    names = tuple(dict.fromkeys(f.strip() for f in given.split(",") if f.strip()))
    unknown = [f for f in names if f not in offered]
    if unknown or not names:
        what = "time-series" if kind == "imu" else kind
        raise InputError(f"--families {given!r}: {', '.join(unknown) or 'no family'} not searchable on {what} data; "
                         f"choose from {', '.join(offered)}")
    return tuple(f for f in offered if f in names)  # one order, whatever order they were given in


def _trial_summary(trial: Any) -> str:
    a = trial.user_attrs
    dep = a.get("deploy", {})
    size = (f"{dep.get('flash_bytes', 0):,} B flash, {dep.get('ram_bytes', 0):,} B RAM, "
            f"{dep.get('kernel_set', 'fast')} kernels" if dep else "")
    if a.get("status") == "trained":
        return f"{a.get('family')} {a.get('params')} {size}: CV {100 * trial.values[0]:.2f} %"
    return f"{a.get('status', trial.state.name.lower())} {a.get('family', '')} {size} {a.get('reason', '')}"


def _check_possible(sizer: Any, families: tuple[str, ...], ctx: Any, budget: Any) -> tuple[str, ...]:
    """The families whose smallest candidate meets the budget (no other candidate of the others can: trials
    are not spent on them); refuse a budget none meets, naming the limit to relax."""
    from edgeloop.models.design.budgets import fmt_bytes
    from edgeloop.models.design.space import smallest_candidates

    def smallest_of(family: str) -> Any:
        sized = [sizer.check(family, params) for params in smallest_candidates(family, ctx)]
        return min(sized, key=lambda dep: (not dep.fits, dep.flash_bytes, dep.ram_bytes))

    smallest = [(family, smallest_of(family)) for family in families]
    fitting = tuple(family for family, dep in smallest if dep.fits)
    for family, dep in smallest:
        if not dep.fits:
            print(f"note: no {family} candidate fits ({budget.describe()}): its smallest needs "
                  f"{fmt_bytes(dep.flash_bytes)} flash, {fmt_bytes(dep.ram_bytes)} RAM; not searched", flush=True)
    if fitting:
        return fitting
    family, dep = min(smallest, key=lambda fd: fd[1].flash_bytes)
    relax = []
    if "flash" in dep.violations:
        relax.append(f"--flash to at least {fmt_bytes(dep.flash_bytes)}")
    if "ram" in dep.violations:
        relax.append(f"--ram to at least {fmt_bytes(dep.ram_bytes)}")
    if "latency" in dep.violations:
        relax.append(f"--latency-ms to at least {dep.latency_ms_estimate:.3g}")
    raise InputError(f"impossible budget ({budget.describe()}): the smallest candidate ({family}) needs "
                     f"{fmt_bytes(dep.flash_bytes)} flash, {fmt_bytes(dep.ram_bytes)} RAM, "
                     f"{dep.latency_ms_estimate:.3g} ms; relax {' and '.join(relax)}")


def _why_nothing_trained(rows: list[dict[str, Any]], time_limit: float | None, started: float) -> str:
    from edgeloop.models.design.search import _dur

    rejected = sum(r["status"] == "rejected" for r in rows)
    stopped = sum(r["status"] in ("stopped", "failed") for r in rows)
    timed_out = [r for r in rows if r["reason"].startswith("time ran out")]
    if timed_out:
        r = timed_out[0]
        return (f"no trial finished in the time given ({_dur(time_limit or 0)}): trial {r['number']} needed "
                f"{r['seconds']:.0f} s for {r['folds']} of its cross-validation folds before time ran out "
                f"({rejected} other trial(s) were over budget); give more --time, fewer --folds or --epochs")
    if not rows:
        return (f"no trial finished in the time given ({_dur(time_limit or 0)}): the first trial was still "
                "training when time ran out; give more --time (a trial cross-validates a model --folds times)")
    if rejected == len(rows):
        return (f"all {rejected} trials were over budget and rejected before training; relax --flash/--ram/"
                "--latency-ms or run more --trials")
    return (f"no trial finished training ({rejected} rejected over budget, {stopped} stopped or failed); "
            "give more --time or --trials")


def _storage_failure(exc: BaseException, url: str) -> None:
    """Turn a full disk or a lost database into one line (the study's finished trials are safe).

    Optuna wraps the driver's error (StorageInternalError from SQLAlchemy's
    OperationalError), so the whole cause chain is searched.
    """
    import sqlalchemy.exc

    chain: list[BaseException] = []
    e: BaseException | None = exc
    while e is not None and e not in chain:
        chain.append(e)
        e = e.__cause__ or e.__context__
    for e in chain:
        text = str(getattr(e, "orig", None) or e).strip()
        first = text.splitlines()[0] if text else type(e).__name__
        if (isinstance(e, OSError) and e.errno == errno.ENOSPC) or "disk is full" in text \
                or "No space left" in text:
            raise ResourceError(f"the disk is full ({first}); the study keeps every finished trial: free space and "
                             "run the same command to resume") from None
    for e in chain:
        if isinstance(e, sqlalchemy.exc.OperationalError):
            first = str(e.orig or e).strip().splitlines()[0]
            raise ResourceError(f"lost the study database at {url.split('@')[-1]} ({first}); finished trials are "
                             "kept: run the same command again when it is reachable") from None
