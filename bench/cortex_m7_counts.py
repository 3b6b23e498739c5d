"""Emulated instruction count per inference of each compiled model, on the real ARM image under QEMU.

Builds the QEMU (mps2-an500, Cortex-M7) image with the models (default: every
zoo model), runs one inference of each on it with `-icount shift=0`, and keeps
the count with the model (`models/zoo/NAME/c/NAME.qemu.json`, or the cache
for models outside the zoo) through `edgeloop.app.live.model_facts`. The
window shows it next to a host board's host-clock time, with the estimate at
the Nucleo's 480 MHz if one instruction took one cycle.

The count is of the whole inference as the firmware times it (t_infer: the
generated model's invoke), with an all-zero input tensor; the int8 kernels'
work does not depend on the values, so another input counts the same apart
from a few branch instructions. Ticks are converted to instructions through
`edgeloop.app.live.timing` (INFO instr_per_tick).

    python bench/cortex_m7_counts.py [--models NAME ...] [--write] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", metavar="NAME", help="models (default: every zoo model)")
    parser.add_argument("--repeat", type=int, default=3, help="inferences per model; they must agree (default 3)")
    parser.add_argument("--write", action="store_true", help="keep each count with its model")
    parser.add_argument("--json", action="store_true", help="print one JSON object of the counts last")
    args = parser.parse_args()

    from edgeloop.app.link.boards import start_board
    from edgeloop.app.link.session import Session
    from edgeloop.app.live import model_facts, timing
    from edgeloop.protocol import Result, TimingSource

    counts: dict[str, dict[str, object]] = {}
    with start_board("qemu", models=args.models, timeout=180) as board, Session(board.url) as session:
        info = session.connect()
        if TimingSource(info.timing_source) != TimingSource.QEMU_ICOUNT:
            raise SystemExit(f"the QEMU board reports timing {info.timing_source}, not qemu-icount")
        per_tick = timing.instructions_per_tick(info)
        for index, model in enumerate(info.models):
            ticks = []
            for _ in range(args.repeat):
                result = session.infer(bytes(model.input.nbytes), index).result(timeout=120).message
                assert isinstance(result, Result)
                ticks.append(result.t_infer)
            # SysTick counts whole ticks: repeats may differ by one tick (per_tick instructions); take the median.
            median_ticks = sorted(ticks)[len(ticks) // 2]
            instructions = int(timing.emulated_instructions(median_ticks, per_tick))
            entry = {"instructions": instructions, "ticks": ticks, "instr_per_tick": per_tick, "macc": model.macc,
                     "instructions_per_macc": round(instructions / model.macc, 2) if model.macc else None,
                     "estimate_at_480MHz": model_facts.estimate_text(instructions)}
            if max(ticks) - min(ticks) > 1:
                entry["note"] = "the repeated inferences differ by more than one tick"
            if args.write:
                count = model_facts.InstructionCount(
                    model.name, bytes(model.hash).hex(), instructions, per_tick, "all-zero input tensor",
                    "bench/cortex_m7_counts.py: qemu-system-arm mps2-an500 -icount shift=0, t_infer ticks × "
                    "instr_per_tick")
                entry["written"] = str(model_facts.store_instruction_count(model, count))
            counts[model.name] = entry
            print(f"{model.name:>14}: {instructions:>12,} emulated instructions ({median_ticks} ticks × {per_tick}), "
                  f"{entry['estimate_at_480MHz']}", file=sys.stderr if args.json else sys.stdout)
    if args.json:
        print(json.dumps({"emulated_instructions": counts}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
