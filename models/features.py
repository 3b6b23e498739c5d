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


# ---------------------------------------------------------------------------------------------------------------
# Selectable feature sets (`--features`): any subset of the nine statistics, plus spectral band energies.

FEATURE_SET_IDS = {"none": 0, "edgeloop-stats9": 1, "edgeloop-select": 2}
"""SPEC.md §9.3 `feature_set`: 1 is exactly the nine statistics in order; 2 any other FeatureSet (host-computed,
described by `FeatureSet.to_json()` in NAME.preprocess.json)."""
MAX_BANDS = 16
BAND_FLOOR = 1e-9


@dataclass(frozen=True)
class FeatureSet:
    """Which per-channel features a window becomes: `stats` (names from FEATURE_NAMES, in that order) then
    `bands` spectral band energies.

    Band b of a window of N samples is log10(1e-9 + Σ |X_k|² / N²) over the rFFT bins k of the de-meaned
    window with b·K/B ≤ k−1 < (b+1)·K/B, K = N//2 bins above DC: equal-width bands from DC to Nyquist.
    The log keeps energies that span decades in a range one standardisation can hold. Channel-major:
    for each channel its stats then its bands.
    """

    stats: tuple[str, ...] = FEATURE_NAMES
    bands: int = 0

    def __post_init__(self) -> None:
        unknown = [s for s in self.stats if s not in FEATURE_NAMES]
        if unknown:
            raise InputError(f"unknown feature(s) {unknown}; choose from {', '.join(FEATURE_NAMES)} and bandsN")
        if tuple(s for s in FEATURE_NAMES if s in self.stats) != tuple(self.stats):
            object.__setattr__(self, "stats", tuple(s for s in FEATURE_NAMES if s in self.stats))
        if not 0 <= self.bands <= MAX_BANDS:
            raise InputError(f"bands must be 0..{MAX_BANDS}, got {self.bands}")
        if not self.stats and not self.bands:
            raise InputError("a feature set needs at least one statistic or band")

    @classmethod
    def parse(cls, text: str | None) -> "FeatureSet":
        """Parse `stats9`, `stats9+bands4`, `min,max,rms,bands8`, ... (None or '' = stats9)."""
        if not text:
            return cls()
        stats: list[str] = []
        bands = 0
        for part in text.replace("+", ",").split(","):
            part = part.strip()
            if part == "stats9":
                stats.extend(FEATURE_NAMES)
            elif part.startswith("bands"):
                try:
                    bands = int(part[5:])
                except ValueError:
                    raise InputError(f"feature {part!r}: write bandsN, e.g. bands4") from None
            elif part:
                stats.append(part)
        return cls(tuple(dict.fromkeys(stats)), bands)

    @property
    def per_channel(self) -> int:
        return len(self.stats) + self.bands

    @property
    def set_id(self) -> int:
        """The descriptor's feature_set value (SPEC.md §9.3)."""
        return FEATURE_SET_IDS["edgeloop-stats9" if self == FeatureSet() else "edgeloop-select"]

    def spec(self) -> str:
        """The `--features` text that parses back to this set."""
        stats = "stats9" if self.stats == FEATURE_NAMES else ",".join(self.stats)
        return ",".join(p for p in (stats, f"bands{self.bands}" if self.bands else "") if p)

    def names(self, channels: tuple[str, ...]) -> list[str]:
        """Names of the vector's entries, e.g. 'ax.min', 'ax.band0', in vector order."""
        per = [*self.stats, *(f"band{b}" for b in range(self.bands))]
        return [f"{c}.{f}" for c in channels for f in per]

    def to_json(self) -> dict[str, object]:
        return {"stats": list(self.stats), "bands": self.bands}

    @classmethod
    def from_json(cls, obj: dict[str, object]) -> "FeatureSet":
        return cls(tuple(obj.get("stats", FEATURE_NAMES)), int(obj.get("bands", 0)))  # type: ignore[arg-type]

    def compute(self, windows: np.ndarray, chunk: int = 512) -> np.ndarray:
        """Features of windows (W, N, C) → float32 (W, C × per_channel)."""
        w_all = np.asarray(windows, np.float32)
        if w_all.ndim != 3 or w_all.shape[1] < 2:
            raise ValueError(f"windows must be (W, samples ≥ 2, channels), got shape {w_all.shape}")
        idx = [FEATURE_NAMES.index(s) for s in self.stats]
        out = np.empty((len(w_all), w_all.shape[2], self.per_channel), np.float32)
        for i in range(0, len(w_all), chunk):
            w = w_all[i : i + chunk].astype(np.float64)
            if idx:
                out[i : i + chunk, :, : len(idx)] = _stats(w)[..., idx]
            if self.bands:
                out[i : i + chunk, :, len(idx):] = band_energies(w, self.bands)
        return out.reshape(len(w_all), -1)


def band_energies(w: np.ndarray, bands: int) -> np.ndarray:
    """Log band energies of windows (W, N, C) → (W, C, bands), as FeatureSet defines them."""
    n = w.shape[1]
    spec = np.abs(np.fft.rfft(w - w.mean(axis=1, keepdims=True), axis=1)[:, 1:, :]) ** 2 / float(n * n)
    k = spec.shape[1]
    edges = np.linspace(0, k, bands + 1).round().astype(int)
    out = np.empty((w.shape[0], w.shape[2], bands))
    for b in range(bands):
        a, e = edges[b], max(edges[b + 1], edges[b] + 1)
        out[:, :, b] = np.log10(BAND_FLOOR + spec[:, a:e, :].sum(axis=1))
    return out
