"""Window statistics: definitions, and the C implementation against numpy."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

from edgeloop.models.features import (
    FEATURE_NAMES, FEATURES_PER_CHANNEL, FeatureNorm, extract_features, feature_names, window_features,
    window_starts,
)
from edgeloop.models.quantize import QuantParams, quantize


def as_f32p(a: np.ndarray) -> "ctypes._Pointer":
    """A float* into a C-contiguous float32 array."""
    assert a.dtype == np.float32 and a.flags.c_contiguous
    return a.ctypes.data_as(ctypes.POINTER(ctypes.c_float))


def test_feature_order_is_the_spec_order() -> None:
    assert FEATURE_NAMES == ("min", "max", "mean", "rms", "pos_share", "variance", "pfd", "skewness", "kurtosis")
    assert feature_names(("ax", "gy"))[:2] == ["ax.min", "ax.max"] and feature_names(("ax", "gy"))[9] == "gy.min"


def test_known_values_of_a_simple_window() -> None:
    x = np.array([1.0, -1.0, 1.0, -1.0, 2.0, 0.0], np.float32)
    f = window_features(np.stack([x, np.full(6, 3.0, np.float32)], axis=1))
    mn, mx, mean, rms, pos, var, pfd, skew, kurt = f[:9]
    assert (mn, mx) == (-1.0, 2.0)
    assert mean == pytest.approx(1 / 3)
    assert rms == pytest.approx(np.sqrt(8 / 6))
    assert pos == pytest.approx(3 / 6)
    assert var == pytest.approx(np.var(x))
    # first differences -2, 2, -2, 3, -2: four sign changes
    assert pfd == pytest.approx(np.log10(6) / (np.log10(6) + np.log10(6 / (6 + 0.4 * 4))))
    dev = x - x.mean()
    assert skew == pytest.approx(np.mean(dev**3) / np.var(x) ** 1.5, rel=1e-5)
    assert kurt == pytest.approx(np.mean(dev**4) / np.var(x) ** 2, rel=1e-5)
    # a constant channel: no spread, so skewness and kurtosis are defined as 0
    assert list(f[9:]) == pytest.approx([3, 3, 3, 3, 1, 0, 1.0, 0, 0])


def test_gaussian_noise_has_kurtosis_near_three() -> None:
    x = np.random.default_rng(0).normal(0, 1, (20000, 1))
    f = window_features(x)
    assert f[8] == pytest.approx(3.0, abs=0.1) and abs(f[7]) < 0.05 and f[4] == pytest.approx(0.5, abs=0.02)


def test_windows_are_whole_and_channel_major() -> None:
    assert list(window_starts(10, 4, 3)) == [0, 3, 6]
    assert len(window_starts(3, 4, 1)) == 0
    data = np.random.default_rng(1).normal(size=(50, 6)).astype(np.float32)
    feats = extract_features(data, 16, 8)
    assert feats.shape == (5, 6 * FEATURES_PER_CHANNEL)
    np.testing.assert_allclose(feats[2], window_features(data[16:32]), rtol=1e-6)
    with pytest.raises(ValueError, match="window"):
        window_starts(10, 1, 1)


def test_feature_norm_round_trips_and_standardises() -> None:
    f = np.random.default_rng(2).normal(5, 3, (400, 4)).astype(np.float32)
    norm = FeatureNorm.fit(f)
    z = norm.apply(f)
    np.testing.assert_allclose(z.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(z.std(axis=0), 1, atol=1e-4)
    again = FeatureNorm.from_json(norm.to_json())
    np.testing.assert_array_equal(again.apply(f), z)
    with pytest.raises(ValueError, match="std"):
        FeatureNorm.from_json({"mean": [0.0], "std": [0.0]})


@pytest.mark.parametrize("window,channels", [(2, 1), (64, 6), (256, 6), (400, 3)])
def test_c_features_match_numpy(features_lib: ctypes.CDLL, window: int, channels: int) -> None:
    rng = np.random.default_rng(window * 10 + channels)
    # IMU-like: gravity offset, gait oscillation, noise, a clipped stretch and 16-bit steps
    t = np.arange(window)[:, None]
    x = 1.0 + 0.4 * np.sin(t * 0.2 + rng.uniform(0, 6, channels)) + rng.normal(0, 0.05, (window, channels))
    x[window // 3 : window // 2] = np.clip(x[window // 3 : window // 2], -8, 1.1)
    x = (np.round(x * 4096) / 4096 * rng.uniform(0.5, 300, channels)).astype(np.float32)
    out = np.zeros(channels * FEATURES_PER_CHANNEL, np.float32)
    assert features_lib.nn_features_window(as_f32p(x), window, channels, as_f32p(out))
    expected = window_features(x)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-6)


def test_c_sliding_windows_match_numpy(features_lib: ctypes.CDLL) -> None:
    data = np.random.default_rng(9).normal(0, 2, (1000, 6)).astype(np.float32)
    n = features_lib.nn_features_window_count(1000, 128, 50)
    assert n == len(window_starts(1000, 128, 50)) == 18
    out = np.zeros((n, 54), np.float32)
    assert features_lib.nn_features_sliding(as_f32p(data), 1000, 6, 128, 50, as_f32p(out), n)
    np.testing.assert_allclose(out, extract_features(data, 128, 50), rtol=1e-4, atol=1e-6)
    assert not features_lib.nn_features_sliding(as_f32p(data), 1000, 6, 128, 50, as_f32p(out), n - 1)


def test_c_rejects_bad_arguments(features_lib: ctypes.CDLL) -> None:
    x = np.zeros((4, 2), np.float32)
    out = np.zeros(18, np.float32)
    assert not features_lib.nn_features_window(as_f32p(x), 1, 2, as_f32p(out))
    assert not features_lib.nn_features_window(as_f32p(x), 4, 0, as_f32p(out))
    assert not features_lib.nn_features_window(None, 4, 2, as_f32p(out))
    assert features_lib.nn_features_window_count(10, 4, 0) == 0


def test_c_quantize_matches_host_quantize(features_lib: ctypes.CDLL) -> None:
    rng = np.random.default_rng(4)
    f = rng.normal(0, 50, 54).astype(np.float32)
    norm = FeatureNorm(rng.normal(0, 10, 54).astype(np.float32), rng.uniform(1, 30, 54).astype(np.float32))
    qp = QuantParams(0.0431, -3)
    inv_std = (1.0 / norm.std).astype(np.float32)
    out = np.zeros(54, np.int8)
    assert features_lib.nn_features_quantize(as_f32p(f), as_f32p(norm.mean), as_f32p(inv_std), 54,
                                             qp.scale, qp.zero_point,
                                             out.ctypes.data_as(ctypes.POINTER(ctypes.c_int8)))
    expected = quantize(norm.apply(f), qp).astype(int)
    # the C side multiplies by 1/std in float32: allow one step where a value sits on a rounding edge
    assert np.abs(out.astype(int) - expected).max() <= 1
    assert np.mean(out.astype(int) == expected) > 0.9


def test_c_quantize_rounds_ties_away_from_zero_like_the_host(features_lib: ctypes.CDLL) -> None:
    """z / scale exactly on .5 (scale 0.5, z = k / 4): halves go away from zero, as in models.quantization;
    NaN and huge values saturate instead of reaching an undefined float-to-int conversion."""
    from edgeloop.models.quantization import quantize as host_quantize

    f = np.array([0.25, -0.25, 0.75, -0.75, 1.25, -1.25, 63.75, -64.25, 1e30, -1e30, np.nan], np.float32)
    mean, inv_std = np.zeros_like(f), np.ones_like(f)
    out = np.zeros(len(f), np.int8)
    assert features_lib.nn_features_quantize(as_f32p(f), as_f32p(mean), as_f32p(inv_std), len(f), 0.5, 0,
                                             out.ctypes.data_as(ctypes.POINTER(ctypes.c_int8)))
    assert out[:10].tolist() == host_quantize(f[:10], 0.5, 0).tolist() == [1, -1, 2, -2, 3, -3, 127, -128, 127, -128]
    assert out[10] == -128
