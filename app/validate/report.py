"""Validation reports: report.json and a self-contained report.html with inline SVG plots (no Qt, no network).

`write_report(result, out_dir)` writes both; `render_html(report)` rebuilds
the HTML from the JSON alone, so a report can be re-rendered later. The
plots (confusion matrices, latency histogram, per-class accuracy bars) are
inline SVG: the HTML file opens anywhere, offline, and prints crisply.

Example::

    json_path, html_path = write_report(result, Path("validation/bottles"))
"""

from __future__ import annotations

import html
import json
import math
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edgeloop import os_errors_explained
from edgeloop.app.sessions.recording import write_json_atomic
from edgeloop.app.validate.validator import ValidationResult

BOARD_COLOUR = "#2f6fb5"
REFERENCE_COLOUR = "#e08a2c"


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _num(value: Any, digits: int = 4) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        if math.isinf(value) or math.isnan(value):
            return str(value)
        return f"{value:.{digits}g}"
    return str(value)


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100.0 * value:.2f} %"


# -- SVG plots ------------------------------------------------------------------------------------------------
def svg_confusion(matrix: Sequence[Sequence[int]], labels: Sequence[str], title: str) -> str:
    """A confusion matrix heat map (rows: true class, columns: predicted), counts in the cells."""
    n = len(labels)
    cell = max(22, min(56, 420 // max(1, n)))
    left, top = 110, 46
    width, height = left + n * cell + 20, top + n * cell + 70
    peak = max((max(row) for row in matrix), default=0) or 1
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="{_e(title)}" font-family="sans-serif" font-size="11">',
             f'<text x="{width / 2}" y="16" text-anchor="middle" font-size="13" font-weight="bold">{_e(title)}</text>',
             f'<text x="{left + n * cell / 2}" y="34" text-anchor="middle">predicted</text>']
    for i, row in enumerate(matrix):
        total = sum(row) or 1
        for j, count in enumerate(row):
            share = count / peak
            light = int(255 - 200 * share)
            fill = f"rgb({light},{light + (255 - light) // 3},255)" if i != j else f"rgb({light},255,{light})"
            x, y = left + j * cell, top + i * cell
            colour = "#fff" if share > 0.6 else "#000"
            parts.append(f'<rect x="{x}" y="{y}" width="{cell}" height="{cell}" fill="{fill}" stroke="#999">'
                         f'<title>{_e(labels[i])} → {_e(labels[j])}: {count} ({100 * count / total:.1f} % of row)'
                         f'</title></rect>')
            parts.append(f'<text x="{x + cell / 2}" y="{y + cell / 2 + 4}" text-anchor="middle" '
                         f'fill="{colour}">{count}</text>')
        parts.append(f'<text x="{left - 6}" y="{top + i * cell + cell / 2 + 4}" text-anchor="end">'
                     f'{_e(labels[i][:14])}</text>')
    for j, label in enumerate(labels):
        x, y = left + j * cell + cell / 2, top + n * cell + 8
        parts.append(f'<text x="{x}" y="{y}" text-anchor="end" transform="rotate(-45 {x} {y})">'
                     f'{_e(label[:14])}</text>')
    parts.append(f'<text x="12" y="{top + n * cell / 2}" transform="rotate(-90 12 {top + n * cell / 2})" '
                 'text-anchor="middle">true</text></svg>')
    return "".join(parts)


def svg_histogram(edges: Sequence[float], counts: Sequence[int], title: str, unit: str) -> str:
    """A histogram from bin edges and counts, with the axis range and unit written out."""
    width, height, left, bottom, top = 520, 230, 50, 40, 30
    plot_w, plot_h = width - left - 20, height - top - bottom
    peak = max(counts, default=0) or 1
    n = max(1, len(counts))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="{_e(title)}" font-family="sans-serif" font-size="11">',
             f'<text x="{width / 2}" y="16" text-anchor="middle" font-size="13" font-weight="bold">{_e(title)}</text>',
             f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#333"/>',
             f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#333"/>',
             f'<text x="{left - 4}" y="{top + 4}" text-anchor="end">{peak}</text>',
             f'<text x="{left - 4}" y="{top + plot_h}" text-anchor="end">0</text>']
    bar_w = plot_w / n
    for i, count in enumerate(counts):
        h = plot_h * count / peak
        lo, hi = edges[i], edges[i + 1]
        parts.append(f'<rect x="{left + i * bar_w + 1}" y="{top + plot_h - h}" width="{max(1.0, bar_w - 2)}" '
                     f'height="{h}" fill="{BOARD_COLOUR}"><title>{_num(lo)}–{_num(hi)} {_e(unit)}: {count}'
                     f'</title></rect>')
    if edges:
        parts.append(f'<text x="{left}" y="{top + plot_h + 16}" text-anchor="start">{_num(edges[0])}</text>')
        parts.append(f'<text x="{left + plot_w}" y="{top + plot_h + 16}" text-anchor="end">{_num(edges[-1])}</text>')
    parts.append(f'<text x="{left + plot_w / 2}" y="{height - 6}" text-anchor="middle">{_e(unit)}</text></svg>')
    return "".join(parts)


def svg_class_bars(labels: Sequence[str], board: Sequence[float | None], reference: Sequence[float | None],
                   title: str) -> str:
    """Grouped bars per class: board and reference accuracy (recall) in percent."""
    group = 44
    width, height, left, top, bottom = max(320, 70 + group * len(labels)), 240, 46, 34, 60
    plot_h = height - top - bottom
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="{_e(title)}" font-family="sans-serif" font-size="11">',
             f'<text x="{width / 2}" y="16" text-anchor="middle" font-size="13" font-weight="bold">{_e(title)}</text>',
             f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 10}" y2="{top + plot_h}" stroke="#333"/>']
    for pct in (0, 50, 100):
        y = top + plot_h * (1 - pct / 100)
        parts.append(f'<text x="{left - 4}" y="{y + 4}" text-anchor="end">{pct} %</text>'
                     f'<line x1="{left}" y1="{y}" x2="{width - 10}" y2="{y}" stroke="#ddd"/>')
    for i, label in enumerate(labels):
        x0 = left + 8 + i * group
        for k, (values, colour, who) in enumerate(((board, BOARD_COLOUR, "board"),
                                                  (reference, REFERENCE_COLOUR, "reference"))):
            value = values[i]
            if value is None:
                continue
            h = plot_h * value
            parts.append(f'<rect x="{x0 + k * 16}" y="{top + plot_h - h}" width="14" height="{h}" fill="{colour}">'
                         f'<title>{_e(label)} {who}: {_pct(value)}</title></rect>')
        x, y = x0 + 15, top + plot_h + 10
        parts.append(f'<text x="{x}" y="{y}" text-anchor="end" transform="rotate(-45 {x} {y})">'
                     f'{_e(label[:14])}</text>')
    parts.append(f'<rect x="{width - 150}" y="24" width="10" height="10" fill="{BOARD_COLOUR}"/>'
                 f'<text x="{width - 136}" y="33">board</text>'
                 f'<rect x="{width - 90}" y="24" width="10" height="10" fill="{REFERENCE_COLOUR}"/>'
                 f'<text x="{width - 76}" y="33">reference</text></svg>')
    return "".join(parts)


# -- HTML ------------------------------------------------------------------------------------------------------
_CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f2f2f2}td:first-child,th:first-child{text-align:left}.bad{color:#b00020;font-weight:bold}
.ok{color:#1b7a1b;font-weight:bold}.note{background:#fff6dd;border:1px solid #e6c86e;padding:.5em 1em}
.plots{display:flex;flex-wrap:wrap;gap:1em}.tag{background:#eef;border-radius:3px;padding:0 5px}"""


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def render_html(report: dict[str, Any]) -> str:
    """The HTML page of a report dict (as written to report.json)."""
    m, model, board = report.get("metrics", {}), report["model"], report.get("board", {})
    timing = board.get("timing", "")
    status = report["status"]
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
             f"<title>edgeloop validation: {_e(model['name'])}</title><style>{_CSS}</style></head><body>",
             f"<h1>Validation of <code>{_e(model['name'])}</code> on {_e(board.get('board', '?'))}</h1>",
             f"<p>Status: <span class='{'ok' if status == 'complete' else 'bad'}'>{_e(status)}</span>, "
             f"{report['completed']} of {report['total']} samples in {report.get('seconds', 0):.1f} s; "
             f"created {_e(report.get('created', ''))}. Timings are <span class='tag'>{_e(timing)}</span> "
             f"({_e(board.get('timing_source', ''))}).</p>"]
    if report.get("error"):
        parts.append(f"<p class='note'><b>Run stopped:</b> {_e(report['error'])}. The figures below cover the "
                     f"{report['completed']} samples done.</p>")
    for warning in report.get("warnings", []):
        parts.append(f"<p class='note'><b>Warning:</b> {_e(warning)}</p>")
    parts.append("<h2>Setup</h2>" + _table(("item", "value"), [
        ("model", _e(model["name"])), ("model hash (board)", f"<code>{_e(model['hash'])}</code>"),
        (".tflite", f"{_e(report['tflite'].get('path', ''))} <code>{_e(report['tflite']['sha256'])}</code>"),
        ("input", f"{_e(model['input']['dims'])} {_e(model['input']['dtype'])} ({_e(model['input_kind'])})"),
        ("output", f"{_e(model['output']['dims'])} {_e(model['output']['dtype'])}"),
        ("MACC", _e(model["macc"])), ("flash / RAM", f"{model['flash_bytes']} B / {model['ram_bytes']} B"),
        ("board", f"{_e(board.get('board', ''))}, firmware {_e(board.get('firmware', ''))}, {_e(board.get('url', ''))}"),
        ("clocks", f"CPU {board.get('cpu_hz', 0)} Hz, tick {board.get('tick_hz', 0)} Hz"),
        ("data", f"{_e(report['data']['source'])} ({report['data']['samples']} samples)"),
    ]))
    cls = m.get("classification")
    if cls:
        acc = cls["accuracy"]
        parts.append("<h2>Accuracy</h2>" + _table(("", "board", "reference (TFLite Micro)", "board = reference"), [
            (f"{cls['labeled_samples']} labeled samples", _pct(acc["board"]), _pct(acc["reference"]),
             _pct(acc["board_vs_reference"]))]))
        labels = cls["labels"]
        rows = []
        for b, r in zip(cls["per_class"]["board"], cls["per_class"]["reference"]):
            rows.append((_e(b["label"]), b["support"], _pct(b["recall"]), _pct(r["recall"]), _pct(b["precision"]),
                         _num(b["f1"], 3)))
        parts.append(_table(("class", "samples", "board accuracy", "reference accuracy", "board precision",
                             "board F1"), rows))
        parts.append("<div class='plots'>"
                     + svg_class_bars(labels, [b["recall"] for b in cls["per_class"]["board"]],
                                      [r["recall"] for r in cls["per_class"]["reference"]], "Accuracy per class")
                     + svg_confusion(cls["confusion"]["board"], labels, "Confusion matrix: board")
                     + svg_confusion(cls["confusion"]["reference"], labels, "Confusion matrix: reference")
                     + "</div>")
    reg = m.get("regression")
    if reg:
        parts.append("<h2>Error against the targets</h2>" + _table(("", "MAE", "RMSE"), [
            (who, _num(v["mae"]), _num(v["rmse"])) for who, v in reg.items()]))
    ag = m.get("agreement", {})
    if ag.get("samples"):
        verdict = "ok" if ag["exact_match_rate"] == 1.0 else "bad"
        parts.append("<h2>Output agreement: board vs reference</h2>" + _table(("figure", "value"), [
            ("exact match (whole output)", f"<span class='{verdict}'>{_pct(ag['exact_match_rate'])}</span>"),
            ("exact match (elements)", _pct(ag["element_exact_rate"])),
            ("max |diff| (output steps)", _num(ag["max_abs_diff_q"])),
            ("max |diff| (real)", _num(ag["max_abs_diff"])), ("RMSE", _num(ag["rmse"])), ("MAE", _num(ag["mae"])),
            ("L2 relative error", _num(ag["l2_relative"])), ("cosine similarity (mean / min)",
                                                             f"{_num(ag['cosine_mean'], 6)} / {_num(ag['cosine_min'], 6)}"),
        ]))
    lat = m.get("latency", {})
    if "ticks" in lat:
        t, us = lat["ticks"], lat["us"]
        rows = [(f"ticks ({_e(lat['tick_unit'])})", *(_num(t[k], 6) for k in ("mean", "min", "max", "std"))),
                ("µs", *(_num(us[k], 6) for k in ("mean", "min", "max", "std")))]
        parts.append(f"<h2>Device inference time <span class='tag'>{_e(lat['timing'])}</span></h2>"
                     + _table(("", "mean", "min", "max", "std"), rows))
        if "per_macc" in lat:
            pm = lat["per_macc"]
            parts.append(f"<p>{_num(pm['value'], 4)} {_e(pm['unit'])} ({_e(pm['timing'])}, "
                         f"{_e(model['macc'])} MACC per inference).</p>")
        if lat["timing"] != "measured":
            parts.append("<p class='note'>These are not measured MCU cycles: "
                         + ("a host board times with the host clock." if lat["timing"] == "host clock" else
                            "QEMU counts emulated instructions, not cycles.") + "</p>")
        hist = lat.get("histogram")
        if hist:
            parts.append(svg_histogram(hist["edges_us"], hist["counts"], f"t_infer ({lat['timing']})", "µs"))
    parts.append("<h2>Samples</h2>")
    rows = [(_e(s["name"]), _e(s.get("truth") or "—"), _e(s.get("board", "—")), _e(s.get("reference", "—")),
             s["max_abs_diff_q"], s["t_infer"]) for s in report.get("samples", [])[:500]]
    parts.append(_table(("sample", "truth", "board", "reference", "max |diff| (steps)", "t_infer (ticks)"), rows))
    if len(report.get("samples", [])) > 500 or report.get("samples_truncated"):
        parts.append("<p>Only the first 500 samples are listed here; report.json holds more.</p>")
    parts.append("</body></html>\n")
    return "".join(parts)


def _write_text_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_report(result: ValidationResult, out_dir: Path | str) -> tuple[Path, Path]:
    """Write out_dir/report.json and out_dir/report.html (each atomically); returns both paths."""
    out = Path(out_dir)
    report = result.to_json()
    json_path, html_path = out / "report.json", out / "report.html"
    with os_errors_explained(f"write the validation report to {out}"):
        out.mkdir(parents=True, exist_ok=True)
        write_json_atomic(json_path, report)
        _write_text_atomic(html_path, render_html(json.loads(json_path.read_text(encoding="utf-8"))))
    return json_path, html_path
