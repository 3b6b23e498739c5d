"""Post-training int8 quantization and export of trained Keras models.

`export_model()` writes everything a zoo entry or a training run ships:

- `NAME.keras`          the trained float model (Keras 3 format)
- `NAME_float.tflite`   float32 TFLite model
- `NAME.tflite`         full-integer int8 TFLite model (int8 input and output),
                        calibrated on a representative data set
- `NAME.onnx`           float ONNX model (through tf2onnx, when it is installed)
- `NAME.meta.json`      what the model compiler needs beside the int8 model
                        (labels, input kind, IMU rate/window/hop), see docs/formats.md
- `NAME.preprocess.json` how a host builds the input (feature standardisation,
                        image size), when the model needs more than the descriptor

Int8 tensors follow TFLite's affine rule `real = scale * (q - zero_point)`;
`quantize()` and `dequantize()` apply it on the host side.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgeloop import EdgeloopError, InputError, MissingExtraError, MissingFileError, os_errors_explained, require

from edgeloop.models import quantization

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

INPUT_KINDS = ("tensor", "image", "imu-window", "imu-features", "timeseries-window", "timeseries-features")
WINDOWED_KINDS = ("imu-window", "imu-features", "timeseries-window", "timeseries-features")
META_SUFFIX = ".meta.json"
PREPROCESS_SUFFIX = ".preprocess.json"


class ExportError(EdgeloopError, RuntimeError):
    """A model could not be converted to one of the export formats."""


@dataclass(frozen=True)
class ModelMeta:
    """Contents of `NAME.meta.json` (and `NAME.preprocess.json`), written beside the int8 `.tflite`.

    meta.json holds exactly what the model compiler copies into the model
    descriptor (SPEC.md 5.3): labels, input_kind, sample_rate_hz, window, hop.
    `preprocess` holds what a host needs to build the model's input and goes
    to `NAME.preprocess.json` (docs/formats.md): for `imu-features` models the
    channel names and per-feature standardisation `feature_norm` (the host
    computes `(x - mean) / std` before quantizing with the input tensor's scale
    and zero point, because one int8 scale cannot hold statistics whose ranges
    differ by five decades; `edgeloop compile` copies it into the descriptor's
    `norms`); for images, the size, channels and pixel scaling.
    """

    labels: tuple[str, ...]
    input_kind: str
    sample_rate_hz: float = 0
    window: int = 0
    hop: int = 0
    preprocess: dict[str, Any] = field(default_factory=dict)
    decision: dict[str, Any] | None = None  # edgeloop.models.decision.DecisionRule.to_json(); None: none

    def __post_init__(self) -> None:
        if self.input_kind not in INPUT_KINDS:
            raise InputError(f"input_kind {self.input_kind!r} is not one of {', '.join(INPUT_KINDS)}")
        if self.decision is not None:
            from edgeloop.models.decision import DecisionRule

            DecisionRule.from_json(self.decision, "ModelMeta.decision")
        imu = self.input_kind in WINDOWED_KINDS
        if imu and (self.sample_rate_hz <= 0 or self.window <= 0 or self.hop <= 0):
            raise InputError(f"an {self.input_kind} model needs a positive sample_rate_hz, window and hop")
        if not imu and (self.sample_rate_hz or self.window or self.hop):
            raise InputError("sample_rate_hz, window and hop apply to IMU input kinds only")

    def to_json(self) -> dict[str, Any]:
        """Return the JSON object written to `NAME.meta.json`."""
        rate = float(self.sample_rate_hz)
        obj: dict[str, Any] = {"labels": list(self.labels), "input_kind": self.input_kind,
                               "sample_rate_hz": int(rate) if rate.is_integer() else rate,
                               "window": int(self.window), "hop": int(self.hop)}
        if self.decision is not None:
            obj["decision"] = dict(self.decision)
        return obj

    @classmethod
    def from_json(cls, data: dict[str, Any], preprocess: dict[str, Any] | None = None) -> "ModelMeta":
        """Build a ModelMeta from a parsed meta.json object (and preprocess.json, if any)."""
        missing = {"labels", "input_kind"} - data.keys()
        if missing:
            raise InputError(f"meta.json lacks {', '.join(sorted(missing))}; re-export the model with edgeloop train")
        rate = float(data.get("sample_rate_hz", 0))
        return cls(labels=tuple(data["labels"]), input_kind=data["input_kind"],
                   sample_rate_hz=int(rate) if rate.is_integer() else rate, window=int(data.get("window", 0)),
                   hop=int(data.get("hop", 0)), preprocess=dict(preprocess or {}), decision=data.get("decision"))


def meta_paths(tflite_path: Path) -> tuple[Path, Path]:
    """(NAME.meta.json, NAME.preprocess.json) beside NAME.tflite."""
    p = Path(tflite_path)
    stem = p.name[: -len(".tflite")] if p.name.endswith(".tflite") else p.name
    return p.with_name(stem + META_SUFFIX), p.with_name(stem + PREPROCESS_SUFFIX)


def write_meta(tflite_path: Path, meta: ModelMeta) -> tuple[Path, Path | None]:
    """Write NAME.meta.json (and NAME.preprocess.json when there is preprocessing) beside NAME.tflite."""
    meta_path, pre_path = meta_paths(tflite_path)
    meta_path.write_text(json.dumps(meta.to_json(), indent=2) + "\n", encoding="utf-8")
    if meta.preprocess:
        pre_path.write_text(json.dumps(meta.preprocess, indent=2) + "\n", encoding="utf-8")
        return meta_path, pre_path
    return meta_path, None


def read_meta(tflite_path: Path) -> ModelMeta:
    """Read the meta.json (and preprocess.json, if present) of the model NAME.tflite."""
    meta_path, pre_path = meta_paths(tflite_path)
    try:
        data = json.loads(meta_path.read_text(encoding="utf-8"))
        pre = json.loads(pre_path.read_text(encoding="utf-8")) if pre_path.exists() else None
    except FileNotFoundError as exc:
        raise MissingFileError(f"{exc.filename} is missing; re-export the model with edgeloop train") from exc
    except json.JSONDecodeError as exc:
        raise InputError(f"{meta_path} or {pre_path.name} is not valid JSON ({exc}); re-export the model") from exc
    return ModelMeta.from_json(data, pre)


@dataclass(frozen=True)
class QuantParams:
    """Scale and zero point of one int8 tensor."""

    scale: float
    zero_point: int


def quantize(x: np.ndarray, qp: QuantParams) -> np.ndarray:
    """Map real values to int8 as TFLite's QUANTIZE does (edgeloop.models.quantization: halves away from zero)."""
    return quantization.quantize(x, qp.scale, qp.zero_point, np.int8)


def dequantize(q: np.ndarray, qp: QuantParams) -> np.ndarray:
    """Map int8 values back to real values (float32, as TFLite's DEQUANTIZE returns them)."""
    return quantization.dequantize(q, qp.scale, qp.zero_point)


def io_quant_params(tflite: bytes) -> tuple[QuantParams, QuantParams]:
    """Return the (input, output) quantization of a single-input, single-output int8 model."""
    runtime = require("tflite_micro.python.tflite_micro.runtime", needed_for="the int8 export")

    interp = runtime.Interpreter.from_bytes(tflite)
    pairs = []
    for det in (interp.get_input_details(0), interp.get_output_details(0)):
        if det["dtype"] != np.int8:
            raise InputError(f"the model's tensors are {np.dtype(det['dtype']).name}, not int8; "
                             "export the model with to_tflite_int8()")
        qp = det["quantization_parameters"]
        pairs.append(QuantParams(float(qp["scales"][0]), int(qp["zero_points"][0])))
    return pairs[0], pairs[1]


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the converter's prints of the intermediate SavedModel signature."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield


def _converter(model: Any) -> Any:
    tf = require("tensorflow", needed_for="the int8 export")

    return tf.lite.TFLiteConverter.from_keras_model(model)


def to_tflite_float(model: Any) -> bytes:
    """Convert a Keras model to a float32 TFLite flatbuffer."""
    with _quiet():
        try:
            return bytes(_converter(model).convert())
        except Exception as exc:  # the converter raises a zoo of types
            raise ExportError(f"float TFLite conversion failed: {exc}") from exc


def to_tflite_int8(model: Any, representative: np.ndarray, max_samples: int = 400, seed: int = 0) -> bytes:
    """Convert a Keras model to a full-integer int8 TFLite flatbuffer.

    `representative` holds float inputs shaped like the model input without
    the batch axis removed (N, ...); up to `max_samples` of them, drawn with
    `seed`, calibrate every activation range. Input and output are int8.
    """
    tf = require("tensorflow", needed_for="the int8 export")

    rep = np.asarray(representative, dtype=np.float32)
    if rep.ndim < 2 or len(rep) == 0:
        raise InputError("the representative data set must be a non-empty batch (N, ...) of model inputs")
    if len(rep) > max_samples:
        rep = rep[np.random.default_rng(seed).choice(len(rep), max_samples, replace=False)]

    def gen() -> Iterator[list[np.ndarray]]:
        for i in range(len(rep)):
            yield [rep[i : i + 1]]

    conv = _converter(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = gen
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    with _quiet(), warnings.catch_warnings():
        # The converter warns that int8 input statistics were not given: the representative set gives them.
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs")
        try:
            return bytes(conv.convert())
        except Exception as exc:
            raise ExportError(f"int8 TFLite conversion failed: {exc}") from exc


def to_onnx(model: Any, path: Path, opset: int = 13) -> None:
    """Export a Keras model to ONNX through tf2onnx.

    Raises MissingExtraError when tf2onnx is missing and ExportError when it cannot
    convert the model; nothing is written in either case.
    """
    tf2onnx = require("tf2onnx", needed_for="the ONNX export")
    tf = require("tensorflow", needed_for="the int8 export")

    spec = [tf.TensorSpec((None, *model.input_shape[1:]), tf.float32, name="input")]
    fn = tf.function(lambda x: model(x, training=False), input_signature=spec)
    try:
        proto, _ = tf2onnx.convert.from_function(fn, input_signature=spec, opset=opset)
    except Exception as exc:
        raise ExportError(f"tf2onnx could not convert the model: {type(exc).__name__}: {exc}") from exc
    Path(path).write_bytes(proto.SerializeToString())


def _without_optimizer(model: Any) -> Any:
    """A copy of `model` with the same weights but no optimizer state (a third of a compiled .keras file)."""
    keras = require("keras", needed_for="the int8 export")

    if getattr(model, "optimizer", None) is None:
        return model
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    return clone


@dataclass(frozen=True)
class ExportResult:
    """Paths written by export_model(); `onnx_error` says why ONNX is absent, if it is."""

    keras: Path
    tflite_float: Path
    tflite_int8: Path
    meta: Path
    preprocess: Path | None
    onnx: Path | None
    onnx_error: str | None

    def as_dict(self) -> dict[str, str | None]:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items()}


def export_model(model: Any, representative: np.ndarray, out_dir: Path, name: str, meta: ModelMeta,
                 seed: int = 0, onnx: bool = True) -> ExportResult:
    """Write the .keras, float and int8 .tflite, .onnx and meta.json files of `model` into `out_dir`."""
    out = Path(out_dir)
    with os_errors_explained(f"write the model files to {out}"):
        out.mkdir(parents=True, exist_ok=True)
        keras_path = out / f"{name}.keras"
        _without_optimizer(model).save(keras_path)
        float_path = out / f"{name}_float.tflite"
        float_path.write_bytes(to_tflite_float(model))
        int8_path = out / f"{name}.tflite"
        int8_path.write_bytes(to_tflite_int8(model, representative, seed=seed))
        meta_path, preprocess_path = write_meta(int8_path, meta)
    onnx_path: Path | None = None
    onnx_error: str | None = None
    if onnx:
        try:
            with tempfile.TemporaryDirectory() as tmp:
                tmp_path = Path(tmp) / "model.onnx"
                with _quiet():
                    to_onnx(model, tmp_path)
                onnx_path = out / f"{name}.onnx"
                with os_errors_explained(f"write {onnx_path}"):
                    onnx_path.write_bytes(tmp_path.read_bytes())
        except (ExportError, MissingExtraError) as exc:  # the other exports stand without the ONNX one
            onnx_error = str(exc)
    return ExportResult(keras_path, float_path, int8_path, meta_path, preprocess_path, onnx_path, onnx_error)


def representative_sample(x: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Return up to `n` rows of `x` drawn without replacement (the calibration set)."""
    x = np.asarray(x)
    if len(x) <= n:
        return x
    return x[np.sort(np.random.default_rng(seed).choice(len(x), n, replace=False))]


def labels_json(labels: Sequence[str]) -> list[str]:
    """Validate class names for meta.json: non-empty, unique, at most 255 of them, each ≤ 255 UTF-8 bytes."""
    names = [str(s) for s in labels]
    if len(set(names)) != len(names):
        raise InputError(f"class labels must be unique, got {names}")
    if len(names) > 255 or any(len(s.encode()) > 255 or not s for s in names):
        raise InputError("at most 255 labels, each 1..255 UTF-8 bytes (they travel as str8 in SPEC.md 5.3)")
    return names


def zoo_dir() -> Path:
    """The folder of the bundled model zoo (models/zoo inside the package)."""
    import edgeloop

    return edgeloop.PACKAGE_ROOT / "models" / "zoo"


def find_model_by_hash(sha256: bytes | str, folders: Sequence[Path] | None = None) -> Path | None:
    """The int8 `.tflite` file whose SHA-256 is `sha256` (as in a model descriptor, SPEC.md 5.3).

    Searches `folders` (default: the bundled zoo) recursively and returns None
    when no file matches: how a host finds the training artefacts (report,
    preprocess.json, float model) of the model a board runs.
    """
    import hashlib

    want = sha256.hex() if isinstance(sha256, (bytes, bytearray)) else str(sha256).lower()
    for folder in folders if folders is not None else [zoo_dir()]:
        for path in sorted(Path(folder).rglob("*.tflite")):
            if hashlib.sha256(path.read_bytes()).hexdigest() == want:
                return path
    return None
