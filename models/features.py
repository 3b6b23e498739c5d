"""Windowed IMU statistics: the edgeloop feature set (`imu-features` input kind, SPEC.md 5.3).

For each window of `window` samples and each channel, nine statistics in
this order (FEATURE_NAMES); the vector is channel-major, 9 per channel:

    min, max, mean, rms = sqrt(mean(x²)), pos_share = share of samples > 0,
    variance (population, ddof 0), pfd (Petrosian fractal dimension),
    skewness = m3 / m2^1.5, kurtosis = m4 / m2² (Pearson: 3 for a Gaussian)

where m_k are central moments. A channel whose variance is at most 1e-12
gets skewness 0 and kurtosis 0. Petrosian: with N = window and N_Δ the
number of sign changes of the first difference (d[i] * d[i+1] < 0),
pfd = log10(N) / (log10(N) + log10(N / (N + 0.4 N_Δ))).

Windows start at 0, hop, 2·hop, ... and only whole windows count. All
arithmetic is in float64 from float32 samples; firmware/nn/nn_features.c
implements the same definitions (checked to 1e-4 relative error).

`FeatureNorm` standardises features before int8 quantization: one int8
scale cannot hold a gyro variance of 10⁴ dps² and a Petrosian dimension
that moves in the third decimal at once, so the trained model's
NAME.preprocess.json carries per-feature mean and std (docs/formats.md), which
`edgeloop compile` puts into the model descriptor (SPEC.md 5.3).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeloop import InputError

FEATURE_NAMES: tuple[str, ...] = ("min", "max", "mean", "rms", "pos_share", "variance", "pfd", "skewness",
                                  "kurtosis")
FEATURES_PER_CHANNEL = len(FEATURE_NAMES)
VARIANCE_FLOOR = 1e-12


def window_starts(n_samples: int, window: int, hop: int) -> np.ndarray:
    """Start indices of the whole windows of a recording of `n_samples` samples."""
    if window < 2 or hop < 1:
        raise InputError(f"window must be ≥ 2 samples and hop ≥ 1, got window={window}, hop={hop}")
    if n_samples < window:
        return np.zeros(0, np.int64)
    return np.arange(0, n_samples - window + 1, hop, dtype=np.int64)


def _stats(w: np.ndarray) -> np.ndarray:
    """Statistics of windows w shaped (W, N, C) → (W, C, 9), float64."""
    n = w.shape[1]
    mean = w.mean(axis=1)
    dev = w - mean[:, None, :]
    m2 = np.mean(dev**2, axis=1)
    m3 = np.mean(dev**3, axis=1)
    m4 = np.mean(dev**4, axis=1)
    flat = m2 <= VARIANCE_FLOOR
    safe = np.where(flat, 1.0, m2)
    skew = np.where(flat, 0.0, m3 / safe**1.5)
    kurt = np.where(flat, 0.0, m4 / safe**2)
    d = np.diff(w, axis=1)
    n_delta = np.sum(d[:, :-1, :] * d[:, 1:, :] < 0, axis=1)
    log_n = np.log10(n)
    pfd = log_n / (log_n + np.log10(n / (n + 0.4 * n_delta)))
    return np.stack([w.min(axis=1), w.max(axis=1), mean, np.sqrt(np.mean(w**2, axis=1)),
                     np.mean(w > 0, axis=1), m2, pfd, skew, kurt], axis=-1)


def window_features(window: np.ndarray) -> np.ndarray:
    """Features of one window of samples (N, C) → float32 vector (C × 9,), channel-major."""
    w = np.asarray(window, np.float32).astype(np.float64)
    if w.ndim != 2 or w.shape[0] < 2:
        raise InputError(f"a window must be (samples ≥ 2, channels), got shape {w.shape}")
    return _stats(w[None]).reshape(-1).astype(np.float32)


def extract_features(samples: np.ndarray, window: int, hop: int, chunk: int = 512) -> np.ndarray:
    """Features of every whole window of a recording (N, C) → float32 (W, C × 9)."""
    x = np.asarray(samples, np.float32).astype(np.float64)
    if x.ndim != 2:
        raise InputError(f"samples must be (N, channels), got shape {x.shape}")
    starts = window_starts(len(x), window, hop)
    out = np.empty((len(starts), x.shape[1] * FEATURES_PER_CHANNEL), np.float32)
    view = np.lib.stride_tricks.sliding_window_view(x, window, axis=0)  # (N-window+1, C, window)
    for i in range(0, len(starts), chunk):
        w = view[starts[i : i + chunk]].transpose(0, 2, 1)
        out[i : i + chunk] = _stats(w).reshape(len(w), -1)
    return out


def feature_names(channels: tuple[str, ...]) -> list[str]:
    """Names of the feature vector's entries, e.g. 'ax.min', in vector order."""
    return [f"{c}.{f}" for c in channels for f in FEATURE_NAMES]


@dataclass(frozen=True)
class FeatureNorm:
    """Per-feature standardisation (x - mean) / std, fitted on training windows."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, features: np.ndarray, min_std: float = 1e-6) -> "FeatureNorm":
        f = np.asarray(features, np.float64)
        return cls(f.mean(axis=0).astype(np.float32), np.maximum(f.std(axis=0), min_std).astype(np.float32))

    def apply(self, features: np.ndarray) -> np.ndarray:
        return ((np.asarray(features, np.float32) - self.mean) / self.std).astype(np.float32)

    def to_json(self) -> dict[str, list[float]]:
        return {"mean": [float(v) for v in self.mean], "std": [float(v) for v in self.std]}

    @classmethod
    def from_json(cls, data: dict[str, list[float]]) -> "FeatureNorm":
        mean, std = np.asarray(data["mean"], np.float32), np.asarray(data["std"], np.float32)
        if mean.shape != std.shape or (std <= 0).any():
            raise InputError("feature_norm needs equally long mean and std lists with std > 0")
        return cls(mean, std)
