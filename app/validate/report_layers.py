"""Report sections about layers (HTML, inline SVG): float vs int8 with the per-layer quantization error,
and the whole `edgeloop analyze` page (layer table, arena picture).

Kept apart from report.py so the validation report only gains one call per
section; `render_float_vs_int8(section)` takes the `float_vs_int8` object that
`edgeloop.models.importers.quant_error` produces.
"""

from __future__ import annotations

import html
from typing import Any


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def svg_layer_bars(rows: list[dict[str, Any]], key: str, title: str, unit: str = "") -> str:
    """Horizontal bars, one per layer (label "#index op"), of rows[i][key]."""
    values = [float(r[key] or 0.0) for r in rows]
    peak = max(values, default=0.0) or 1.0
    bar_h, left, width = 16, 190, 640
    height = 30 + bar_h * len(rows) + 10
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="{_e(title)}" font-family="sans-serif" font-size="11">',
             f'<text x="{width / 2}" y="16" text-anchor="middle" font-size="13" font-weight="bold">{_e(title)}</text>']
    for i, (row, v) in enumerate(zip(rows, values)):
        y = 26 + i * bar_h
        w = (width - left - 90) * v / peak
        label = f"#{row.get('operator', row.get('index', i))} {row['op']}"
        parts.append(f'<text x="{left - 6}" y="{y + 11}" text-anchor="end">{_e(label[:28])}</text>')
        parts.append(f'<rect x="{left}" y="{y + 2}" width="{w:.1f}" height="{bar_h - 4}" fill="#2f6fb5">'
                     f'<title>{_e(label)}: {v:.4g}{_e(unit)}</title></rect>')
        parts.append(f'<text x="{left + w + 4}" y="{y + 11}">{v:.3g}{_e(unit)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _layer_row(r: dict[str, Any]) -> str:
    steps = "" if r["max_abs_diff_steps"] is None else f"{r['max_abs_diff_steps']:.2f}"
    cells = (r["operator"], _e(r["op"]), f"<code>{_e(r['tensor'][:60])}</code>", _e("x".join(map(str, r["shape"]))),
             f"{r['l2r']:.4g}", f"{r['cosine']:.6f}", f"{r['max_abs_diff']:.4g}", steps)
    return "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def render_float_vs_int8(section: dict[str, Any]) -> str:
    """The "Float vs int8" HTML section: output errors, accuracies, the per-layer table and its bars."""
    out = section["output"]
    rows = [("L2 relative error", f"{out['l2r']:.4g}"), ("cosine similarity", f"{out['cosine']:.6f}"),
            ("max |diff|", f"{out['max_abs_diff']:.4g}")]
    if "accuracy" in out:
        rows += [("accuracy float", f"{100 * out['accuracy']['float']:.2f} %"),
                 ("accuracy int8", f"{100 * out['accuracy']['int8']:.2f} %"),
                 ("top-1 agreement", f"{100 * out['top1_agreement']:.2f} %")]
    parts = [f"<h2>Float vs int8</h2><p>{_e(section['float_reference'])} against the int8 model in TFLite Micro, "
             f"{out['samples']} samples of {_e(section['data'])}.</p>",
             "<table><tr><th>figure</th><th>value</th></tr>"
             + "".join(f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in rows) + "</table>"]
    layers = section.get("layers") or []
    if layers:
        parts.append("<h3>Quantization error per layer</h3><p>Each int8 activation, dequantized, against the float "
                     f"tensor of the same name ({_e(section.get('layers_reference', 'LiteRT reference kernels'))}). "
                     "The layer where the L2 relative error jumps is where accuracy is lost.</p>")
        head = "".join(f"<th>{h}</th>" for h in ("op #", "op", "tensor", "shape", "L2r", "cosine", "max |diff|",
                                                   "max |diff| (steps)"))
        body = "".join(_layer_row(r) for r in layers)
        parts.append(f"<table><tr>{head}</tr>{body}</table>")
        parts.append(svg_layer_bars(layers, "l2r", "Quantization error per layer (L2 relative)"))
    elif section.get("layers_note"):
        parts.append(f"<p>{_e(section['layers_note'])}</p>")
    return "".join(parts)


def render_per_layer(section: dict[str, Any]) -> str:
    """The "Per layer on the board" HTML section: time bars labelled by timing source, the first differing layer."""
    prof = section["profile"]
    unit = next((r["per_mac_unit"] for r in prof["steps"] if "per_mac_unit" in r), "work/MAC")
    head = "".join(f"<th>{_e(h)}</th>" for h in ("#", "op", "MACs", f"ticks ({prof['tick_unit']})", "µs", unit))
    body = "".join(
        "<tr>" + "".join(f"<td>{c}</td>" for c in (
            r["index"], _e(r["op"]), f"{r['macc']:,}", "" if r["ticks"] is None else r["ticks"],
            f"{r['us']:.2f}" if "us" in r else "", f"{r['per_mac']:.3f}" if r.get("per_mac") and r["macc"] else ""))
        + "</tr>" for r in prof["steps"])
    parts = [f"<h2>Per layer on the board <span class='tag'>{_e(prof['timing'])}</span></h2>",
             f"<p>One profiled inference of {_e(section.get('profile_sample', ''))}; the steps sum to "
             f"{prof['sum_ticks']:,} ticks, the whole inference took {prof['infer_ticks']:,} ticks "
             f"({_e(prof['timing_source'])}).</p>",
             f"<table><tr>{head}</tr>{body}</table>",
             svg_layer_bars([r for r in prof["steps"] if "us" in r], "us",
                            f"Time per layer ({prof['timing']})", " µs")]
    if "divergence_sample" in section:
        div = section["divergence"]
        if div is None:
            parts.append(f"<p>Sample {_e(section['divergence_sample'])}: every layer's output equals TFLite "
                         "Micro's.</p>")
        else:
            parts.append(f"<p class='bad'>First layer where the board differs from TFLite Micro on sample "
                         f"{_e(section['divergence_sample'])}: step {div['step']} ({_e(div['op'])}, TFLite operator "
                         f"{div['tflite_operator']}): {div['differing']} of {div['elements']} elements, max |diff| "
                         f"{div['max_abs_diff']:g} steps.</p>")
    return "".join(parts)


_CSS = ("body{font-family:sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f3f3f3}"
        "td:nth-child(2),td:nth-child(3){text-align:left}code{font-size:90%}.note{color:#555}")


def render_analyze_html(report: dict[str, Any]) -> str:
    """A self-contained page of an `analyze` report: layers, totals, the arena picture, float vs int8."""
    from edgeloop.models.compiler.memory_map import svg_memory_map

    t = report["totals"]
    head = "".join(f"<th>{h}</th>" for h in ("#", "op", "inputs", "output", "MACs", "params", "weight B", "act B",
                                               "scratch B"))
    rows = "".join(
        "<tr>" + "".join(f"<td>{c}</td>" for c in (
            r["index"], _e(r["op"]), _e(", ".join(r["inputs"])), _e(r["output"]), f"{r['macc']:,}",
            f"{r['params']:,}", f"{r['weight_bytes']:,}", f"{r['activation_bytes']:,}", f"{r['scratch_bytes']:,}"))
        + "</tr>" for r in report["layers"])
    totals = [("operators", t["operators"]), ("MACs", f"{t['macc']:,}"), ("parameters", f"{t['params']:,}"),
              ("arena (ours)", f"{t['arena_bytes']:,} B"), ("peak live", f"{t['peak_live_bytes']:,} B"),
              ("single-op lower bound", f"{t['single_op_lower_bound_bytes']:,} B"),
              ("flash estimate", f"{t['flash_bytes_estimate']:,} B"), ("flatbuffer", f"{t['flatbuffer_bytes']:,} B")]
    if "tflm_arena_bytes" in t:
        totals.append(("TFLite Micro arena", f"{t['tflm_arena_bytes']:,} B"))
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>edgeloop analyze: "
             f"{_e(report['name'])}</title><style>{_CSS}</style></head><body>",
             f"<h1>Analysis of <code>{_e(report['name'])}</code></h1>"]
    imp = report.get("import")
    if imp:
        parts.append(f"<p>Imported from {_e(imp['format'])} in {imp['seconds']:.1f} s."
                     + (" Sized without calibration data: MACs, parameters and memory hold; accuracy is not "
                        "measured (pass --calib)." if imp["structure_only"] else "") + "</p>")
    parts.append("<table><tr><th>total</th><th>value</th></tr>"
                 + "".join(f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in totals) + "</table>")
    parts.append(f"<h2>Layers</h2><table><tr>{head}</tr>{rows}</table>")
    if "memory_map" in report:
        parts.append("<h2>Memory map</h2><p>Every arena buffer at its offset (vertical) over the steps it is alive "
                     "in (horizontal); grey: kernel scratch. TFLite Micro's arena is drawn to the same scale at the "
                     "right (its per-tensor layout is not exposed).</p>")
        parts.append(svg_memory_map(report["memory_map"], t.get("tflm_arena_bytes")))
    if report.get("float_vs_int8"):
        parts.append(render_float_vs_int8(report["float_vs_int8"]))
    parts.append("</body></html>\n")
    return "".join(parts)
