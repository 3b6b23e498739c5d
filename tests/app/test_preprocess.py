"""Preprocessing driven by the model descriptor: ROI, resize, colour, quantization, IMU windows and features."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from edgeloop.app.live.preprocess import (
    ImagePreprocessor,
    ImuPreprocessor,
    PreprocessError,
    Roi,
    StreamResampler,
    dequantize,
    make_preprocessor,
    pixel_range,
    quantize,
    softmax_if_logits,
    standardize,
)
from edgeloop.app.live.sources.base import ImageFrame, ImuSamples
from edgeloop.models.features import window_features
from edgeloop.protocol import DType, InputKind, ModelDescriptor, NormMode, TensorDesc


def _model(kind: InputKind, inp: TensorDesc, window: int = 0, hop: int = 0, rate: int = 0) -> ModelDescriptor:
    return ModelDescriptor("m", hashlib.sha256(b"m").digest(), 1, 1, 1, kind, inp,
                           TensorDesc(DType.INT8, (1, 2), 1 / 256, -128), ("a", "b"), rate, window, hop)


def _frame(image: np.ndarray, index: int = 0) -> ImageFrame:
    return ImageFrame(image, 1.0, index)


def test_quantize_round_trip_and_saturation() -> None:
    t = TensorDesc(DType.INT8, (4,), 0.5, 10)
    q = quantize(np.array([0.0, 1.0, -100.0, 100.0]), t)
    assert q.tolist() == [10, 12, -128, 127]
    assert dequantize(q.tobytes(), t).tolist() == [0.0, 1.0, -69.0, 58.5]
    u = TensorDesc(DType.UINT8, (2,), 1 / 255, 0)
    assert quantize(np.array([0.0, 1.0]), u).tolist() == [0, 255]
    with pytest.raises(PreprocessError, match="does not match"):
        dequantize(b"\x00", t)


@pytest.mark.parametrize("scale, zp, expected", [
    (1 / 255, -128, (0.0, 1.0)), (2 / 255, 0, (-1.0, 1.0)), (1.0, -128, (0.0, 255.0)), (1.0, 0, (-128.0, 127.0)),
])
def test_pixel_range_follows_input_quantization(scale, zp, expected) -> None:
    assert pixel_range(TensorDesc(DType.INT8, (1, 4, 4, 1), scale, zp)) == expected


def test_image_roi_resize_gray_and_quantize() -> None:
    model = _model(InputKind.IMAGE, TensorDesc(DType.INT8, (1, 4, 4, 1), 1 / 255, -128))
    pre = make_preprocessor(model)
    assert isinstance(pre, ImagePreprocessor)
    image = np.zeros((40, 80, 3), np.uint8)
    image[:, 40:] = (255, 255, 255)  # right half white
    (full,) = pre.process(_frame(image))
    assert full.view.shape == (4, 4, 1)
    assert np.frombuffer(full.payload, np.int8).reshape(4, 4)[:, 2:].min() == 127
    pre.roi = Roi(0.5, 0.0, 0.5, 1.0)  # only the white half
    (roi,) = pre.process(_frame(image))
    assert set(np.frombuffer(roi.payload, np.int8).tolist()) == {127}
    green = np.zeros((8, 8, 3), np.uint8)
    green[..., 1] = 255
    gray = pre.model_view(green)[0, 0, 0]
    assert abs(int(gray) - round(0.587 * 255)) <= 1  # RGB → gray with luma weights, so RGB order matters


def test_image_to_rgb_model_and_wrong_source_kind() -> None:
    model = _model(InputKind.IMAGE, TensorDesc(DType.INT8, (1, 2, 2, 3), 1 / 255, -128))
    pre = make_preprocessor(model)
    (out,) = pre.process(_frame(np.full((6, 6, 1), 255, np.uint8)))
    assert len(out.payload) == 12 and set(out.payload) == {127}
    with pytest.raises(PreprocessError, match="takes images"):
        pre.process(ImuSamples(np.zeros((3, 6), np.float32), 0.0, 0, rate_hz=50))


def test_roi_validation() -> None:
    assert Roi.parse("0.25,0.1,0.5,0.8") == Roi(0.25, 0.1, 0.5, 0.8)
    with pytest.raises(ValueError, match="inside the image"):
        Roi(0.8, 0, 0.5, 1)
    with pytest.raises(ValueError, match="four numbers"):
        Roi.parse("1,2")


def _imu_chunks(samples: np.ndarray, sizes: list[int], rate: float) -> list[ImuSamples]:
    chunks, pos = [], 0
    for i, size in enumerate(sizes):
        chunks.append(ImuSamples(samples[pos:pos + size], pos / rate, i, rate_hz=rate))
        pos += size
    return chunks


def test_imu_windows_every_hop_across_chunk_boundaries() -> None:
    model = _model(InputKind.IMU_WINDOW, TensorDesc(DType.INT8, (1, 10, 6), 1.0, 0), window=10, hop=4, rate=50)
    pre = make_preprocessor(model)
    assert isinstance(pre, ImuPreprocessor)
    samples = np.repeat(np.arange(40, dtype=np.float32)[:, None], 6, axis=1)
    windows = [w for chunk in _imu_chunks(samples, [3, 7, 1, 12, 17], 50.0) for w in pre.process(chunk)]
    # Windows end at samples 10, 14, 18, ..., 38 → 8 windows starting at 0, 4, 8, ...
    firsts = [np.frombuffer(w.payload, np.int8).reshape(10, 6)[0, 0] for w in windows]
    assert firsts == [0, 4, 8, 12, 16, 20, 24, 28]
    assert windows[0].timestamp == pytest.approx(9 / 50)  # time of the window's last sample


def test_imu_features_match_the_models_feature_code() -> None:
    model = _model(InputKind.IMU_FEATURES, TensorDesc(DType.FLOAT32, (1, 54), 0.0, 0), window=32, hop=32, rate=100)
    pre = make_preprocessor(model)
    rng = np.random.default_rng(3)
    samples = rng.normal(size=(32, 6)).astype(np.float32)
    (out,) = pre.process(ImuSamples(samples, 0.0, 0, rate_hz=100))
    assert np.frombuffer(out.payload, "<f4") == pytest.approx(window_features(samples), rel=1e-6)


def test_imu_is_resampled_to_the_model_rate() -> None:
    model = _model(InputKind.IMU_WINDOW, TensorDesc(DType.FLOAT32, (1, 50, 6), 0.0, 0), window=50, hop=50, rate=50)
    pre = make_preprocessor(model)
    t = np.arange(200) / 200.0
    samples = np.repeat(t[:, None], 6, axis=1).astype(np.float32)  # a ramp at 200 Hz = time itself
    (out,) = pre.process(ImuSamples(samples, 0.0, 0, rate_hz=200))
    window = np.frombuffer(out.payload, "<f4").reshape(50, 6)[:, 0]
    assert window == pytest.approx(np.arange(50) / 50.0, abs=1e-5)


def test_stream_resampler_is_chunking_independent() -> None:
    signal = np.sin(np.arange(600) / 30.0)[:, None].astype(np.float32)
    whole = StreamResampler(173.0, 100.0).push(signal)
    pieces = StreamResampler(173.0, 100.0)
    parts = [pieces.push(signal[i:i + n]) for i, n in zip(range(0, 600, 7), [7] * 86)]
    assert np.concatenate(parts) == pytest.approx(whole, abs=1e-6)


def test_imu_model_with_bad_descriptor() -> None:
    with pytest.raises(PreprocessError, match="window 0"):
        make_preprocessor(_model(InputKind.IMU_WINDOW, TensorDesc(DType.INT8, (1, 10, 6), 1.0, 0)))
    with pytest.raises(PreprocessError, match="channels"):
        make_preprocessor(_model(InputKind.IMU_FEATURES, TensorDesc(DType.INT8, (1, 10), 1.0, 0), 8, 8, 50))


def test_softmax_if_logits() -> None:
    assert softmax_if_logits(np.array([0.25, 0.75])) == pytest.approx([0.25, 0.75])
    probs = softmax_if_logits(np.array([0.0, 2.0, -1.0]))
    assert probs.sum() == pytest.approx(1.0) and int(np.argmax(probs)) == 1


def test_standardize_applies_the_descriptor_norms_on_the_host() -> None:
    tensor = TensorDesc(DType.INT8, (1, 3), 0.1, 0)
    model = ModelDescriptor("imu", bytes(32), 1, 2, 3, InputKind.IMU_FEATURES, tensor, tensor, ("a",),
                            100, 64, 32, ((1.0, 2.0), (0.0, 1.0), (-1.0, 0.5)))
    out = standardize(model, np.array([3.0, 5.0, 0.0]))
    assert out.dtype == np.float32 and out.tolist() == [1.0, 5.0, 2.0]  # (x - mean) / std, in float32
    plain = ModelDescriptor("img", bytes(32), 1, 2, 3, InputKind.IMAGE, tensor, tensor)
    values = np.array([1.0, 2.0, 3.0])
    assert standardize(plain, values) is values


def test_standardize_per_channel_applies_one_pair_per_column() -> None:
    tensor = TensorDesc(DType.INT8, (1, 4, 2), 0.1, 0)
    model = ModelDescriptor("raw", bytes(32), 1, 2, 3, InputKind.IMU_WINDOW, tensor, tensor, ("a",), 100, 4, 2,
                            ((1.0, 2.0), (-1.0, 0.5)), model_id=1, norm_mode=NormMode.PER_CHANNEL)
    window = np.array([[3.0, 0.0], [1.0, -1.0], [5.0, 1.0], [-1.0, -2.0]])
    assert standardize(model, window).tolist() == [1.0, 2.0, 0.0, 0.0, 2.0, 4.0, -1.0, -2.0]
