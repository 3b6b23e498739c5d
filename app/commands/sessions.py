"""`edgeloop sessions list|show|merge`: inspect recorded sessions and merge them into a training set."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from edgeloop import InputError, os_errors_explained


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `sessions` subcommand with its list, show and merge actions."""
    p = subparsers.add_parser(
        "sessions", help="list, show and merge recorded sessions",
        description="Inspect sessions written by `edgeloop record` (or the GUI) and merge them into a "
                    "training set for `edgeloop train --data`. See docs/workflow.md.")
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    ls = sub.add_parser("list", help="one line per session: kind, samples, labels, duration, source, status")
    ls.add_argument("paths", nargs="*", type=Path, default=[Path("sessions")],
                    help="session folders, or folders searched for sessions (default: ./sessions)")
    ls.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    ls.set_defaults(func=run_list)
    show = sub.add_parser("show", help="details of one session: counts per label, duration, source, board")
    show.add_argument("path", type=Path, help="the session folder")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(func=run_show)
    merge = sub.add_parser("merge", help="merge sessions into one training set (image set or IMU CSVs)")
    merge.add_argument("paths", nargs="+", type=Path, help="session folders, or folders holding sessions")
    merge.add_argument("--out", required=True, type=Path, help="new data set folder")
    merge.add_argument("--labels", metavar="A,B,C", help="keep only these labels, in this order")
    merge.add_argument("--rename", action="append", default=[], metavar="OLD=NEW",
                       help="rename a label while merging (repeatable; two labels renamed alike merge)")
    merge.set_defaults(func=run_merge)


def _fmt_duration(seconds: float) -> str:
    minutes, secs = divmod(seconds, 60)
    return f"{int(minutes)}:{secs:04.1f}" if minutes else f"{secs:.1f} s"


def run_list(args: argparse.Namespace) -> int:
    """Print one line per session found."""
    from edgeloop.app.sessions.library import SessionError, find_sessions, load_session

    rows = []
    for path in find_sessions(args.paths):
        try:
            rows.append(load_session(path).summary())
        except (SessionError, OSError) as exc:
            rows.append({"path": str(path), "name": path.name, "error": str(exc)})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print(f"no sessions under {', '.join(map(str, args.paths))}")
        return 0
    print(f"{'session':<24} {'kind':<5} {'samples':>8} {'duration':>9}  {'status':<11} {'source':<24} labels")
    for r in rows:
        if "error" in r:
            print(f"{r['name']:<24} unreadable: {r['error']}")
            continue
        counts = " ".join(f"{k}:{v}" for k, v in r["counts"].items())
        print(f"{r['name'][:24]:<24} {r['kind']:<5} {r['samples']:>8} {_fmt_duration(r['duration_s']):>9}  "
              f"{r['status']:<11} {r['source'][:24]:<24} {counts}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    """Print one session's details."""
    from edgeloop.app.sessions.library import load_session

    s = load_session(args.path).summary()
    if args.json:
        print(json.dumps(s, indent=2))
        return 0
    unit = "images" if s["kind"] == "image" else "IMU samples"
    print(f"session   {s['path']}")
    print(f"kind      {s['kind']}" + (f" at {s['rate_hz']:g} Hz" if "rate_hz" in s else ""))
    print(f"status    {s['status']}" + (" (the recorder did not close it; every finished sample is kept)"
                                        if s["status"] == "interrupted" else ""))
    print(f"started   {s['started']}")
    print(f"duration  {_fmt_duration(s['duration_s'])}")
    print(f"source    {s['source']}")
    board = s.get("board") or {}
    if board:
        print(f"board     {board.get('board')} ({board.get('timing')} timings), firmware {board.get('firmware')}")
    if s.get("model"):
        print(f"model     {s['model'].get('name')} sha256 {str(s['model'].get('hash', ''))[:16]}...")
    print(f"samples   {s['samples']} {unit}, {s['predictions']} with board predictions")
    width = max((len(k) for k in s["counts"]), default=5)
    for label, n in s["counts"].items():
        share = 100.0 * n / s["samples"] if s["samples"] else 0.0
        print(f"  {label:<{width}}  {n:>7}  {share:5.1f} %")
    if s["torn_lines"] or s["missing_files"]:
        print(f"note      skipped {s['torn_lines']} partial line(s) and {s['missing_files']} missing file(s) "
              "left by an interrupted write")
    return 0


def _renames(items: list[str]) -> dict[str, str]:
    renames = {}
    for item in items:
        old, sep, new = item.partition("=")
        if not sep or not old.strip() or not new.strip():
            raise InputError(f"--rename {item!r} must look like OLD=NEW")
        renames[old.strip()] = new.strip()
    return renames


def run_merge(args: argparse.Namespace) -> int:
    """Merge and print what went where, and the train command to run next."""
    from edgeloop.app.sessions.library import merge_sessions

    labels = [x.strip() for x in args.labels.split(",") if x.strip()] if args.labels else None
    renames = _renames(args.rename)
    with os_errors_explained(f"merge the sessions into {args.out}"):
        m = merge_sessions(args.paths, args.out, labels=labels, rename=renames)
    counts = ", ".join(f"{k}: {v}" for k, v in m.counts.items())
    unit = "images" if m.kind == "image" else "IMU samples"
    print(f"merged {len(m.sessions)} session(s) into {m.out}: {sum(m.counts.values())} {unit} ({counts})"
          + (f", {m.skipped} left out" if m.skipped else ""))
    task = "images" if m.kind == "image" else "imu"
    print(f"next: edgeloop train --task {task} --data {m.out} --out models/my_{task}")
    return 0
