"""The arena plan as a picture: every buffer's offset and lifetime over the steps, peak and bound marked.

`arena_map(compiled)` lists the arena buffers (tensors sharing storage are
one buffer) with offset, size and the first and last step they are alive
in; `format_memory_map` draws it as text (rows: offset bands, columns:
steps), `svg_memory_map` as inline SVG. TFLite Micro's total arena can be
drawn beside ours; its per-tensor layout is not exposed, so only its total.
"""

from __future__ import annotations

import html
import string
from typing import Any

from edgeloop.models.compiler.driver import CompiledModel
from edgeloop.models.compiler.planner import ARENA

_LETTERS = string.ascii_uppercase + string.ascii_lowercase + string.digits


def arena_map(compiled: CompiledModel) -> dict[str, Any]:
    """JSON-able arena plan: buffers (offset, size, start/end step, what they hold), live bytes per step."""
    plan, graph = compiled.plan, compiled.graph
    tensors = graph.model.tensors
    scratch_of = {gid: pos for pos, gid in plan.scratch_group.items()}
    steps = len(graph.steps)
    buffers = []
    for g in plan.groups:
        if g.kind != ARENA:
            continue
        if g.gid in scratch_of:
            pos = scratch_of[g.gid]
            what = f"scratch of step {pos} ({graph.steps[pos].op})"
        else:
            what = ", ".join(tensors[t].name or f"tensor {t}" for t in g.tensors)
        buffers.append({"offset": g.offset, "size": g.size, "start": max(g.start, 0), "end": min(g.end, steps - 1),
                        "holds": what, "scratch": g.gid in scratch_of})
    buffers.sort(key=lambda b: (b["start"], b["offset"]))
    for i, b in enumerate(buffers):
        b["letter"] = _LETTERS[i % len(_LETTERS)]
    live = [sum(b["size"] for b in buffers if b["start"] <= pos <= b["end"]) for pos in range(steps)]
    return {"arena_bytes": plan.arena_bytes, "peak_live_bytes": plan.peak_bytes,
            "single_op_lower_bound_bytes": plan.lower_bound, "steps": [s.op for s in graph.steps],
            "buffers": buffers, "live_bytes_per_step": live}


def format_memory_map(amap: dict[str, Any], tflm_arena_bytes: int | None = None, rows: int = 16) -> str:
    """Text picture: offset bands top (high) to bottom (0), one column per step, a letter per buffer."""
    arena = max(amap["arena_bytes"], 1)
    steps = len(amap["steps"])
    band = arena / rows
    col = 2 if steps <= 40 else 1
    lines = [f"arena plan: {amap['arena_bytes']:,} B over {steps} steps (rows: {band:,.0f} B each, "
             "columns: steps; a letter per buffer, '.' free)"]
    marks = {"peak live": amap["peak_live_bytes"], "single-op bound": amap["single_op_lower_bound_bytes"]}
    for r in range(rows - 1, -1, -1):
        lo, hi = r * band, (r + 1) * band
        cells = []
        for pos in range(steps):
            here = [b for b in amap["buffers"] if b["start"] <= pos <= b["end"] and b["offset"] < hi
                    and b["offset"] + b["size"] > lo]
            cells.append((max(here, key=lambda b: b["size"])["letter"] if here else ".") * col)
        label = " ".join(f"<- {k} {v:,} B" for k, v in marks.items() if lo < v <= hi)
        lines.append(f"{int(hi):>8,} |{''.join(cells)}| {label}".rstrip())
    lines.append(f"{0:>8} +{'-' * (steps * col)}+")
    lines.append(" " * 10 + "".join(f"{pos % 10:<{col}}" for pos in range(steps)) + "  (step)")
    if tflm_arena_bytes:
        lines.append(f"TFLite Micro arena: {tflm_arena_bytes:,} B ({tflm_arena_bytes / arena:.2f}x ours; its "
                     "per-tensor layout is not exposed)")
    for b in amap["buffers"]:
        lines.append(f"  {b['letter']}  @{b['offset']:>7,}  {b['size']:>7,} B  steps {b['start']}-{b['end']}  "
                     f"{b['holds'][:70]}")
    return "\n".join(lines)


def svg_memory_map(amap: dict[str, Any], tflm_arena_bytes: int | None = None) -> str:
    """Inline SVG: x = step, y = arena offset; dashed lines at peak live and the single-op bound;
    TFLite Micro's total arena as a bar on the same scale at the right."""
    steps = max(len(amap["steps"]), 1)
    top_bytes = max(amap["arena_bytes"], tflm_arena_bytes or 0, 1)
    left, top, width, height = 70, 30, 560, 300
    x_of = lambda s: left + width * s / steps  # noqa: E731
    y_of = lambda b: top + height - height * b / top_bytes  # noqa: E731
    palette = ("#2f6fb5", "#e08a2c", "#3a9a5b", "#b54a4a", "#7d5bb5", "#2c9ea3", "#a3862c", "#6b6b6b")
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 160}" height="{top + height + 40}" '
             'role="img" aria-label="arena plan" font-family="sans-serif" font-size="11">',
             f'<text x="{left}" y="16" font-size="13" font-weight="bold">Arena plan: {amap["arena_bytes"]:,} B '
             f'(offset over steps)</text>',
             f'<rect x="{left}" y="{y_of(amap["arena_bytes"])}" width="{width}" '
             f'height="{y_of(0) - y_of(amap["arena_bytes"])}" fill="none" stroke="#999"/>']
    for i, b in enumerate(amap["buffers"]):
        x0, x1 = x_of(b["start"]), x_of(b["end"] + 1)
        y0, y1 = y_of(b["offset"] + b["size"]), y_of(b["offset"])
        tip = html.escape(f"{b['holds']}: {b['size']:,} B at offset {b['offset']:,}, steps {b['start']}-{b['end']}")
        fill = "#cccccc" if b["scratch"] else palette[i % len(palette)]
        parts.append(f'<rect x="{x0:.1f}" y="{y0:.1f}" width="{max(x1 - x0 - 1, 1):.1f}" '
                     f'height="{max(y1 - y0, 1):.1f}" fill="{fill}" fill-opacity="0.8" stroke="#fff">'
                     f'<title>{tip}</title></rect>')
    label_y = -100.0
    for label, value, colour in (("peak live", amap["peak_live_bytes"], "#b00"),
                                 ("single-op bound", amap["single_op_lower_bound_bytes"], "#080")):
        y = y_of(value)
        label_y = y + 4 if abs(y + 4 - label_y) >= 13 else label_y + 13  # equal marks: labels one under another
        parts.append(f'<line x1="{left}" x2="{left + width}" y1="{y:.1f}" y2="{y:.1f}" stroke="{colour}" '
                     f'stroke-dasharray="5,3"/><text x="{left + width + 4}" y="{label_y:.1f}" fill="{colour}">'
                     f'{label} {value:,} B</text>')
    if tflm_arena_bytes:
        x = left + width + 110
        parts.append(f'<rect x="{x}" y="{y_of(tflm_arena_bytes):.1f}" width="30" '
                     f'height="{y_of(0) - y_of(tflm_arena_bytes):.1f}" fill="#e08a2c" fill-opacity="0.6">'
                     f'<title>TFLite Micro arena {tflm_arena_bytes:,} B</title></rect>'
                     f'<text x="{x + 15}" y="{top + height + 14}" text-anchor="middle">TFLM</text>'
                     f'<text x="{x + 15}" y="{y_of(tflm_arena_bytes) - 4:.1f}" text-anchor="middle">'
                     f'{tflm_arena_bytes:,}</text>')
    parts.append(f'<text x="{left + width / 2}" y="{top + height + 30}" text-anchor="middle">step (0-{steps - 1})'
                 f'</text><text x="{left - 6}" y="{y_of(0):.1f}" text-anchor="end">0</text>'
                 f'<text x="{left - 6}" y="{y_of(top_bytes) + 10:.1f}" text-anchor="end">{top_bytes:,}</text>')
    parts.append("</svg>")
    return "".join(parts)
