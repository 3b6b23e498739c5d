"""Deploy over the link on the virtual boards (host process and QEMU): the uploaded model runs
bit-exact with TFLite Micro, a cut link or a killed board never leaves a half model active, an
interrupted upload resumes, and a board without slots answers UNKNOWN_TYPE."""

from __future__ import annotations

import hashlib
import random
import socket
import subprocess
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest

import edgeloop
from edgeloop.app.link.boards import VirtualBoard, start_board
from edgeloop.app.link.firmware_build import TEST_MODELS as FIRMWARE_TEST_MODELS
from edgeloop.app.link.deploy import DeployError, UploadLink, deploy, load_container
from edgeloop.models.reference import run_reference_batch
from edgeloop.protocol import (
    DescribeModel,
    Error,
    ErrorCode,
    Infer,
    ModelDescription,
    ModelDescriptor,
    Result,
    SelectModel,
    encode_message,
)
from edgeloop.protocol.upload import (SlotErase, SlotInfo, SlotState, UploadBegin, UploadChunk, UploadCommit,
                                      UploadError)

ZOO = edgeloop.PACKAGE_ROOT / "models" / "zoo"
COMPILED_MODELS = 3   # sine, mean64, mean96: the slots are models 3 and 4


class Link(UploadLink):
    """The deploy client as a test client: request() returns the typed reply."""

    def __init__(self, url: str) -> None:
        super().__init__(url, timeout=10)

    def request(self, message, *, attempts: int = 3):  # noqa: ANN001, ANN201
        return super().request(message, attempts=attempts)[0]

    request_retrying = request


def _leave_clean(url: str) -> None:
    """The session board is shared: erase both slots and reselect model 0."""
    lk = Link(url)
    for slot in (0, 1):
        lk.request(SlotErase(slot))
    lk.request(SelectModel(0))
    lk.close()


def test_a_deployed_model_runs_bit_exact_with_tflm_and_is_listed_as_uploaded(board: VirtualBoard) -> None:
    tflite = (ZOO / "bottles_tiny" / "bottles_tiny.tflite").read_bytes()
    seen: list[tuple[int, int]] = []
    try:
        result = deploy(board.url, load_container(ZOO / "bottles_tiny" / "bottles_tiny.tflite"),
                        progress=lambda d, t: seen.append((d, t)), timeout=10)
        assert result.model.name == "bottles_tiny" and result.model.uploaded
        assert result.model_id == COMPILED_MODELS and result.committed.active_model == COMPILED_MODELS
        assert result.model.hash == hashlib.sha256(tflite).digest()
        assert seen[-1][0] == seen[-1][1] == result.container_bytes
        xs = np.random.default_rng(0).integers(-128, 128, (3, 1, 64, 64, 1), dtype=np.int8)
        want = run_reference_batch(tflite, xs)
        lk = Link(board.url)
        for x, y in zip(xs, want):
            reply = lk.request(Infer(0xFF, x.tobytes()))   # the active model: the uploaded one
            assert isinstance(reply, Result) and reply.model == COMPILED_MODELS
            assert np.array_equal(np.frombuffer(reply.output, np.int8), y.reshape(-1))
        lk.close()
        link = UploadLink(board.url, timeout=10)
        info, slots = link.info()
        link.close()
        listed = {m.model_id: m for m in info.models}
        assert listed[COMPILED_MODELS].uploaded and not listed[0].uploaded
        assert [s.state for s in slots] == [SlotState.LOADED, SlotState.EMPTY] and info.slots == slots
        lk = Link(board.url)   # DESCRIBE_MODEL (§9.5) pages a slot model's descriptor like a compiled one
        body = bytearray()
        while True:
            page = lk.request(DescribeModel(COMPILED_MODELS, len(body), 100))
            assert isinstance(page, ModelDescription) and page.offset == len(body), page
            body += page.chunk
            if len(body) == page.total:
                break
        lk.close()
        assert ModelDescriptor.decode_body(bytes(body), "slot model") == listed[COMPILED_MODELS]
    finally:
        _leave_clean(board.url)


def _drain(s: socket.socket, quiet: float = 0.5) -> None:
    """Read replies until the board has been silent for `quiet` seconds (a QEMU UART is slow, and
    QEMU drops what a closed connection left unread)."""
    s.settimeout(quiet)
    try:
        while s.recv(4096):
            pass
    except TimeoutError:
        pass


def _tcp(url: str) -> socket.socket:
    u = urlparse(url)
    return socket.create_connection((u.hostname, u.port), timeout=5)


def test_a_cut_link_at_random_points_never_activates_a_half_model_and_the_upload_resumes(
        board: VirtualBoard) -> None:
    blob = load_container(ZOO / "imu_activity" / "imu_activity.tflite")
    sha = hashlib.sha256(blob).digest()
    chunk = 1024
    wire = encode_message(UploadBegin(0, len(blob), chunk, sha), seq=1)
    for k in range(0, len(blob), chunk):
        wire += encode_message(UploadChunk(0, k, blob[k:k + chunk]), seq=2 + k // chunk)
    rng = random.Random(7)
    try:
        for cut in sorted(rng.sample(range(len(wire) // 4, len(wire) - 10), 3)):
            s = _tcp(board.url)
            s.sendall(b"\x00" + wire[:cut])                # the link dies mid-frame...
            _drain(s)                                      # ...after the board took what was sent
            s.close()
            lk = Link(board.url)
            sine = lk.request_retrying(Infer(0xFF, bytes([40])))
            assert isinstance(sine, Result) and sine.model == 0      # the active model keeps serving
            lk.close()
            link = UploadLink(board.url, timeout=10)
            info, slots = link.info()
            link.close()
            assert info.active_model == 0 and all(not m.uploaded for m in info.models)
            assert slots[0].state in (SlotState.RECEIVING, SlotState.EMPTY)
        result = deploy(board.url, blob, slot=0, timeout=10, chunk_bytes=chunk)   # resumes what the board holds
        assert result.resumed_chunks > 0 and result.model.name == "imu_activity"
    finally:
        _leave_clean(board.url)


def _fc_act_min_at(blob: bytes) -> int:
    """Byte offset of the first step's act_min (a fully connected layer: 3 operands, param 5)."""
    steps = int.from_bytes(blob[32:36], "little")
    return steps + 4 * (1 + 3 + 5)


def test_bad_input_reaches_the_user_as_one_clear_line(board: VirtualBoard) -> None:
    """The issue's "Bad input" list over the real link: each is an ERROR naming the problem, shown to the
    user as one line, and the active model keeps serving."""
    good = load_container(ZOO / "sine" / "sine.tflite")
    blob = bytearray(good)
    blob[8] = 99                                           # another kernel ABI
    try:
        with pytest.raises(DeployError, match="kernel ABI 99"):
            deploy(board.url, bytes(blob), timeout=10)
        old = bytearray(good)
        old[4] = 1                                         # another container format: refused on the host
        with pytest.raises(edgeloop.EdgeloopError, match="format version 1; this edgeloop reads version 2: recompile"):
            deploy(board.url, bytes(old), timeout=10)
        bad = bytearray(good)                              # passes the host's structural read, not the board
        bad[_fc_act_min_at(good):_fc_act_min_at(good) + 4] = (-129).to_bytes(4, "little", signed=True)
        with pytest.raises(DeployError, match=r"step 0 \(fully connected\): activation bounds outside -128..127"):
            deploy(board.url, bytes(bad), timeout=10)
        lk = Link(board.url)
        n = len(good)
        wrong_sha = lk.request(UploadBegin(1, n, 512, bytes(32)))
        assert not isinstance(wrong_sha, Error), wrong_sha
        for k in range(0, n, 512):
            assert not isinstance(lk.request(UploadChunk(1, k, good[k:k + 512])), Error)
        reply = lk.request(UploadCommit(1, True))
        assert isinstance(reply, Error) and reply.code == UploadError.INTEGRITY and "sha256" in reply.text
        lk.request(UploadBegin(1, n, 512, hashlib.sha256(good).digest()))
        reply = lk.request(UploadChunk(1, n - 4, bytes(8)))
        assert isinstance(reply, Error) and reply.code == UploadError.UPLOAD_STATE
        assert f"beyond the announced size of {n} bytes" in reply.text
        lk.request(UploadChunk(1, 0, good[:512]))
        reply = lk.request(UploadCommit(1, True))
        assert isinstance(reply, Error) and reply.code == UploadError.UPLOAD_STATE
        assert f"commit with 1 of {-(-n // 512)} chunks received" in reply.text
        served = lk.request(Infer(0xFF, bytes([40])))     # after every refusal the active model serves
        assert isinstance(served, Result) and served.model == 0
        lk.close()
        big = load_container(ZOO / "bottles_demo" / "bottles_demo.tflite")
        link = UploadLink(board.url, timeout=10)
        _, slots = link.info()
        link.close()
        if slots[0].capacity < len(big) + 9216 + 16:
            with pytest.raises(DeployError, match="does not fit"):
                deploy(board.url, big, timeout=10)
    finally:
        _leave_clean(board.url)


@pytest.mark.parametrize("target", ["host", pytest.param("qemu", marks=pytest.mark.qemu)])
def test_killing_the_board_at_random_points_of_an_upload_falls_back_to_the_compiled_models(target: str) -> None:
    """The board dies (unplugged) after a random number of bytes of BEGIN, chunks and COMMIT, also
    mid-frame; after the restart the compiled-in model 0 is active, no slot holds a model, and a
    restarted upload works."""
    blob = load_container(ZOO / "imu_activity" / "imu_activity.tflite")
    sha = hashlib.sha256(blob).digest()
    chunk = 1024
    wire = encode_message(UploadBegin(0, len(blob), chunk, sha), seq=1)
    for k in range(0, len(blob), chunk):
        wire += encode_message(UploadChunk(0, k, blob[k:k + chunk]), seq=2 + k // chunk)
    wire += encode_message(UploadCommit(0, True), seq=99)
    rng = random.Random(target)
    cuts = [rng.randrange(1, len(wire)) for _ in range(3 if target == "host" else 2)]
    for cut in cuts:
        with start_board(target, models=FIRMWARE_TEST_MODELS, timeout=60) as b:
            s = _tcp(b.url)
            s.sendall(b"\x00" + wire[:cut])
            _drain(s, 0.3)
            s.close()
            b.stop()                                       # unplugged mid-upload
        with start_board(target, models=FIRMWARE_TEST_MODELS, timeout=60) as b:
            link = UploadLink(b.url, timeout=10)
            info, slots = link.info()
            link.close()
            assert info.active_model == 0 and all(not m.uploaded for m in info.models), cut
            assert all(s.state == SlotState.EMPTY for s in slots), cut
            lk = Link(b.url)
            assert isinstance(lk.request(Infer(0xFF, bytes([40]))), Result)
            lk.close()
            if cut == cuts[-1]:
                assert deploy(b.url, blob, timeout=10).model.uploaded       # a restarted upload works


def test_a_board_without_slots_answers_unknown_type_and_deploy_says_so() -> None:
    with start_board("host", extra_cflags=["-DEL_UPLOAD_SLOTS=0"], models=FIRMWARE_TEST_MODELS, timeout=60) as b:
        lk = Link(b.url)
        reply = lk.request(UploadBegin(0, 100, 100, bytes(32)))
        assert isinstance(reply, Error) and reply.code == ErrorCode.UNKNOWN_TYPE
        lk.close()
        with pytest.raises(DeployError, match="no upload slots"):
            deploy(b.url, load_container(ZOO / "sine" / "sine.tflite"), timeout=10)


def test_the_board_command_sizes_the_slots() -> None:
    from edgeloop.app.link.deploy import slot_cflags
    from edgeloop import InputError

    flags = slot_cflags(1, 8, 4)
    assert flags == ["-DEL_UPLOAD_SLOTS=1u", "-DEL_SLOT_BYTES=8192u", "-DEL_SLOT_ARENA_BYTES=4096u"]
    with pytest.raises(InputError, match="--slots 9"):
        slot_cflags(9)
    with start_board("host", extra_cflags=flags, models=FIRMWARE_TEST_MODELS, timeout=60) as b:
        link = UploadLink(b.url, timeout=10)
        _, slots = link.info()
        link.close()
        assert [(s.capacity, s.arena_bytes) for s in slots] == [(8192, 4096)]
        blob = load_container(ZOO / "bottles_tiny" / "bottles_tiny.tflite")
        with pytest.raises(DeployError, match=rf"does not fit: the model needs \d+ bytes of slot \(container "
                                              rf"{len(blob)} \+ input and output buffers\); slot of model 3 holds "
                                              r"8192 bytes"):     # refused before a byte is sent, both sizes named
            deploy(b.url, blob, timeout=10)


def test_the_deploy_command_prints_time_and_descriptor(board: VirtualBoard, tmp_path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    from edgeloop.app.cli import main

    try:
        assert main(["deploy", str(ZOO / "fall" / "fall.tflite"), "--port", board.url]) == 0
        out = capsys.readouterr()
        assert "deployed fall as model 3 (slot 0), active" in out.out and "labels: adl, fall" in out.out
        assert " s (host clock)" in out.out and "B]" not in out.out and "/" in out.err   # progress on stderr
        assert main(["deploy", str(tmp_path / "missing.elmc"), "--port", board.url]) == 2
        assert "cannot read" in capsys.readouterr().err
    finally:
        _leave_clean(board.url)


def test_a_wrong_port_is_one_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    from edgeloop.app.cli import main

    assert main(["deploy", str(ZOO / "sine" / "sine.tflite"), "--port", "socket://127.0.0.1:1"]) == 2
    err = capsys.readouterr().err
    assert "cannot open the board's link socket://127.0.0.1:1" in err and "Traceback" not in err


def test_deploy_over_the_gui_session_needs_no_second_connection() -> None:
    """The GUI holds a Session on the port: deploy_over_session uploads through it (credit-windowed,
    retried by the Session), and the next INFER on the same Session runs the new model."""
    from edgeloop.app.link.deploy import deploy_over_session
    from edgeloop.app.link.session import Session

    tflite = (ZOO / "imu_activity" / "imu_activity.tflite").read_bytes()
    blob = load_container(ZOO / "imu_activity" / "imu_activity.tflite")
    with start_board("host", models=FIRMWARE_TEST_MODELS, timeout=60) as b:
        with Session(b.url) as session:
            session.connect()
            assert session.info.slots and session.info.slots[0].model_id == COMPILED_MODELS
            done: list[int] = []
            result = deploy_over_session(session, blob, progress=lambda d, t: done.append(d), chunk_bytes=1024)
            assert result.model.name == "imu_activity" and result.committed.active_model == COMPILED_MODELS
            assert done[-1] == len(blob) and result.chunks_sent == -(-len(blob) // 1024)
            x = np.random.default_rng(5).integers(-128, 128, (1, 1, 54), dtype=np.int8)
            reply = session.infer(x.tobytes()).result().message
            assert reply.model == COMPILED_MODELS
            assert np.array_equal(np.frombuffer(reply.output, np.int8), run_reference_batch(tflite, x).reshape(-1))
            small = (SlotInfo(COMPILED_MODELS + 1, SlotState.EMPTY, 1024, 1024),)  # slot 0 now serves
            with pytest.raises(DeployError, match="does not fit"):
                deploy_over_session(session, blob, slots=small)


def test_firmware_build_takes_the_slot_sizes(capsys: pytest.CaptureFixture[str]) -> None:
    from edgeloop.app.cli import main

    assert main(["firmware", "build", "--board", "host", "--models", "sine", "--slots", "1", "--slot-kb", "8"]) == 0
    assert "host:" in capsys.readouterr().out
    assert main(["firmware", "build", "--board", "host", "--slots", "7"]) == 2
    assert "--slots 7 is outside 0..4" in capsys.readouterr().err


def test_no_slots_on_the_nucleo_drops_its_flash_slot_too(capsys: pytest.CaptureFixture[str]) -> None:
    """--slots 0 means no upload at all: on the Nucleo, whose flash slot needs a RAM slot, the
    build used to stop in the compiler with an #error; now it builds without either."""
    from edgeloop.app.cli import main

    assert main(["firmware", "build", "--board", "nucleo-h743zi2", "--models", "sine", "--slots", "0"]) == 0
    elf = Path(capsys.readouterr().out.split("nucleo-h743zi2: ", 1)[1].split()[0])
    symbols = subprocess.run(["arm-none-eabi-nm", str(elf)], capture_output=True, text=True, check=True).stdout
    assert "el_flash_arena" not in symbols and "el_slot_mem" not in symbols and "el_upload_init" in symbols


def _residual_tflite() -> bytes:
    """A small residual int8 net: CONV, ADD (the rescale tables), a RESHAPE that shares storage
    (container op 17), FULLY_CONNECTED, SOFTMAX; written with the compiler's ModelBuilder."""
    from edgeloop.models.compiler.tflite_writer import ModelBuilder

    rng = np.random.default_rng(19)
    b = ModelBuilder()
    x = b.tensor((1, 8, 8, 4), scale=0.05, zero_point=-3)
    w = rng.integers(-127, 128, (4, 3, 3, 4)).astype(np.int8)
    ws = [0.02, 0.015, 0.025, 0.018]
    wt = b.tensor(w.shape, scale=ws, zero_point=[0] * 4, axis=0, data=w)
    bias = rng.integers(-2000, 2000, 4).astype(np.int32)
    bt = b.tensor((4,), "int32", scale=[0.05 * s for s in ws], zero_point=[0] * 4, data=bias)
    y1 = b.tensor((1, 8, 8, 4), scale=0.2, zero_point=5)
    b.op("CONV_2D", [x, wt, bt], [y1], "Conv2DOptions", padding="SAME", stride_w=1, stride_h=1,
         activation="RELU", dilation_w=1, dilation_h=1)
    y2 = b.tensor((1, 8, 8, 4), scale=0.22, zero_point=-7)
    b.op("ADD", [x, y1], [y2], "AddOptions", activation="NONE")
    st = b.tensor((2,), "int32", data=np.array([1, 256], np.int32))
    r = b.tensor((1, 256), scale=0.22, zero_point=-7)
    b.op("RESHAPE", [y2, st], [r])
    fw = rng.integers(-127, 128, (5, 256)).astype(np.int8)
    ft = b.tensor(fw.shape, scale=[0.01], zero_point=[0], data=fw)
    fb = b.tensor((5,), "int32", scale=[0.22 * 0.01], zero_point=[0], data=rng.integers(-500, 500, 5).astype(np.int32))
    y3 = b.tensor((1, 5), scale=2.0, zero_point=0)
    b.op("FULLY_CONNECTED", [r, ft, fb], [y3], "FullyConnectedOptions", activation="NONE")
    y = b.tensor((1, 5), scale=1 / 256, zero_point=-128)
    b.op("SOFTMAX", [y3], [y], "SoftmaxOptions", beta=1.0)
    return b.build([x], [y])


@pytest.mark.parametrize("target", ["host", pytest.param("qemu", marks=pytest.mark.qemu)])
def test_per_layer_profile_and_tensor_dump_work_for_an_uploaded_model(target: str, tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """PROFILE and DUMP_TENSOR (SPEC §9.6, §9.7) on a slot model: one timed row per step, step numbers
    the compiled C's (the shared-storage RESHAPE included), and every step's tensor equal to TFLite
    Micro's, on the host board and under QEMU."""
    from edgeloop.app.link.deploy import deploy_over_session
    from edgeloop.app.link.session import Session
    from edgeloop.app.validate.per_layer import dump_step, first_divergence, profile_layers
    from edgeloop.models.compiler import compile_bytes
    from edgeloop.models.compiler.container import container_from_compiled
    from edgeloop.protocol.messages import Capability

    tflite = _residual_tflite()
    compiled = compile_bytes(tflite, name="residual")
    x = np.random.default_rng(2).integers(-128, 128, (1, 8, 8, 4), dtype=np.int8).tobytes()
    with start_board(target, models=FIRMWARE_TEST_MODELS, timeout=60) as b, Session(b.url) as session:
        info = session.connect()
        assert info.has(Capability.PROFILE) and info.has(Capability.TENSOR_DUMP)
        result = deploy_over_session(session, container_from_compiled(compiled))
        model_id = result.model_id
        prof = profile_layers(session, model_id, tflite, x)
        assert [r["op"] for r in prof["steps"]] == ["CONV_2D", "ADD", "RESHAPE", "FULLY_CONNECTED", "SOFTMAX"]
        assert prof["steps_reported"] == len(compiled.graph.steps) == 5
        assert all(r["ticks"] is not None for r in prof["steps"]) and prof["sum_ticks"] > 0
        assert prof["timing"] == ("host clock" if target == "host" else "emulated")
        assert first_divergence(session, model_id, tflite, x) is None     # every step bit-exact with TFLM
        reshape = np.frombuffer(dump_step(session, model_id, 2, x), np.int8)
        assert np.array_equal(reshape, np.frombuffer(dump_step(session, model_id, 1, x), np.int8))  # one storage
        if target == "host":   # and through the command, on the active model: the uploaded one
            from edgeloop.app.cli import main

            (tmp_path / "residual.tflite").write_bytes(tflite)
            np.savez(tmp_path / "x.npz", x=np.random.default_rng(5).integers(-128, 128, (2, 8, 8, 4), dtype=np.int8))
            session.close()
            assert main(["validate", "--port", b.url, "--tflite", str(tmp_path / "residual.tflite"), "--data",
                         str(tmp_path / "x.npz"), "--out", str(tmp_path / "report"), "--per-layer",
                         "--no-progress"]) == 0
            out = capsys.readouterr().out
            assert "board = reference 100.00 %" in out and "per layer on the board (host clock" in out
            assert all(op in out for op in ("CONV_2D", "ADD", "RESHAPE", "FULLY_CONNECTED", "SOFTMAX")), out


def _onnx_mlp(path: Path, *, hidden_op: str = "Relu") -> None:
    """A float ONNX classifier, 12 features -> Gemm -> `hidden_op` -> Gemm -> Softmax (3 classes)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(11)
    inits = {"w1": rng.normal(0, 0.4, (8, 12)).astype(np.float32), "b1": rng.normal(0, 0.1, 8).astype(np.float32),
             "w2": rng.normal(0, 0.4, (3, 8)).astype(np.float32), "b2": rng.normal(0, 0.1, 3).astype(np.float32)}
    nodes = [helper.make_node("Gemm", ["x", "w1", "b1"], ["h"], transB=1, name="dense1"),
             helper.make_node(hidden_op, ["h"], ["a"], name="act1"),
             helper.make_node("Gemm", ["a", "w2", "b2"], ["logits"], transB=1, name="dense2"),
             helper.make_node("Softmax", ["logits"], ["probs"], axis=-1, name="probs")]
    graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 12])],
                              [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["batch", 3])],
                              [numpy_helper.from_array(v, k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def test_deploy_imports_an_onnx_model_and_the_board_runs_it_bit_exact(board: VirtualBoard, tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """`edgeloop deploy MODEL.onnx --calib DATA`: import, quantize, compile, container, upload, as for a .tflite;
    the board's outputs equal TFLite Micro's on the int8 model the import wrote (--save-int8)."""
    from edgeloop.app.cli import main

    _onnx_mlp(tmp_path / "mlp.onnx")
    np.savez(tmp_path / "calib.npz", x=np.random.default_rng(3).normal(0, 1, (64, 12)).astype(np.float32))
    try:
        code = main(["deploy", str(tmp_path / "mlp.onnx"), "--port", board.url, "--calib", str(tmp_path / "calib.npz"),
                     "--labels", "a,b,c", "--save-int8", str(tmp_path / "int8")])
        out = capsys.readouterr()
        assert code == 0, out.err
        assert "imported" in out.out and "(onnx-float)" in out.out
        assert f"deployed mlp as model {COMPILED_MODELS} (slot 0), active" in out.out and "labels: a, b, c" in out.out
        tflite = (tmp_path / "int8" / "mlp.tflite").read_bytes()
        xs = np.random.default_rng(4).integers(-128, 128, (3, 1, 12), dtype=np.int8)
        lk = Link(board.url)
        for x, want in zip(xs, run_reference_batch(tflite, xs)):
            reply = lk.request(Infer(0xFF, x.tobytes()))
            assert isinstance(reply, Result) and reply.model == COMPILED_MODELS
            assert np.array_equal(np.frombuffer(reply.output, np.int8), want.reshape(-1))
        lk.close()
    finally:
        _leave_clean(board.url)


def test_deploy_of_an_onnx_model_with_an_unsupported_op_names_op_and_node(board: VirtualBoard, tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    from edgeloop.app.cli import main

    _onnx_mlp(tmp_path / "leaky.onnx", hidden_op="LeakyRelu")
    np.savez(tmp_path / "calib.npz", x=np.zeros((8, 12), np.float32))
    assert main(["deploy", str(tmp_path / "leaky.onnx"), "--port", board.url, "--calib",
                 str(tmp_path / "calib.npz")]) == 2
    err = capsys.readouterr().err.strip()
    assert "layer 1 (LeakyRelu 'act1') is not supported" in err and "Traceback" not in err
    assert len(err.splitlines()) == 1
    link = UploadLink(board.url, timeout=10)
    _, slots = link.info()
    link.close()
    assert all(s.state == SlotState.EMPTY for s in slots)        # nothing was sent
