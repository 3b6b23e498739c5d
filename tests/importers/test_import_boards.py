"""Imported models on the virtual boards: each source's int8 model, compiled into the firmware, answers
INFER exactly as TFLite Micro does on the host board and on the Cortex-M7 image under QEMU."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from source_models import SOURCES

from edgeloop.models.compiler import compile_bytes
from edgeloop.models.importers import import_model
from edgeloop.models.importers.quant_error import int8_io

ON_BOARD = ("keras", "tflite-float", "onnx-float", "onnx-nchw", "onnx-qdq")


@pytest.fixture(scope="module")
def compiled_dirs(sources, tmp_path_factory):
    """{kind: (folder with NAME.c/.h, int8 .tflite bytes, quantized inputs)} for the on-board sources."""
    root = tmp_path_factory.mktemp("import-boards")
    out = {}
    for kind in ON_BOARD:
        src, cal = SOURCES[kind]
        im = import_model(sources[src], calib=sources[cal])
        name = "imp_" + kind.replace("-", "_")
        c = compile_bytes(im.int8_tflite, name=name)
        folder = root / name
        folder.mkdir()
        (folder / f"{name}.c").write_text(c.c_source)
        (folder / f"{name}.h").write_text(c.h_source)
        (s, z), _ = int8_io(im.int8_tflite)
        q = np.clip(np.round(im.board_input(im.calibration.x[:8]) / s) + z, -128, 127).astype(np.int8)
        out[kind] = (folder, im.int8_tflite, q)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("target", [
    "host",
    pytest.param("qemu", marks=[pytest.mark.qemu, pytest.mark.skipif(
        shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
        reason="needs qemu-system-arm and arm-none-eabi-gcc")]),
])
def test_imported_models_run_bit_exact_on_the_board(target, compiled_dirs):
    from edgeloop.app.link.boards import start_board
    from edgeloop.app.link.session import Session
    from edgeloop.app.validate.validator import ValidationData, validate_on_board

    kinds = list(compiled_dirs)
    with start_board(target, models=[compiled_dirs[k][0] for k in kinds], timeout=120) as board, \
            Session(board.url) as session:
        info = session.connect()
        for index, kind in enumerate(kinds):
            _, tflite, q = compiled_dirs[kind]
            assert info.models[index].name == "imp_" + kind.replace("-", "_")
            data = ValidationData([row.tobytes() for row in q], np.full(len(q), -1, np.int64),
                                  [f"x{i}" for i in range(len(q))], kind)
            result = validate_on_board(session, index, tflite, data)
            agreement = result.metrics["agreement"]
            assert result.status == "complete", result.error
            assert agreement["exact_match_rate"] == 1.0 and agreement["samples"] == len(q), (kind, agreement)


@pytest.mark.slow
def test_cli_validate_takes_the_float_source(sources, tmp_path, capsys):
    """compile MODEL.keras --calib, then validate --tflite MODEL.keras --calib: the same int8 model (hash
    check passes), the report holds float vs int8 and its per-layer table, in JSON and HTML."""
    import json
    import subprocess

    from edgeloop.app.cli import main
    from edgeloop.app.link.boards import start_board

    def cli(*args: str) -> subprocess.CompletedProcess:
        capsys.readouterr()
        code = main(list(args))
        out = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out.out, out.err)

    build = tmp_path / "build"
    run = cli("compile", str(sources["keras"]), "--calib", str(sources["calib"]), "--out", str(build),
              "--name", "kerasnet", "--labels", "a,b,c,d")
    assert run.returncode == 0, run.stderr
    with start_board("host", models=[build / "kerasnet.c"]) as board:
        report = tmp_path / "report"
        run = cli("validate", "--port", board.url, "--tflite", str(sources["keras"]), "--calib",
                  str(sources["calib"]), "--data", str(sources["calib"]), "--limit", "16", "--out", str(report),
                  "--no-progress", "--labels", "a,b,c,d")
    assert run.returncode == 0, run.stderr + run.stdout
    assert "exact match 100.00 %" in run.stdout and "quantization error per layer" in run.stdout
    data = json.loads((report / "report.json").read_text())
    assert data["metrics"]["float_vs_int8"]["layers"][0]["op"] == "CONV_2D"
    assert (report / "kerasnet.tflite").read_bytes() == (build / "kerasnet.tflite").read_bytes()
    assert "Quantization error per layer" in (report / "report.html").read_text()
