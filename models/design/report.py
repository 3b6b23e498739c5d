"""design.json and report.html of a design run (pictures are inline SVG: matplotlib is not a dependency)."""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from typing import Any

from edgeloop.models.design.budgets import fmt_bytes
from edgeloop.models.design.latency import LATENCY_LABEL
from edgeloop.models.design.search import pareto_front, trained


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON through a temporary file and a rename: a full disk never leaves half a file."""
    tmp = Path(path).with_suffix(Path(path).suffix + ".tmp")
    try:
        tmp.write_text(json.dumps(data, indent=1, default=float) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def scatter_svg(rows: list[dict[str, Any]], x_key: str, x_label: str, log_x: bool = True,
                width: int = 520, height: int = 300) -> str:
    """Accuracy (y) against a size/latency (x) of trained trials; the Pareto front joined by a line."""
    import math

    pts = [r for r in trained(rows) if r.get(x_key)]
    if not pts:
        return "<p>(no trained trials to plot)</p>"
    pad_l, pad_b, pad_t, pad_r = 56, 40, 12, 12
    fx = (lambda v: math.log10(v)) if log_x else (lambda v: v)
    xs = [fx(r[x_key]) for r in pts]
    ys = [100 * r["cv_accuracy"] for r in pts]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    if x1 - x0 < 1e-9:
        x0, x1 = x0 - 0.5, x1 + 0.5
    if y1 - y0 < 1e-9:
        y0, y1 = y0 - 1, y1 + 1
    sx = lambda v: pad_l + (fx(v) - x0) / (x1 - x0) * (width - pad_l - pad_r)  # noqa: E731
    sy = lambda v: height - pad_b - (100 * v - y0) / (y1 - y0) * (height - pad_b - pad_t)  # noqa: E731
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-size="11">',
           f'<rect x="{pad_l}" y="{pad_t}" width="{width - pad_l - pad_r}" height="{height - pad_b - pad_t}" '
           'fill="none" stroke="#999"/>']
    for r in pts:
        out.append(f'<circle cx="{sx(r[x_key]):.1f}" cy="{sy(r["cv_accuracy"]):.1f}" r="3" fill="#7aa6d6">'
                   f'<title>trial {r["number"]}: {100 * r["cv_accuracy"]:.2f} %, {r[x_key]:,.4g}</title></circle>')
    front = pareto_front(rows, x_key)
    if front:
        path = " ".join(f"{sx(r[x_key]):.1f},{sy(r['cv_accuracy']):.1f}" for r in front)
        out.append(f'<polyline points="{path}" fill="none" stroke="#c0392b" stroke-width="1.5"/>')
        for r in front:
            out.append(f'<circle cx="{sx(r[x_key]):.1f}" cy="{sy(r["cv_accuracy"]):.1f}" r="4" fill="#c0392b"/>')
    lo, hi = (10 ** x0, 10 ** x1) if log_x else (x0, x1)
    out.append(f'<text x="{pad_l}" y="{height - 22}">{lo:,.4g}</text>')
    out.append(f'<text x="{width - pad_r}" y="{height - 22}" text-anchor="end">{hi:,.4g}</text>')
    out.append(f'<text x="{(width + pad_l) / 2}" y="{height - 6}" text-anchor="middle">{html.escape(x_label)}'
               f'{" (log scale)" if log_x else ""}</text>')
    out.append(f'<text x="{pad_l - 4}" y="{pad_t + 10}" text-anchor="end">{y1:.1f}</text>')
    out.append(f'<text x="{pad_l - 4}" y="{height - pad_b}" text-anchor="end">{y0:.1f}</text>')
    out.append(f'<text x="12" y="{(height - pad_b) / 2}" transform="rotate(-90 12 {(height - pad_b) / 2})" '
               'text-anchor="middle">CV accuracy %</text>')
    out.append("</svg>")
    return "\n".join(out)


def _pct(v: Any) -> str:
    return "" if v is None else f"{100 * v:.2f}"


def _kernels_cell(row: dict[str, Any]) -> str:
    """The trial's kernel set, and the smaller flash another set that meets the budgets would deploy at."""
    least, flash = row.get("least_flash_bytes"), row.get("flash_bytes")
    kernels = row.get("kernel_set") or ""
    return f"{kernels} (another set: {fmt_bytes(least)})" if least and flash and least < flash else kernels


def _table(head: list[str], body: list[list[Any]]) -> str:
    h = "".join(f"<th>{html.escape(str(c))}</th>" for c in head)
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in body)
    return f"<table><tr>{h}</tr>{rows}</table>"


def write_html(path: Path, design: dict[str, Any]) -> None:
    """report.html: budgets, chosen model, Pareto pictures, baselines, confusion, decisions, every trial."""
    rows = design["trials"]
    ch = design.get("chosen")
    parts = [f"<!doctype html><meta charset='utf-8'><title>edgeloop design: {html.escape(design['task'])}</title>",
             "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}table{border-collapse:collapse;"
             "font-size:12px}td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}</style>",
             f"<h1>edgeloop design: {html.escape(design['task'])}</h1>",
             f"<p>Budget: {html.escape(design['budget_text'])}. Data fingerprint {design['data_fingerprint']}. "
             f"{design['counts']}</p>",
             f"<p>Latency figures are an {html.escape(LATENCY_LABEL)}; the cost model's error on held-out models: "
             f"mean {100 * design['latency_model']['held_out_error']['mean']:.1f} %, max "
             f"{100 * design['latency_model']['held_out_error']['max']:.1f} %.</p>"]
    if ch:
        parts.append("<h2>Chosen model</h2>")
        parts.append(f"<p>Trial {ch['trial']} ({html.escape(ch['family'])}): CV accuracy "
                     f"{_pct(ch['cv_accuracy'])} ± {_pct(ch['cv_spread'])} % over {ch['seeds']} seed(s); test "
                     f"accuracy (int8, untouched test split) {_pct(ch['test_accuracy'])} %"
                     + (f", per recording {_pct(ch.get('test_recording_accuracy'))} %"
                        if ch.get("test_recording_accuracy") is not None else "")
                     + f"; flash {fmt_bytes(ch['flash_bytes'])}, RAM {fmt_bytes(ch['ram_bytes'])}, latency "
                     f"{ch['latency_ms_estimate']:.3f} ms (estimate from emulated instructions).</p>")
        rule = ch.get("kernel_set_rule")
        if rule:
            limit = rule["latency_limit_ms"]
            sets = "; ".join(f"{k}: {fmt_bytes(v['flash_bytes'])} flash, {v['latency_ms_estimate']:.3f} ms"
                             for k, v in rule["variants"].items())
            parts.append(f"<p>Kernel set: <b>{html.escape(ch['kernel_set'])}</b>, the smallest whose latency estimate "
                         f"meets {f'{limit:.3g} ms' if limit is not None else 'no limit'} "
                         f"({html.escape(rule['latency_limit_source'])}); {html.escape(sets)}.</p>")
        parts.append(f"<p>Recipe: <code>{html.escape(ch['recipe']['command'])}</code></p>")
        for k in ("quantization", "validation"):
            if ch.get(k):
                parts.append(f"<p>{k}: {html.escape(json.dumps(ch[k]))}</p>")
        labels = design["labels"]
        conf = ch.get("confusion")
        if conf:
            parts.append("<h3>Confusion matrix (test, int8; rows = true class)</h3>")
            parts.append(_table(["", *labels], [[labels[i], *row] for i, row in enumerate(conf)]))
        if ch.get("recordings"):
            parts.append("<h3>Per-recording decisions (the model's decision rule over each recording)</h3>")
            parts.append(_table(["recording", "windows", "truth", "decided"],
                                [[d["recording"], d["windows"], labels[d["truth"]],
                                  labels[d["decided"]] if d["decided"] >= 0 else "uncertain"]
                                 for d in ch["recordings"]]))
        if design.get("finalists"):
            parts.append("<h3>Finalists (repeated seeds)</h3>")
            parts.append(_table(["trial", "flash", "CV mean %", "± spread", "seed means %"],
                                [[f["number"], f["flash_bytes"], _pct(f["cv_mean"]), _pct(f["cv_seed_spread"]),
                                  " ".join(_pct(m) for m in f["seed_means"])] for f in design["finalists"]]))
    if design.get("compression"):
        parts.append("<h2>Compression (each used only where it pays)</h2>")
        parts.append(_table(["method", "family", "applied", "what it did", "figures"],
                            [[k.replace("_", " "), v.get("family", ""), "yes" if v.get("applied") else "no",
                              v.get("why", ""), json.dumps({f: x for f, x in v.items()
                                                            if f not in ("family", "applied", "why")})]
                             for k, v in design["compression"].items()]))
    if design.get("baselines"):
        parts.append("<h2>Baselines (same inputs and split)</h2>")
        parts.append(_table(["model", "test accuracy %", "per recording %", "size"],
                            [[b["name"], _pct(b["test_window_accuracy"]), _pct(b.get("test_recording_accuracy")),
                              fmt_bytes(b["bytes"])] for b in design["baselines"]]))
    parts.append("<h2>Pareto front</h2>")
    parts.append(scatter_svg(rows, "flash_bytes", "flash bytes"))
    parts.append(scatter_svg(rows, "latency_ms_estimate", "latency ms (estimate from emulated instructions)"))
    parts.append("<h2>Every trial</h2>")
    parts.append(_table(["#", "status", "family", "recipe parameters", "flash", "RAM", "kernels", "MACs",
                         "latency ms", "CV acc %", "± fold spread", "reason"],
                        [[r["number"], r["status"], r["family"] or "", json.dumps(r["params"]),
                          r["flash_bytes"] or "", r["ram_bytes"] or "", _kernels_cell(r), r["macc"] or "",
                          f"{r['latency_ms_estimate']:.3f}" if r["latency_ms_estimate"] is not None else "",
                          _pct(r["cv_accuracy"]), _pct(r["cv_spread"]), r["reason"]] for r in rows]))
    tmp = Path(path).with_suffix(".html.tmp")
    tmp.write_text("\n".join(parts), encoding="utf-8")
    os.replace(tmp, path)
