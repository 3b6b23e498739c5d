"""The compile and analyze commands, the sidecar metadata, errors, and the README's standalone example."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import numpy as np
import pytest
from conftest import FIXTURES

import edgeloop
from edgeloop.app.cli import main
from edgeloop.models.compiler.host import kernel_sources
from edgeloop.models.compiler import CompileError, TFLiteFormatError, UnsupportedError, compile_bytes
from edgeloop.models.compiler.tflite_writer import ModelBuilder

DENSE = FIXTURES / "random_03.tflite"      # FULLY_CONNECTED + SOFTMAX, int8 in/out
FLOAT_IO = FIXTURES / "random_19.tflite"   # QUANTIZE ... LOGISTIC ... DEQUANTIZE


def _tanh_model() -> bytes:
    b = ModelBuilder()
    x = b.tensor((1, 4), scale=0.1, zero_point=0)
    y = b.tensor((1, 4), scale=1 / 128, zero_point=0)
    b.op("TANH", [x], [y])
    return b.build([x], [y])


def test_compile_writes_c_and_header_with_descriptor(tmp_path, capsys) -> None:
    meta = {"labels": [f"act{i}" for i in range(5)], "input_kind": "imu-features"}
    data = DENSE.read_bytes()
    n_out = compile_bytes(data, name="x").graph.model.tensors[compile_bytes(data, name="x").graph.output].size
    meta["labels"] = [f"act{i}" for i in range(n_out)]
    (tmp_path / "m.meta.json").write_text(json.dumps(meta))
    shutil.copy(DENSE, tmp_path / "m.tflite")
    assert main(["compile", str(tmp_path / "m.tflite"), "--out", str(tmp_path / "out"), "--name", "imu"]) == 0
    assert "imu:" in capsys.readouterr().out
    c = (tmp_path / "out" / "imu.c").read_text()
    h = (tmp_path / "out" / "imu.h").read_text()
    assert "const nn_model_t nn_model_imu" in c and "#define IMU_ARENA_BYTES" in h
    assert '"act0"' in c and ".input_kind = 3" in c
    import hashlib

    digest = hashlib.sha256(data).digest()
    assert ".hash = {" + ", ".join(f"0x{b:02x}" for b in digest) + "}" in c
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]


def test_default_labels_and_regression(tmp_path) -> None:
    r = compile_bytes(DENSE.read_bytes(), name="cls")
    assert r.labels[0] == "class0" and len(r.labels) == r.graph.model.tensors[r.graph.output].size
    b = ModelBuilder()
    x = b.tensor((1, 3), scale=0.1, zero_point=0)
    w = b.tensor((1, 3), scale=[0.01], data=np.array([[1, 2, 3]], np.int8))
    y = b.tensor((1, 1), scale=0.05, zero_point=0)
    b.op("FULLY_CONNECTED", [x, w, -1], [y], "FullyConnectedOptions")
    assert compile_bytes(b.build([x], [y]), name="reg").labels == ()


def test_sidecar_errors_are_clear(tmp_path) -> None:
    shutil.copy(DENSE, tmp_path / "m.tflite")
    cases = [({"labels": ["a"]}, "labels given"), ({"input_kind": "video"}, "input_kind"),
             ({"window": -1, "input_kind": "imu-window"}, "window"), ({"colour": 1}, "unknown keys")]
    for meta, fragment in cases:
        (tmp_path / "m.meta.json").write_text(json.dumps(meta))
        with pytest.raises(CompileError, match=fragment):
            from edgeloop.models.compiler import compile_file

            compile_file(tmp_path / "m.tflite", tmp_path / "out")
    (tmp_path / "m.meta.json").write_text("{not json")
    assert main(["compile", str(tmp_path / "m.tflite"), "--out", str(tmp_path / "out")]) == 2


def test_unsupported_op_names_op_index_and_writes_nothing(tmp_path, capsys) -> None:
    (tmp_path / "t.tflite").write_bytes(_tanh_model())
    rc = main(["compile", str(tmp_path / "t.tflite"), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2 and "operator 0 (TANH) is not supported" in err and "CONV_2D" in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.parametrize("mutate", ["truncate", "identifier", "garbage", "empty", "offsets"])
def test_corrupt_files_raise_format_errors(mutate: str) -> None:
    data = bytearray(DENSE.read_bytes())
    rng = np.random.default_rng(3)
    if mutate == "truncate":
        data = data[: len(data) // 3]
    elif mutate == "identifier":
        data[4:8] = b"ABCD"
    elif mutate == "garbage":
        data = bytearray(rng.integers(0, 256, 4000, dtype=np.uint8).tobytes())
    elif mutate == "empty":
        data = bytearray()
    else:
        data[0:4] = (len(data) + 1000).to_bytes(4, "little")
    with pytest.raises(TFLiteFormatError):
        compile_bytes(bytes(data), name="bad")


def test_random_byte_flips_never_crash() -> None:
    """Any corruption gives a CompileError or a compiled model, never another exception."""
    data = DENSE.read_bytes()
    rng = np.random.default_rng(11)
    for _ in range(300):
        buf = bytearray(data)
        for pos in rng.integers(0, len(buf), int(rng.integers(1, 8))):
            buf[pos] = int(rng.integers(0, 256))
        try:
            compile_bytes(bytes(buf), name="fuzz")
        except CompileError:
            pass


def test_bad_name_is_rejected() -> None:
    with pytest.raises(CompileError, match="C identifier"):
        compile_bytes(DENSE.read_bytes(), name="9lives")


def test_unsupported_dtype_is_named() -> None:
    b = ModelBuilder()
    x = b.tensor((1, 4), "int16", scale=0.1, zero_point=0)
    y = b.tensor((1, 4), "int16", scale=0.1, zero_point=0)
    b.op("ADD", [x, x], [y], "AddOptions")
    with pytest.raises(UnsupportedError, match="int16"):
        compile_bytes(b.build([x], [y]), name="i16")


def test_analyze_json_reports_layers_and_beats_tflm_arena(capsys) -> None:
    assert main(["analyze", str(FIXTURES / "random_20.tflite"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    t = report["totals"]
    assert t["macc"] == sum(r["macc"] for r in report["layers"]) > 0
    assert t["arena_bytes"] <= t["tflm_arena_bytes"]
    assert t["weight_bytes"] <= t["flatbuffer_bytes"]
    if shutil.which("arm-none-eabi-gcc"):
        assert t["arm"]["text"] >= t["weight_bytes"]
    assert main(["analyze", str(FIXTURES / "random_20.tflite"), "--no-arm"]) == 0
    table = capsys.readouterr().out
    assert "CONCATENATION" in table and "TFLite Micro arena" in table


def _readme_example() -> str:
    text = (edgeloop.FIRMWARE_DIR / "nn" / "README.md").read_text()
    blocks = re.findall(r"```c\n(.*?)```", text, re.S)
    return next(b for b in blocks if "int main" in b)


@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler")
def test_readme_example_builds_with_plain_cc_from_an_empty_directory(tmp_path) -> None:
    b = ModelBuilder()
    x = b.tensor((1, 1), scale=0.02, zero_point=-128)
    w = b.tensor((1, 1), scale=[0.01], data=np.array([[100]], np.int8))
    y = b.tensor((1, 1), scale=0.01, zero_point=0)
    b.op("FULLY_CONNECTED", [x, w, -1], [y], "FullyConnectedOptions")
    (tmp_path / "sine.tflite").write_bytes(b.build([x], [y]))
    work = tmp_path / "empty"
    work.mkdir()
    assert main(["compile", str(tmp_path / "sine.tflite"), "--out", str(work), "--name", "sine"]) == 0
    for f in (*(edgeloop.FIRMWARE_DIR / "nn").glob("nn_*.h"), *kernel_sources()):
        shutil.copy(f, work / f.name)
    (work / "main.c").write_text(_readme_example())
    for opt in ("0", "1"):
        # the README's command line, with warnings as errors
        subprocess.run(f"cc -std=c11 -O2 -Wall -Wextra -pedantic -Werror -DNN_OPTIMIZED={opt} -o sine main.c sine.c "
                       "nn_ref.c nn_paths.c nn_opt_*.c -lm", shell=True, cwd=work, check=True, capture_output=True,
                       timeout=120)
        out = subprocess.run(["./sine"], cwd=work, capture_output=True, text=True, timeout=30, check=True).stdout
        # 1.0 -> q=-78; acc = 100*(-78+128) = 5000; M = 0.02*0.01/0.01 = 0.02 -> 100 -> real 1.0
        assert out.startswith("sine: 1 MACs") and "y[0] = 100 (real 1.000000)" in out, out


def test_invoke_rejects_null_pointers_and_a_misaligned_arena(tmp_path) -> None:
    from edgeloop.models.compiler.host import HostModel

    result = compile_bytes(DENSE.read_bytes(), name="args")
    (tmp_path / "args.c").write_text(result.c_source)
    (tmp_path / "args.h").write_text(result.h_source)
    host = HostModel(tmp_path, "args", build_dir=tmp_path / "b")
    t_in = result.graph.model.tensors[result.graph.input]
    t_out = result.graph.model.tensors[result.graph.output]
    x = np.zeros(t_in.shape, np.int8)
    y = np.zeros(t_out.size, np.int8)
    arena = np.zeros(result.arena_bytes + 32, np.uint8)
    base = (arena.ctypes.data + 15) // 16 * 16
    assert host.invoke_raw(x, y, base) == 0                    # NN_OK
    assert host.invoke_raw(x, y, base + 4) == 1                # NN_ERR_ARGUMENT: misaligned
    assert host.invoke_raw(None, y, base) == 1
    assert host.invoke_raw(x, None, base) == 1
    assert host.invoke_raw(x, y, None) == 1


def test_analyze_says_where_the_parts_land_on_the_nucleo() -> None:
    from edgeloop.models.compiler.analyze import NUCLEO_DTCM_ARENA_ROOM, nucleo_placement

    small = nucleo_placement(10_240, 10_000)
    assert (small["arena"], small["tcm1_arena"], small["tcm1_kernels"]) == ("AXI SRAM", "DTCM", "ITCM")
    big = nucleo_placement(NUCLEO_DTCM_ARENA_ROOM + 16, 70_000)
    assert big["tcm1_arena"].startswith("does not fit DTCM") and big["tcm1_kernels"] == "does not fit ITCM"
