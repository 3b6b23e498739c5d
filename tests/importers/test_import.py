"""Model import: every source format to an int8 .tflite that compiles bit-exact with TFLite Micro;
float vs int8 figures; clear errors for missing or wrong calibration data and unsupported operators."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
from source_models import SOURCES

from edgeloop.models.compiler import compile_bytes
from edgeloop.models.compiler.host import HostModel
from edgeloop.models.compiler.tflite_reader import read_tflite
from edgeloop.models.importers import (CalibrationError, ModelImportError, UnsupportedOperatorError, compare,
                                       import_model)
from edgeloop.models.importers.quant_error import int8_io
from edgeloop.models.reference import run_reference_batch

pytestmark = pytest.mark.slow

EXPECTED_FORMAT = {"onnx-nchw": "onnx-float"}


@pytest.fixture(scope="module")
def imported(sources):
    """Every source imported once with its calibration set."""
    return {kind: import_model(sources[src], calib=sources[cal]) for kind, (src, cal) in SOURCES.items()}


@pytest.mark.parametrize("kind", list(SOURCES))
def test_every_source_compiles_bit_exact_with_tflite_micro(kind, imported, tmp_path):
    """The int8 model of each source format, compiled to C (reference and optimized kernels), gives
    TFLite Micro's outputs byte for byte on the calibration inputs."""
    im = imported[kind]
    assert im.format == EXPECTED_FORMAT.get(kind, kind)
    compiled = compile_bytes(im.int8_tflite, name="imported")
    (tmp_path / "imported.c").write_text(compiled.c_source)
    (tmp_path / "imported.h").write_text(compiled.h_source)
    (s_in, z_in), _ = int8_io(im.int8_tflite)
    xb = im.board_input(im.calibration.x[:6])
    q = np.clip(np.round(xb / s_in) + z_in, -128, 127).astype(np.int8)
    expected = run_reference_batch(im.int8_tflite, q)
    out = compiled.graph.model.tensors[compiled.graph.output]
    for optimized in (False, True):
        host = HostModel(tmp_path, "imported", optimized=optimized, build_dir=tmp_path / str(optimized))
        got = np.stack([host(x, out.np_dtype, out.size) for x in q]).reshape(expected.shape)
        assert np.array_equal(got, expected), f"{kind} optimized={optimized}: {np.sum(got != expected)} differ"


def test_tf_sources_give_the_same_int8_model(imported):
    """.keras, .h5, SavedModel and the float .tflite of one network quantize to identical weights."""
    def weights(data: bytes) -> list[bytes]:
        m = read_tflite(data)
        return sorted(t.data.tobytes() for t in m.tensors if t.data is not None and t.type_code == 9)

    reference = weights(imported["keras"].int8_tflite)
    for kind in ("h5", "savedmodel", "tflite-float", "onnx-float"):
        assert weights(imported[kind].int8_tflite) == reference, kind


@pytest.mark.parametrize("kind", list(SOURCES))
def test_float_vs_int8_report(kind, imported):
    """Output L2r, cosine and max |diff| always; accuracies with labels; a per-layer table for float graphs."""
    comp = compare(imported[kind])
    out = comp["output"]
    assert out["samples"] == 64
    assert 0 < out["l2r"] < 0.05 and out["cosine"] > 0.999 and 0 < out["max_abs_diff"] < 0.1
    assert set(out["accuracy"]) == {"float", "int8"} and out["top1_agreement"] > 0.9
    if kind == "onnx-qdq":  # against the QDQ graph's own quantized tensors: at most a rounding step apart
        assert [r["op"] for r in comp["layers"]] == ["CONV_2D", "MAX_POOL_2D", "RESHAPE", "FULLY_CONNECTED",
                                                     "SOFTMAX"]
        assert "QDQ graph" in comp["layers_reference"]
        assert all(r["max_abs_diff_steps"] <= 1.001 and r["cosine"] > 0.9999 for r in comp["layers"]), \
            comp["layers"]
        return
    ops = [r["op"] for r in comp["layers"]]
    assert ops[0] == "CONV_2D" and ops[-1] == "SOFTMAX" and "FULLY_CONNECTED" in ops
    for row in comp["layers"]:
        assert 0 <= row["l2r"] < 0.05 and row["cosine"] > 0.999 and row["max_abs_diff_steps"] < 8


def test_onnx_nchw_input_is_fed_channels_last(imported, sources):
    """A PyTorch-style NCHW model takes NCHW calibration data; the board model is NHWC and says so."""
    im = imported["onnx-nchw"]
    assert im.source_layout == "NCHW" and im.source_input_shape == (3, 10, 10)
    m = read_tflite(im.int8_tflite)
    assert m.tensors[m.inputs[0]].shape == (1, 10, 10, 3)
    pre = im.preprocess()
    assert pre["source_layout"] == "NCHW" and pre["layout"] == "NHWC" and im.input_kind() == "image"


def test_qdq_keeps_the_files_scales(imported, sources):
    """The QDQ importer writes the file's input scale and per-channel weight scales unchanged."""
    import onnx
    from onnx import numpy_helper

    g = onnx.load(str(sources["onnx-qdq"])).graph
    consts = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    first_q = next(n for n in g.node if n.op_type == "QuantizeLinear")
    conv_w_dq = next(n for n in g.node if n.op_type == "DequantizeLinear" and n.input[0] in consts
                     and consts[n.input[0]].ndim == 4)
    m = read_tflite(imported["onnx-qdq"].int8_tflite)
    inp = m.tensors[m.inputs[0]]
    assert np.float32(inp.quant.scale[0]) == np.float32(consts[first_q.input[1]])
    assert inp.quant.zero_point[0] == int(consts[first_q.input[2]])
    conv = next(op for op in m.operators if op.name == "CONV_2D")
    w = m.tensors[conv.inputs[1]]
    np.testing.assert_array_equal(w.quant.scale, consts[conv_w_dq.input[1]].astype(np.float32))
    np.testing.assert_array_equal(w.data, consts[conv_w_dq.input[0]].transpose(0, 2, 3, 1))


def test_float_model_without_calibration_names_the_option(sources):
    with pytest.raises(ModelImportError, match="--calib"):
        import_model(sources["keras"])
    sized = import_model(sources["onnx-nchw"], structure_only=True)
    assert sized.structure_only and compile_bytes(sized.int8_tflite, name="m").macc > 0


def test_few_calibration_samples_warn_and_continue(sources, tmp_path):
    x = np.load(sources["calib"])["x"][:5]
    np.savez(tmp_path / "few.npz", x=x)
    im = import_model(sources["tflite-float"], calib=tmp_path / "few.npz")
    assert any("only 5 calibration samples" in w for w in im.warnings)
    assert len(im.int8_tflite) > 0


def test_wrong_shaped_calibration_is_a_clear_error(sources, tmp_path):
    np.savez(tmp_path / "wrong.npz", x=np.zeros((10, 12, 12, 1), np.float32))
    with pytest.raises(CalibrationError, match=r"shape \[10, 12, 12, 1\].*N samples of shape \[12, 12, 3\]"):
        import_model(sources["keras"], calib=tmp_path / "wrong.npz")


def _onnx_with(op_type: str, path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((4, 3, 1, 1), np.float32), "w")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[1, 1]),
             helper.make_node(op_type, ["c"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    onnx.save(model, str(path))


@pytest.mark.parametrize("op_type, replacement", [("LeakyRelu", "ReLU"), ("HardSwish", "ReLU6")])
def test_unsupported_operator_is_named_with_layer_and_replacement(op_type, replacement, tmp_path):
    _onnx_with(op_type, tmp_path / "m.onnx")
    with pytest.raises(UnsupportedOperatorError) as err:
        import_model(tmp_path / "m.onnx", structure_only=True)
    text = str(err.value)
    assert f"layer 1 ({op_type})" in text and "supported ONNX operators: Conv, Gemm" in text
    assert f"the usual replacement: {replacement}" in text


def _cli(capsys, *args: str) -> subprocess.CompletedProcess:
    """Run the CLI in this process (TensorFlow is loaded once for the whole module)."""
    from edgeloop.app.cli import main

    capsys.readouterr()
    code = main(list(args))
    out = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, out.out, out.err)


def test_cli_compile_and_analyze_import(sources, tmp_path, capsys):
    """compile writes the int8 .tflite, sidecars and C; analyze sizes a float model without --calib and
    reports float vs int8 with it."""
    out = tmp_path / "build"
    run = _cli(capsys, "compile", str(sources["onnx-nchw"]), "--calib", str(sources["calib_nchw"]), "--out",
               str(out), "--name", "torch", "--labels", "a,b,c,d")
    assert run.returncode == 0, run.stderr
    assert "L2 relative error" in run.stdout and "quantization error per layer" in run.stdout
    assert {p.name for p in out.iterdir()} >= {"torch.tflite", "torch.c", "torch.h", "torch.meta.json",
                                               "torch.preprocess.json"}
    assert json.loads((out / "torch.meta.json").read_text())["labels"] == ["a", "b", "c", "d"]
    assert '"a"' in (out / "torch.c").read_text()
    run = _cli(capsys, "analyze", str(sources["keras"]), "--no-arm")
    assert run.returncode == 0, run.stderr
    assert "MACs" in run.stdout and "pass --calib DATA" in run.stdout and "TFLite Micro arena" in run.stdout
    assert "arena plan:" in run.stdout and "<- peak live" in run.stdout
    html = tmp_path / "analyze.html"
    run = _cli(capsys, "analyze", str(sources["keras"]), "--no-arm", "--no-tflm", "--json", "--calib",
               str(sources["calib"]), "--html", str(html))
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["import"]["format"] == "keras" and report["float_vs_int8"]["layers"]
    assert report["memory_map"]["buffers"]
    page = html.read_text()
    assert "Arena plan" in page and "Quantization error per layer" in page and "<svg" in page
    run = _cli(capsys, "compile", str(sources["keras"]), "--out", str(tmp_path / "x"))
    assert run.returncode != 0 and "--calib" in run.stderr and "Traceback" not in run.stderr


def test_validate_feeds_nchw_data_in_the_boards_layout(imported, sources):
    """validate --data x.npz of an NCHW source's inputs reaches the board channels-last, values unchanged."""
    from edgeloop.app.commands.validate import _board_layout_data

    with _board_layout_data(sources["calib_nchw"], imported["onnx-nchw"]) as path:
        x = np.load(path)["x"]
    nchw = np.load(sources["calib_nchw"])["x"]
    np.testing.assert_array_equal(x, nchw.transpose(0, 2, 3, 1))
    with _board_layout_data(sources["calib"], imported["keras"]) as path:
        assert path == sources["calib"]
