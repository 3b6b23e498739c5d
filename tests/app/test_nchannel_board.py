"""An N-channel time-series model end to end on the host board: a 3-channel UDP line stream named by its
header line → window preprocessing → the compiled 1-D CNN on the board → results equal to TFLite Micro,
decided by the model's decision rule; the recorder keeps the 3 named channels (edgeloop-recording v2).
The model uses the SPEC 1.1 descriptor fields: input kind 4 (timeseries-window), a fractional rate
(sample_rate_mhz) and per-channel normalisation (norm_mode 1, 3 pairs)."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import numpy as np
import pytest

from edgeloop.app.link.session import Session
from edgeloop.app.live.pipeline import Pipeline
from edgeloop.app.live.sources.imu_stream import UdpImuSource
from edgeloop.models.decision import DecisionRule, Decider

pytestmark = pytest.mark.timeout(240)

CHANNELS = ("emg1", "emg2", "emg3")
WINDOW, HOP, RATE = 32, 16, 62.5


@pytest.fixture(scope="module")
def three_channel_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3-channel 1-D CNN (window 32) compiled to C, with meta.json (kind timeseries-window, 62.5 Hz, a decision
    rule) and preprocess.json (channel_norm: one (mean, std) per channel)."""
    from edgeloop.models.compiler import compile_file
    from edgeloop.models.quantize import to_tflite_int8
    from edgeloop.models.train.common import setup_tensorflow
    from edgeloop.models.train.families import build_cnn1d

    out = tmp_path_factory.mktemp("emg")
    setup_tensorflow(5)
    model = build_cnn1d(WINDOW, len(CHANNELS), 3, width=4)
    rep = np.random.default_rng(5).normal(size=(64, WINDOW, len(CHANNELS))).astype(np.float32)
    (out / "emg.tflite").write_bytes(to_tflite_int8(model, rep, seed=5))
    mean, std = [0.5, -1.0, 2.0], [1.0, 2.0, 0.5]
    (out / "emg.meta.json").write_text(json.dumps({
        "labels": ["rest", "fist", "wave"], "input_kind": "timeseries-window", "sample_rate_hz": RATE,
        "window": WINDOW, "hop": HOP, "decision": DecisionRule("mean", 3).to_json()}))
    (out / "emg.preprocess.json").write_text(json.dumps({"channels": list(CHANNELS),
                                                          "channel_norm": {"mean": mean, "std": std}}))
    compiled = compile_file(out / "emg.tflite", out / "c")
    assert ".sample_rate_mhz = 62500u" in compiled.c_source and ".norm_mode = 1" in compiled.c_source
    return out


def test_three_channel_stream_runs_on_the_host_board(three_channel_model: Path, host_board_factory,
                                                     tmp_path: Path) -> None:
    from edgeloop.app.sessions.recording import Recorder, TappedSource
    from edgeloop.models.data.recording import read_recording
    from edgeloop.models.quantize import QuantParams, quantize
    from edgeloop.models.reference import run_reference_batch

    tflite = (three_channel_model / "emg.tflite").read_bytes()
    samples = np.random.default_rng(1).normal(size=(160, 3)).astype(np.float32)
    lines = ["t," + ",".join(CHANNELS)] + [f"{i / RATE:.3f}," + ",".join(f"{v:.5f}" for v in row)
                                            for i, row in enumerate(samples)]
    expected = (len(samples) - WINDOW) // HOP + 1
    src = UdpImuSource("127.0.0.1", 0, rate_hz=RATE, skip=1)
    recorder = Recorder(tmp_path / "rec", ["rest"], kind="imu", source={"name": "udp emg"}).start()
    with host_board_factory(target="host", models=[three_channel_model / "c"]) as board, \
            Session(board.url) as session, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        info = session.connect()
        model = info.models[0]
        assert list(model.input.dims) == [1, WINDOW, 3] and int(model.input_kind) == 4
        assert model.sample_rate_mhz == 62500 and model.norm_mode == 1 and len(model.input_norm) == 3
        for k in range(0, len(lines), 20):
            sender.sendto(("\n".join(lines[k:k + 20]) + "\n").encode(), src.address)
            time.sleep(0.01)
        src.live = False  # every queued datagram counts here: a live source lets a slow consumer skip chunks
        pipe = Pipeline(TappedSource(src, recorder.add_capture), session, model=0)
        records = list(pipe.records(limit=expected, timeout=60))
        pipe.stop()
    recorder.close()
    assert src.channels == CHANNELS and len(records) == expected and all(r.ok for r in records)
    # the windows the board saw are the stream's, cut every HOP samples
    views = np.stack([r.view for r in records])
    np.testing.assert_allclose(views, np.stack([samples[k * HOP:k * HOP + WINDOW] for k in range(expected)]),
                               atol=1e-4)
    # the board's int8 outputs are TFLite Micro's on the same standardised, quantized windows
    tin = info.models[0].input
    xs = np.stack([quantize(pipe._preprocessor.features(v), QuantParams(tin.scale, tin.zero_point)) for v in views])
    got = np.stack([np.frombuffer(r.output, np.int8) for r in records])
    np.testing.assert_array_equal(got, run_reference_batch(tflite, xs.reshape(expected, 1, WINDOW, 3)[:, 0])
                                  .reshape(expected, -1))
    # the model's decision rule over the stream, as run/GUI/validate apply it
    decider = Decider(DecisionRule("mean", 3), 3)
    decided = [decider.update(r.probabilities) for r in records]
    assert all(d.raw_cls == r.class_index for d, r in zip(decided, records))
    rec = read_recording(tmp_path / "rec" / "imu.csv")
    assert rec.channels == CHANNELS and len(rec) == len(samples)
    np.testing.assert_allclose(rec.data, samples, atol=1e-4)


def test_line_sources_take_a_channel_count_or_names() -> None:
    from edgeloop.app.live.sources import open_source

    src = open_source("udp:127.0.0.1:0?channels=emg1+emg2&rate=50")
    try:
        assert src.channels == ("emg1", "emg2")
        assert src.parser.parse("0.5,1.5").tolist() == [0.5, 1.5]
    finally:
        src.close()
    src = open_source("udp:127.0.0.1:0?channels=9")
    try:
        assert len(src.channels) == 9 and src.parser.parse(",".join(map(str, range(9)))).tolist() == list(range(9))
        assert src.parser.parse("1,2,3") is None  # a short line is no sample
    finally:
        src.close()
    pairs = open_source("udp:127.0.0.1:0")
    try:  # the IMU default switches to the names a stream gives when it has fewer than six channels
        assert pairs.parser.parse("x:1 y:2 z:3").tolist() == [1, 2, 3] and pairs.channels == ("x", "y", "z")
    finally:
        pairs.close()
