"""Import rows of bench/compiler.py: per source format, import + quantize time, float vs int8 L2r, and the
exact-match rate of the compiled model against TFLite Micro on the Cortex-M7 under QEMU (host C without QEMU).

The source files are the importer tests' models (tests/importers/source_models.py): one small Keras CNN
saved in every TensorFlow format and exported with tf2onnx, and a PyTorch-style NCHW ONNX graph quantized
to QDQ by onnxruntime.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import edgeloop
from edgeloop.models.compiler import compile_bytes
from edgeloop.models.importers import compare, import_model
from edgeloop.models.importers.quant_error import int8_io
from edgeloop.models.reference import run_reference_batch

ROWS = {"keras": ("keras", "calib"), "h5": ("h5", "calib"), "savedmodel": ("savedmodel", "calib"),
        "tflite-float": ("tflite-float", "calib"), "onnx-float": ("onnx-float", "calib"),
        "onnx-float-nchw": ("onnx-nchw", "calib_nchw"), "onnx-qdq": ("onnx-qdq", "calib_nchw")}
SAMPLES = 16


def _exact_on_target(tflite: bytes, q: np.ndarray, work: Path, qemu: bool) -> float:
    """Share of samples whose compiled outputs equal TFLite Micro's: QEMU Cortex-M7 image or host C."""
    name = "import_model"
    compiled = compile_bytes(tflite, name=name)
    work.mkdir(parents=True, exist_ok=True)
    (work / f"{name}.c").write_text(compiled.c_source)
    (work / f"{name}.h").write_text(compiled.h_source)
    expected = run_reference_batch(tflite, q)
    if qemu:
        from edgeloop.app.link.qemu import build_bare_metal, run_bare_metal
        from edgeloop.models.compiler.harness import harness_source, parse_result

        (work / "main.c").write_text(harness_source(name, q, expected))
        nn = edgeloop.FIRMWARE_DIR / "nn"
        elf = build_bare_metal([work / "main.c", work / f"{name}.c", nn / "nn_ref.c", nn / "nn_opt.c"], work / "opt",
                               includes=[work], name=name)
        res = parse_result(run_bare_metal(elf, timeout=300).output)
        return 1.0 - res["mismatches"] / res["runs"]
    from edgeloop.models.compiler.host import HostModel

    out = compiled.graph.model.tensors[compiled.graph.output]
    host = HostModel(work, name, optimized=True, build_dir=work / "host")
    got = np.stack([host(x, out.np_dtype, out.size) for x in q]).reshape(expected.shape)
    return float(np.mean(np.all(got.reshape(len(q), -1) == expected.reshape(len(q), -1), axis=1)))


def import_figures(work: Path, qemu: bool) -> dict[str, dict]:
    """{format: {seconds, l2r, cosine, exact_match_rate, target}} for every source format."""
    sys.path.insert(0, str(edgeloop.PACKAGE_ROOT / "tests" / "importers"))
    from source_models import build_sources

    sources = build_sources(work / "sources")
    rows: dict[str, dict] = {}
    for fmt, (src, cal) in ROWS.items():
        imported = import_model(sources[src], calib=sources[cal])
        comp = compare(imported)
        (s, z), _ = int8_io(imported.int8_tflite)
        q = np.clip(np.round(imported.board_input(imported.calibration.x[:SAMPLES]) / s) + z, -128, 127)
        exact = _exact_on_target(imported.int8_tflite, q.astype(np.int8), work / fmt, qemu)
        rows[fmt] = {"seconds": round(imported.seconds, 3), "l2r": round(comp["output"]["l2r"], 5),
                     "cosine": round(comp["output"]["cosine"], 6), "exact_match_rate": exact,
                     "target": "qemu-mps2-an500 (Cortex-M7 image)" if qemu else "host C build",
                     "float_reference": imported.float_reference}
        r = rows[fmt]
        print(f"import/{fmt:18s} {r['seconds']:6.2f} s  float vs int8 L2r {r['l2r']:.4f}  exact match on "
              f"{r['target']}: {100 * r['exact_match_rate']:.1f} %", flush=True)
    return rows
