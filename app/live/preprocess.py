"""Turn captures into the exact input tensor a board's model expects, driven by its descriptor (INFO).

- Images (`input_kind` image, or a rank-4 tensor): optional ROI crop, area
  resize to H×W, RGB → gray when C is 1 (or the model says gray), RGB → BGR
  when the model's preprocess.json says bgr (input_spec), then quantization to the input
  tensor's dtype, scale and zero point through a 256-entry lookup table.
- IMU (`imu-window` / `imu-features`): samples are resampled to the model's
  `sample_rate_hz` when the source runs at another rate, cut into windows of
  `window` samples every `hop` samples, and sent raw or as the nine edgeloop
  statistics per channel (`edgeloop.models.features`), then quantized.

Example::

    pre = make_preprocessor(info.model_by_id(info.active_model), roi=Roi(0.25, 0.1, 0.5, 0.8))
    for prepared in pre.process(frame):
        session.infer(prepared.payload)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeloop import EdgeloopError, InputError, require
from edgeloop.app.live.input_spec import ImageInputSpec, image_input_spec, parse_image_spec
from edgeloop.app.live.sources.base import IMU_CHANNELS, Capture, ImageFrame, ImuSamples
from edgeloop.models import quantization
from edgeloop.models.features import FeatureNorm
from edgeloop.protocol import DType, InputKind, ModelDescriptor, NormMode, TensorDesc

FEATURES_PER_CHANNEL = 9
"""Window statistics per IMU channel in the `imu-features` input (SPEC §5.3)."""

_PIXEL_RANGES = ((0.0, 1.0), (-1.0, 1.0), (0.0, 255.0), (-128.0, 127.0))


class PreprocessError(EdgeloopError, ValueError):
    """A capture cannot be turned into the model's input (wrong kind or shape)."""


@dataclass(frozen=True)
class Roi:
    """Region of interest as fractions of the image: left, top, width, height in 0..1."""

    x: float = 0.0
    y: float = 0.0
    w: float = 1.0
    h: float = 1.0

    def __post_init__(self) -> None:
        if not (0 <= self.x < 1 and 0 <= self.y < 1 and 0 < self.w <= 1 and 0 < self.h <= 1
                and self.x + self.w <= 1 + 1e-6 and self.y + self.h <= 1 + 1e-6):
            raise InputError(f"ROI {self} must lie inside the image: x, y in [0, 1), w, h in (0, 1], "
                             f"x + w <= 1, y + h <= 1")

    @classmethod
    def parse(cls, text: str) -> Roi:
        """Parse `x,y,w,h` fractions, e.g. `0.25,0.1,0.5,0.8`."""
        try:
            values = [float(v) for v in text.split(",")]
        except ValueError as exc:
            raise InputError(f"ROI {text!r} is not four numbers x,y,w,h (fractions of the image)") from exc
        if len(values) != 4:
            raise InputError(f"ROI {text!r} needs four numbers x,y,w,h (fractions of the image)")
        return cls(*values)

    def pixels(self, width: int, height: int) -> tuple[int, int, int, int]:
        """The ROI in pixels (x0, y0, x1, y1) for an image of this size, at least 1×1."""
        x0, y0 = int(self.x * width), int(self.y * height)
        x1 = max(x0 + 1, min(width, round((self.x + self.w) * width)))
        y1 = max(y0 + 1, min(height, round((self.y + self.h) * height)))
        return x0, y0, x1, y1

    @property
    def is_full(self) -> bool:
        """True when the ROI is the whole image."""
        return self.x == 0 and self.y == 0 and self.w == 1 and self.h == 1


@dataclass(frozen=True)
class Prepared:
    """One model input ready to send, with where it came from."""

    payload: bytes  # the input tensor bytes, exactly `input.nbytes`
    timestamp: float  # capture time (monotonic s) of the frame, or of the window's last sample
    capture_index: int
    view: np.ndarray  # what the model sees: the H×W×C image, or the window×6 samples in g/dps
    meta: Mapping[str, Any]


# -- quantization ------------------------------------------------------------------------------
def quantize(real: np.ndarray, tensor: TensorDesc) -> np.ndarray:
    """Real values → the tensor's dtype as the board's QUANTIZE computes it (edgeloop.models.quantization)."""
    dtype = DType(tensor.dtype)
    if dtype == DType.FLOAT32:
        return np.asarray(real, dtype="<f4")
    if not tensor.scale > 0:
        raise PreprocessError(f"input tensor of dtype {dtype.name} has scale {tensor.scale}: "
                              "the model descriptor is broken")
    return quantization.quantize(real, tensor.scale, tensor.zero_point, dtype.numpy_name)


def standardize(model: ModelDescriptor, values: np.ndarray) -> np.ndarray:
    """Apply the model's input standardisation (SPEC 5.3 `norms`, §9.3 `norm_mode`), flattened.

    One (mean, std) pair per input element, or with norm_mode PER_CHANNEL one pair per
    channel (the last axis of a samples × channels window). The arithmetic is
    edgeloop.models.features.FeatureNorm's, the one training fitted: float32, as the
    board computes it. Without norms, `values` is returned as is.
    """
    if not model.input_norm:
        return values
    mean, std = zip(*model.input_norm)
    norm = FeatureNorm(np.asarray(mean, np.float32), np.asarray(std, np.float32))
    if model.norm_mode == NormMode.PER_CHANNEL:
        return norm.apply(np.asarray(values).reshape(-1, len(mean))).reshape(-1)
    return norm.apply(np.asarray(values).reshape(-1))


def dequantize(raw: bytes, tensor: TensorDesc) -> np.ndarray:
    """Tensor bytes → float64 real values (`scale × (q − zero_point)`; floats as they are)."""
    dtype = DType(tensor.dtype)
    if len(raw) != tensor.nbytes:
        raise PreprocessError(f"output of {len(raw)} bytes does not match the tensor's {tensor.nbytes} bytes")
    values = np.frombuffer(raw, dtype=dtype.numpy_name)
    if dtype == DType.FLOAT32 or not tensor.scale:
        return values.astype(np.float64)
    return quantization.dequantize(values, tensor.scale, tensor.zero_point).astype(np.float64)


def pixel_range(tensor: TensorDesc) -> tuple[float, float]:
    """The real range pixels 0..255 map to, inferred from the input quantization.

    A model trained on [0, 1] inputs has a representable range of about
    [0, 1] (scale ≈ 1/255); one trained on [-1, 1] or raw [0, 255] shows it
    likewise. The candidate whose range best overlaps the representable one wins.
    """
    dtype = DType(tensor.dtype)
    if dtype == DType.FLOAT32 or not tensor.scale:
        return (0.0, 1.0)
    info = np.iinfo(np.dtype(dtype.numpy_name))
    lo, hi = tensor.scale * (info.min - tensor.zero_point), tensor.scale * (info.max - tensor.zero_point)

    def misfit(candidate: tuple[float, float]) -> float:
        c_lo, c_hi = candidate
        span = c_hi - c_lo
        return (abs(c_lo - lo) + abs(c_hi - hi)) / span

    return min(_PIXEL_RANGES, key=misfit)


# -- images ---------------------------------------------------------------------------------------
class ImagePreprocessor:
    """ROI crop, resize, colour conversion and quantization for a `[1, H, W, C]` input."""

    kind = "image"  # the source kind it accepts

    def __init__(self, model: ModelDescriptor, roi: Roi | None = None,
                 pixel_range_override: tuple[float, float] | None = None, *,
                 spec: ImageInputSpec | None = None) -> None:
        dims = model.input.dims
        if len(dims) != 4 or dims[0] != 1 or dims[3] not in (1, 3):
            raise PreprocessError(f"model {model.name!r} input shape {list(dims)} is not an image "
                                  f"[1, H, W, 1|3]")
        if model.input_norm:
            raise PreprocessError(f"model {model.name!r} asks for per-pixel input standardisation, which image "
                                  "preprocessing does not do: fold the normalisation into the network instead")
        self.model = model
        self.height, self.width, self.channels = dims[1], dims[2], dims[3]
        self.roi = roi or Roi()
        # The model's preprocess.json (spec) wins over the range guessed from the quantization.
        spec = spec or ImageInputSpec()
        self.color_order = spec.color_order
        lo, hi = pixel_range_override or spec.pixel_range or pixel_range(model.input)
        self.pixel_range = (lo, hi)
        # Every pixel value quantizes the same way: one table lookup per pixel instead of float math.
        self._lut = quantize(lo + np.arange(256) * ((hi - lo) / 255.0), model.input)

    def model_view(self, image: np.ndarray) -> np.ndarray:
        """The H×W×C uint8 image the model sees (after ROI, resize and colour conversion)."""
        if image.ndim == 2:
            image = image[:, :, None]
        if image.ndim != 3 or image.shape[2] not in (1, 3, 4) or image.dtype != np.uint8:
            raise PreprocessError(f"expected an H×W×C uint8 image, got {image.dtype} {image.shape}")
        height, width = image.shape[:2]
        roi = self.roi
        if not roi.is_full:
            x0, y0, x1, y1 = roi.pixels(width, height)
            image = image[y0:y1, x0:x1]
        if image.shape[2] == 4:
            image = image[:, :, :3]
        cv2 = require("cv2", needed_for="image input")
        if (self.channels == 1 or self.color_order == "gray") and image.shape[2] == 3:
            image = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)[:, :, None]
        if self.channels == 3 and image.shape[2] == 1:
            image = np.repeat(image, 3, axis=2)
        if image.shape[:2] != (self.height, self.width):
            shrinking = image.shape[0] >= self.height and image.shape[1] >= self.width
            image = cv2.resize(np.ascontiguousarray(image), (self.width, self.height),
                               interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
        if image.ndim == 2:
            image = image[:, :, None]
        return image

    def encode(self, view: np.ndarray) -> bytes:
        """Quantized input tensor bytes of a model view (an RGB view goes in BGR order to a BGR model)."""
        if self.color_order == "bgr" and view.shape[-1] == 3:
            view = view[..., ::-1]  # the view stays RGB for display; only the tensor is reordered
        return self._lut[view].tobytes()

    def process(self, capture: Capture) -> list[Prepared]:
        """One `Prepared` per image frame."""
        if not isinstance(capture, ImageFrame):
            raise PreprocessError(f"model {self.model.name!r} takes images, but the source gives IMU samples: "
                                  f"pick an image source or an IMU model")
        view = self.model_view(capture.data)
        return [Prepared(self.encode(view), capture.timestamp, capture.index, view, capture.meta)]


# -- IMU --------------------------------------------------------------------------------------------
class StreamResampler:
    """Linear-interpolation resampler for a sample stream, from `src_hz` to `dst_hz`, chunk by chunk."""

    def __init__(self, src_hz: float, dst_hz: float) -> None:
        if src_hz <= 0 or dst_hz <= 0:
            raise InputError(f"sample rates must be > 0, got {src_hz} and {dst_hz}")
        self.step = src_hz / dst_hz  # input samples per output sample
        self._last: np.ndarray | None = None
        self._phase = 0.0  # position of the next output, in input samples after _last

    def push(self, samples: np.ndarray) -> np.ndarray:
        """Resample the next chunk; returns the output samples it completes."""
        if not len(samples):
            return np.zeros((0,) + samples.shape[1:], dtype=np.float32)
        # Index 0 of `series` is the previous chunk's last sample (already accounted for by _phase > 0).
        series = samples if self._last is None else np.vstack([self._last[None, :], samples])
        positions = np.arange(self._phase, len(series) - 1 + 1e-9, self.step)
        lower = np.floor(positions).astype(int)
        upper = np.minimum(lower + 1, len(series) - 1)
        frac = (positions - lower)[:, None]
        out = series[lower] * (1 - frac) + series[upper] * frac
        if len(positions):
            self._phase = positions[-1] + self.step
        self._phase -= len(series) - 1
        self._last = series[-1]
        return out.astype(np.float32)


WINDOW_KINDS = (2, 4)    # imu-window, timeseries-window (SPEC §5.3, §9.3): raw samples [1, window, channels]
FEATURE_KINDS = (3, 5)   # imu-features, timeseries-features: [1, channels × features per channel]
MAX_CHANNELS = 64


class ImuPreprocessor:
    """Windowing of sensor streams (any 1..64 channels) for the window and feature input kinds.

    `feature_set` (an edgeloop.models.features.FeatureSet) is the host-side feature set of a feature
    model (from its NAME.preprocess.json); the nine statistics by default. `channel_names`, when the
    model's channels are known, picks the source's columns by name; otherwise the first C columns are used.
    """

    kind = "imu"

    def __init__(self, model: ModelDescriptor, *, assume_rate_hz: float | None = None, feature_set: Any = None,
                 channel_names: tuple[str, ...] | None = None) -> None:
        kind = int(model.input_kind)
        if kind not in (*WINDOW_KINDS, *FEATURE_KINDS):
            raise PreprocessError(f"model {model.name!r} is not a time-series model (input_kind {kind})")
        if model.window <= 0 or model.hop <= 0:
            raise PreprocessError(f"IMU model {model.name!r} has window {model.window} and hop {model.hop}; "
                                  f"both must be > 0 (rebuild the model with MODEL.meta.json window/hop)")
        self.model = model
        self.input_kind = kind
        self.window, self.hop = model.window, model.hop
        self.rate_hz = float(getattr(model, "sample_rate_mhz", 0) or 0) / 1000.0 or \
            float(model.sample_rate_hz or assume_rate_hz or 0.0)
        if feature_set is None:
            from edgeloop.models.features import FeatureSet  # numpy only

            feature_set = FeatureSet()
        self.feature_set = feature_set
        per_channel = feature_set.per_channel
        size = model.input.size
        if kind in WINDOW_KINDS:
            if size % self.window:
                raise PreprocessError(f"model {model.name!r}: input of {size} values is not window "
                                      f"{self.window} × channels")
            self.channels = size // self.window
        else:
            if size % per_channel:
                raise PreprocessError(f"model {model.name!r}: input of {size} values is not channels × "
                                      f"{per_channel} features ({feature_set.spec()})")
            self.channels = size // per_channel
        if not 1 <= self.channels <= MAX_CHANNELS:
            raise PreprocessError(f"model {model.name!r} wants {self.channels} channels; 1 to {MAX_CHANNELS} "
                                  "are supported")
        self.channel_names = tuple(channel_names) if channel_names else None
        self.view_channels: tuple[str, ...] | None = None  # the window's column names, once a chunk arrived
        self._columns: np.ndarray | None = None  # source columns feeding the model, fixed at the first chunk
        self._buffer = np.zeros((0, self.channels), dtype=np.float32)
        self._until_next = self.window  # samples still needed before the next window is complete
        self._resampler: StreamResampler | None = None
        self._src_rate = 0.0
        self._last_time = 0.0

    def _resample(self, chunk: ImuSamples) -> np.ndarray:
        src = chunk.rate_hz
        if not src or not self.rate_hz or abs(src - self.rate_hz) <= 0.02 * self.rate_hz:
            self._resampler = None
            return chunk.data
        if self._resampler is None or abs(src - self._src_rate) > 0.02 * self._src_rate:
            self._resampler, self._src_rate = StreamResampler(src, self.rate_hz), src
        return self._resampler.push(chunk.data)

    def features(self, window: np.ndarray) -> np.ndarray:
        """The model's real-valued input for one window×channels block, standardised as INFO says."""
        if self.input_kind in WINDOW_KINDS:
            return standardize(self.model, window)
        feats = self.feature_set.compute(np.asarray(window, np.float32)[None])[0]
        return standardize(self.model, np.asarray(feats, dtype=np.float64).reshape(-1))

    def _select(self, capture: ImuSamples, samples: np.ndarray) -> np.ndarray:
        """The model's channels out of a chunk: by name when both sides name them, else the first C."""
        if self._columns is None:
            names = tuple(getattr(capture, "channels", IMU_CHANNELS))
            if samples.shape[1] < self.channels:
                raise PreprocessError(f"model {self.model.name!r} wants {self.channels} channels, the source gives "
                                      f"{samples.shape[1]} ({', '.join(names)}); pick a source with its channels")
            if self.channel_names and set(self.channel_names) <= set(names):
                self._columns = np.array([names.index(n) for n in self.channel_names])
            else:
                self._columns = np.arange(self.channels)
            # The names of the window's columns, for displays (the GUI's sensor traces).
            self.view_channels = tuple(names[i] if i < len(names) else f"ch{i}" for i in self._columns)
        return samples[:, self._columns]

    def process(self, capture: Capture) -> list[Prepared]:
        """Append samples; return one `Prepared` per completed window (often none)."""
        if not isinstance(capture, ImuSamples):
            raise PreprocessError(f"model {self.model.name!r} takes IMU windows, but the source gives images: "
                                  f"pick an IMU source or an image model")
        samples = self._resample(capture)
        if not len(samples):
            return []
        samples = self._select(capture, samples)
        rate = self.rate_hz or capture.rate_hz
        self._buffer = np.concatenate([self._buffer, samples])
        end_time = capture.timestamp + (len(capture.data) - 1) / capture.rate_hz if capture.rate_hz else \
            capture.timestamp
        out: list[Prepared] = []
        consumed_to = len(self._buffer)
        pos = len(self._buffer) - len(samples) + self._until_next  # end index of the next window
        while pos <= len(self._buffer):
            window = self._buffer[pos - self.window:pos]
            stamp = end_time - (len(self._buffer) - pos) / rate if rate else end_time
            payload = quantize(self.features(window), self.model.input).tobytes()
            out.append(Prepared(payload, stamp, capture.index, self._buffer[pos - self.window:pos].copy(),
                                capture.meta))
            pos += self.hop
        self._until_next = pos - len(self._buffer)
        # The next window starts at or after len - window: older samples are never needed again.
        self._buffer = self._buffer[max(0, consumed_to - self.window):]
        return out


class TensorPreprocessor:
    """A `tensor` model: the capture's values, flattened, must have exactly the input's element count."""

    kind = "any"

    def __init__(self, model: ModelDescriptor) -> None:
        self.model = model

    def process(self, capture: Capture) -> list[Prepared]:
        """The capture quantized as is, when its size matches the input."""
        values = np.asarray(capture.data)
        if values.size != self.model.input.size:
            raise PreprocessError(f"model {self.model.name!r} takes {self.model.input.size} values "
                                  f"(shape {list(self.model.input.dims)}), the source gives {values.size}")
        real = standardize(self.model, values.astype(np.float64).reshape(-1))
        return [Prepared(quantize(real, self.model.input).tobytes(), capture.timestamp, capture.index, values,
                         capture.meta)]


Preprocessor = ImagePreprocessor | ImuPreprocessor | TensorPreprocessor


def make_preprocessor(model: ModelDescriptor, *, roi: Roi | None = None, model_dirs: Iterable[Path | str] = (),
                      preprocess: Mapping[str, Any] | None = None) -> Preprocessor:
    """The preprocessor that `model.input_kind` calls for.

    An image model's colour order and pixel range come from its NAME.preprocess.json (edgeloop.app.live.
    input_spec): `preprocess` when the caller has it, else the file found by the descriptor's SHA-256 in
    `model_dirs`, EDGELOOP_MODEL_PATH and the zoo. Without one: RGB and the range the quantization implies.
    """
    kind = InputKind(model.input_kind)
    if kind == InputKind.IMAGE or (kind == InputKind.TENSOR and len(model.input.dims) == 4
                                   and model.input.dims[3] in (1, 3)):
        spec = (parse_image_spec(preprocess, "the model's preprocess settings") if preprocess is not None
                else image_input_spec(model.hash, model_dirs))
        return ImagePreprocessor(model, roi, spec=spec)
    if int(kind) in (*WINDOW_KINDS, *FEATURE_KINDS):
        return ImuPreprocessor(model)
    return TensorPreprocessor(model)


def softmax_if_logits(values: np.ndarray) -> np.ndarray:
    """Class probabilities from an output vector: kept when it already sums to 1, softmaxed otherwise."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if values.size and np.all(values >= -1e-6) and math.isclose(values.sum(), 1.0, abs_tol=0.02):
        return values
    shifted = np.exp(values - values.max()) if values.size else values
    return shifted / shifted.sum() if values.size else values
