"""Float against int8: output error, accuracy, and where the error comes from, layer by layer.

The int8 model runs in TFLite Micro's interpreter (the board's oracle) on the
calibration/evaluation inputs quantized with its input parameters; the float
model runs as imported (LiteRT for TensorFlow sources, onnxruntime for ONNX).
Per layer, each int8 activation (dequantized) is compared with the float
tensor of the same name, computed by LiteRT's reference kernels.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def error_stats(reference: np.ndarray, value: np.ndarray) -> dict[str, float]:
    """L2 relative error, mean cosine similarity over samples and max |diff| of `value` against `reference`."""
    r = np.asarray(reference, np.float64).reshape(len(reference), -1)
    v = np.asarray(value, np.float64).reshape(len(value), -1)
    d = v - r
    norm = float(np.linalg.norm(r))
    nr, nv = np.linalg.norm(r, axis=1), np.linalg.norm(v, axis=1)
    cos = np.where((nr > 0) & (nv > 0), np.sum(r * v, axis=1) / np.maximum(nr * nv, 1e-300),
                   np.where((nr > 0) == (nv > 0), 1.0, 0.0))
    return {"l2r": float(np.linalg.norm(d) / norm) if norm else float(bool(d.any())),
            "cosine": float(np.mean(cos)), "max_abs_diff": float(np.abs(d).max()) if d.size else 0.0}


def int8_io(int8_tflite: bytes) -> tuple[tuple[float, int], tuple[float, int]]:
    """((input scale, zero point), (output scale, zero point)) of an int8 model."""
    from edgeloop.models.compiler.tflite_reader import read_tflite

    m = read_tflite(bytes(int8_tflite))
    pairs = []
    for t in (m.tensors[m.inputs[0]], m.tensors[m.outputs[0]]):
        if t.quant is None or t.type_code != 9:
            raise ValueError(f"tensor {t.name!r} is {t.dtype_name}, not quantized int8")
        pairs.append((float(t.quant.scale[0]), int(t.quant.zero_point[0])))
    return pairs[0], pairs[1]


def run_int8(int8_tflite: bytes, x_board: np.ndarray) -> np.ndarray:
    """Dequantized outputs of the int8 model under TFLite Micro for float inputs (N, board input shape)."""
    from edgeloop.models.reference import run_reference_batch

    (s_in, z_in), (s_out, z_out) = int8_io(int8_tflite)
    q = np.clip(np.round(np.asarray(x_board, np.float64) / s_in) + z_in, -128, 127).astype(np.int8)
    out = run_reference_batch(bytes(int8_tflite), q)
    return (out.astype(np.float32) - z_out) * np.float32(s_out)


def float_vs_int8(float_out: np.ndarray, int8_out: np.ndarray, y: np.ndarray | None = None) -> dict[str, Any]:
    """Output error of int8 against float, plus both accuracies when `y` holds class indices."""
    n = len(float_out)
    report: dict[str, Any] = {"samples": n, **error_stats(float_out, int8_out)}
    f, q = float_out.reshape(n, -1), int8_out.reshape(n, -1)
    if y is not None and f.shape[1] >= 2 and len(y) == n and np.all(y < f.shape[1]):
        report["accuracy"] = {"float": float(np.mean(np.argmax(f, 1) == y)),
                              "int8": float(np.mean(np.argmax(q, 1) == y))}
        report["top1_agreement"] = float(np.mean(np.argmax(f, 1) == np.argmax(q, 1)))
    return report


def layer_errors(float_tensors: dict[str, np.ndarray], int8_tflite: bytes, x_board: np.ndarray
                 ) -> list[dict[str, Any]]:
    """One row per int8 operator output that has a float counterpart (`float_tensors`, by tensor name,
    stacked over the samples of `x_board`) of the same size.

    Rows are in graph order: operator index and name, tensor, shape, scale,
    then l2r, cosine, max |diff| (real units) and max |diff| in int8 steps.
    """
    from edgeloop.models.compiler.tflite_reader import read_tflite
    from edgeloop.models.importers.tf_models import tensor_values

    (s_in, z_in), _ = int8_io(int8_tflite)
    q_in = np.clip(np.round(np.asarray(x_board, np.float64) / s_in) + z_in, -128, 127).astype(np.int8)
    fvals = float_tensors
    qvals = tensor_values(int8_tflite, q_in)
    model = read_tflite(bytes(int8_tflite))
    rows = []
    for op in model.operators:
        for t_index in op.outputs:
            t = model.tensors[t_index]
            if t.type_code != 9 or t.name not in fvals or t.name not in qvals:
                continue
            f, q = fvals[t.name], qvals[t.name]
            if f.size != q.size:
                continue
            stats = error_stats(f, q)
            scale = float(t.quant.scale[0]) if t.quant is not None else 0.0
            rows.append({"operator": op.index, "op": op.name, "tensor": t.name, "shape": list(t.shape),
                         "scale": scale, **stats,
                         "max_abs_diff_steps": stats["max_abs_diff"] / scale if scale else None})
    return rows


def format_comparison(comp: dict[str, Any]) -> str:
    """Lines of text for the float-vs-int8 section of a report."""
    out = comp["output"]
    lines = [f"float vs int8 ({comp['float_reference']} vs TFLite Micro, {out['samples']} samples of "
             f"{comp['data']}): L2 relative error {out['l2r']:.4f}, cosine {out['cosine']:.5f}, "
             f"max |diff| {out['max_abs_diff']:.4g}"]
    if "accuracy" in out:
        acc = out["accuracy"]
        lines.append(f"accuracy: float {100 * acc['float']:.2f} %, int8 {100 * acc['int8']:.2f} %, "
                     f"top-1 agreement {100 * out['top1_agreement']:.2f} %")
    layers = comp.get("layers") or []
    if layers:
        lines.append(f"quantization error per layer (int8 dequantized vs float; float: "
                     f"{comp.get('layers_reference', 'LiteRT reference kernels')}):")
        lines.append(f"  {'op#':>3}  {'op':18} {'shape':16} {'l2r':>8} {'cosine':>9} {'max|diff|':>10} {'steps':>7}")
        for r in layers:
            steps = "" if r["max_abs_diff_steps"] is None else f"{r['max_abs_diff_steps']:.1f}"
            lines.append(f"  {r['operator']:>3}  {r['op'][:18]:18} {'x'.join(map(str, r['shape']))[:16]:16} "
                         f"{r['l2r']:8.4f} {r['cosine']:9.5f} {r['max_abs_diff']:10.4g} {steps:>7}")
    elif comp.get("layers_note"):
        lines.append(comp["layers_note"])
    return "\n".join(lines)
