"""Recovery under corruption: the product's Session through a fault-injecting proxy to the host board.

4,096-byte INFER requests of the mean64 test model stream through
`Session.map` (credit-windowed, the board's own credit) to the host virtual
board, across edgeloop.app.link.fault_proxy on loopback, which damages both
directions. Every input has a known mean, distinct from its neighbours', so a
result matched to the wrong request is caught (`misattributed`).

For each fault, and for each of `--runs` runs, faulty and clean slices
alternate (6 of each, `--seconds` of fault in all), so the drifting load of a
shared machine weighs on both alike; the clean rate is measured through the
same proxy with faults off:
- `throughput_ratio` = correct results/s with the fault over without it;
- `max_gap_s` = the longest time between two correct results under the fault;
- `misattributed` (a result for another request), `failed` (requests given
  up), `hangs` (gaps over 5 s);
- `recovery_s` = from the fault being switched off to the next correct
  result (the worst of the 6 switch-offs).
Figures are the median of the runs, with min and max as the spread.

    python bench/link_faults.py [--seconds 6] [--runs 3] [--json]
    python bench/link_faults.py --minutes 10 [--json]     # soak: mixed faults

The soak reports results, misattributed, hangs and the RSS growth of this
process (the host side) and of the board process. With --json the last line
printed is one JSON object of all figures.
"""

from __future__ import annotations

import argparse
import collections
import itertools
import json
import os
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from edgeloop.app.link.boards import start_board
from edgeloop.app.link.fault_proxy import NO_FAULTS, FaultProxy, Faults
from edgeloop.app.link.session import Session
from edgeloop.protocol import Infer, Result

MODEL = 1  # mean64: 4,096-byte input, its int8 mean out (sine, mean64, mean96 on the host board)
INPUT_BYTES = 4096
HANG_S = 5.0
FAULTS = {
    "bit_flip_1e-5": Faults(bit_flip=1e-5),
    "bit_flip_1e-6": Faults(bit_flip=1e-6),
    "bit_flip_1e-4": Faults(bit_flip=1e-4),
    "drop_1e-5": Faults(drop=1e-5),
    "garbage_1e-5": Faults(garbage=1e-5),
    "delay_1e-4": Faults(delay=1e-4, delay_max_s=0.05),
}
EXTRA = [f for f in os.environ.get("LINK_FAULTS_CFLAGS", "").split() if f]
MIXED = Faults(bit_flip=1e-5, drop=2e-6, garbage=2e-6, delay=2e-5, delay_max_s=0.05)


def make_inputs(seed: int = 0) -> list[tuple[bytes, int]]:
    """64 distinct (input, expected mean) pairs; consecutive inputs never share a mean."""
    rng = np.random.default_rng(seed)
    pairs = []
    for k in range(64):
        mean = (k * 37) % 201 - 100
        noise = rng.integers(0, 28, INPUT_BYTES // 2)
        values = np.concatenate([mean + noise, mean - noise])  # sums to exactly INPUT_BYTES * mean
        rng.shuffle(values)
        pairs.append((values.astype(np.int8).tobytes(), mean))
    return pairs


@dataclass
class Window:
    """What one stretch of streaming produced."""

    results: int = 0
    misattributed: int = 0
    failed: int = 0
    seconds: float = 0.0
    max_gap_s: float = 0.0
    hangs: int = 0
    first_ok_after_s: float | None = None  # seconds from the window start to its first correct result

    @property
    def rate(self) -> float:
        return self.results / self.seconds if self.seconds else 0.0


class Stream:
    """An endless ordered stream of INFER outcomes through one Session.map."""

    def __init__(self, session: Session, inputs: list[tuple[bytes, int]]) -> None:
        items: Iterator[tuple[bytes, int]] = itertools.cycle(inputs)
        self.outcomes = session.map(items, lambda item: Infer(MODEL, item[0]))
        self.last_ok = time.monotonic()
        self.failures: collections.Counter[str] = collections.Counter()

    def run(self, seconds: float) -> Window:
        """Consume outcomes for `seconds`; count correct, wrong and failed results and the gaps."""
        window = Window()
        start = self.last_ok = time.monotonic()
        end = start + seconds
        for outcome in self.outcomes:
            now = time.monotonic()
            if outcome.ok:
                result = outcome.reply.message
                assert isinstance(result, Result)
                if np.frombuffer(result.output, dtype=np.int8)[0] != outcome.item[1]:
                    window.misattributed += 1
                else:
                    gap = now - self.last_ok
                    window.max_gap_s = max(window.max_gap_s, gap)
                    window.hangs += gap > HANG_S
                    window.results += 1
                    self.last_ok = now
                    if window.first_ok_after_s is None:
                        window.first_ok_after_s = now - start
            else:
                window.failed += 1
                self.failures[type(outcome.error).__name__] += 1
            if now >= end:
                break
        window.seconds = time.monotonic() - start
        return window

    def close(self) -> None:
        self.outcomes.close()


def _spread(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 4), "min": round(min(values), 4),
            "max": round(max(values), 4)}


SLICES = 6  # clean and faulty slices alternate this many times per run


def paired_run(stream: Stream, proxy: FaultProxy, faults: Faults, seconds: float, clean_s: float) -> dict[str, float]:
    """Alternate clean and faulty slices, so the machine's drifting load weighs on both alike."""
    clean, faulty, recoveries = Window(), Window(), []
    for _ in range(SLICES):
        proxy.set_faults(faults)
        part = stream.run(seconds / SLICES)
        faulty.results += part.results
        faulty.seconds += part.seconds
        faulty.misattributed += part.misattributed
        faulty.failed += part.failed
        faulty.hangs += part.hangs
        faulty.max_gap_s = max(faulty.max_gap_s, part.max_gap_s)
        proxy.set_faults(NO_FAULTS)
        part = stream.run(clean_s / SLICES)
        recoveries.append(part.first_ok_after_s if part.first_ok_after_s is not None else float("inf"))
        clean.results += part.results
        clean.seconds += part.seconds
        clean.misattributed += part.misattributed
        clean.hangs += part.hangs
    return {"clean_per_s": clean.rate, "per_s": faulty.rate,
            "throughput_ratio": faulty.rate / clean.rate if clean.rate else 0.0,
            "misattributed": clean.misattributed + faulty.misattributed, "failed": faulty.failed,
            "max_gap_s": faulty.max_gap_s, "hangs": clean.hangs + faulty.hangs, "recovery_s": max(recoveries)}


def measure_faults(seconds: float, runs: int, names: list[str], clean_s: float = 6.0) -> dict[str, object]:
    """Every fault of `names`, `runs` times each: clean, faulty, then recovery."""
    inputs = make_inputs()
    figures: dict[str, object] = {}
    with start_board("host", models=["sine", "mean64", "mean96"], extra_cflags=EXTRA) as board, \
            FaultProxy(board.url, seed=7) as proxy:
        with Session(proxy.url) as session:
            info = session.connect()
            stream = Stream(session, inputs)
            stream.run(1.0)  # warm up: round-trip estimators and caches
            for name in names:
                rows = []
                for run in range(runs):
                    rows.append(paired_run(stream, proxy, FAULTS[name], seconds, clean_s))
                figures[name] = {
                    "throughput_ratio": _spread([r["throughput_ratio"] for r in rows]),
                    "misattributed": sum(r["misattributed"] for r in rows),
                    "max_gap_s": _spread([r["max_gap_s"] for r in rows]),
                    "recovery_s": _spread([r["recovery_s"] for r in rows]),
                    "hangs": sum(r["hangs"] for r in rows),
                    "failed": sum(r["failed"] for r in rows),
                    "clean_per_s": _spread([r["clean_per_s"] for r in rows]),
                    "per_s": _spread([r["per_s"] for r in rows]),
                }
            stream.close()
            stats = session.stats()
    return {"bench": "link_faults", "board": f"host (credit {info.rx_credit})", "input_bytes": INPUT_BYTES,
            "seconds": seconds, "runs": runs, "faults": figures,
            "session": {"retries": stats.retries, "lost_by_order": stats.lost_by_order, "timeouts": stats.timeouts,
                        "late_accepted": stats.late_accepted, "busy_resends": stats.busy_resends,
                        "reconnects": stats.reconnects, "device_notices": stats.device_notices,
                        "failures": dict(stream.failures)},
            "proxy": {"flips": proxy.counts.flips, "drops": proxy.counts.drops, "garbage": proxy.counts.garbage,
                      "delays": proxy.counts.delays}}


def rss_kb(pid: int) -> int:
    """Resident set size of a process in KiB (Linux /proc)."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def soak(minutes: float) -> dict[str, object]:
    """Mixed faults for `minutes`: results, misattributed, hangs, RSS growth of host and board."""
    inputs = make_inputs(1)
    with start_board("host", models=["sine", "mean64", "mean96"]) as board, \
            FaultProxy(board.url, seed=11, faults=MIXED) as proxy, Session(proxy.url) as session:
        session.connect()
        stream = Stream(session, inputs)
        stream.run(2.0)  # settle before the first RSS sample
        board_pid = board.pid
        host0, board0 = rss_kb(os.getpid()), rss_kb(board_pid)
        total = Window()
        end = time.monotonic() + minutes * 60
        while time.monotonic() < end:
            part = stream.run(min(10.0, end - time.monotonic()))
            total.results += part.results
            total.misattributed += part.misattributed
            total.failed += part.failed
            total.hangs += part.hangs
            total.max_gap_s = max(total.max_gap_s, part.max_gap_s)
            total.seconds += part.seconds
        host1, board1 = rss_kb(os.getpid()), rss_kb(board_pid)
        stream.close()
        stats = session.stats()
    return {"bench": "link_faults_soak", "minutes": minutes, "faults": MIXED.__dict__, "results": total.results,
            "per_s": round(total.rate, 1), "misattributed": total.misattributed, "failed": total.failed,
            "hangs": total.hangs, "max_gap_s": round(total.max_gap_s, 3),
            "host_rss_growth_kb": host1 - host0, "board_rss_growth_kb": board1 - board0,
            "reconnects": stats.reconnects, "retries": stats.retries, "failures": dict(stream.failures)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=6.0, help="seconds of each fault per run (default 6)")
    parser.add_argument("--runs", type=int, default=3, help="runs per fault, for the spread (default 3)")
    parser.add_argument("--faults", default=",".join(FAULTS), help=f"comma-separated subset of {', '.join(FAULTS)}")
    parser.add_argument("--minutes", type=float, help="soak with mixed faults for this long instead")
    parser.add_argument("--json", action="store_true", help="print one JSON object of the figures last")
    args = parser.parse_args()
    if args.minutes:
        figures = soak(args.minutes)
        print(f"soak {args.minutes:g} min: {figures['results']} results ({figures['per_s']}/s), "
              f"{figures['misattributed']} misattributed, {figures['hangs']} hangs, max gap {figures['max_gap_s']} s, "
              f"RSS growth host {figures['host_rss_growth_kb']} KiB, board {figures['board_rss_growth_kb']} KiB")
    else:
        names = [n.strip() for n in args.faults.split(",") if n.strip()]
        unknown = sorted(set(names) - set(FAULTS))
        if unknown:
            parser.error(f"unknown fault(s) {', '.join(unknown)}; choose from {', '.join(FAULTS)}")
        figures = measure_faults(args.seconds, args.runs, names)
        for name, f in figures["faults"].items():
            t = f["throughput_ratio"]
            print(f"{name:>14}: throughput_ratio {t['median']:.3f} [{t['min']:.3f}..{t['max']:.3f}]  "
                  f"clean {f['clean_per_s']['median']:.0f}/s  misattributed {f['misattributed']}  "
                  f"max_gap_s {f['max_gap_s']['median']:.3f} [..{f['max_gap_s']['max']:.3f}]  "
                  f"recovery_s {f['recovery_s']['median']:.4f} [..{f['recovery_s']['max']:.4f}]  "
                  f"hangs {f['hangs']}  failed {f['failed']}")
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
