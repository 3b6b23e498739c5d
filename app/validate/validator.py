"""Validate a model on a board against the host reference: accuracy, output agreement, latency (no Qt).

Every labeled sample of a data set is turned into the model's exact input
bytes once (the app's preprocessing, driven by the board's descriptor), then
run through the board (INFER, keeping the board's credit window full) and
through the same .tflite in TFLite Micro's interpreter
(`edgeloop.models.reference`). Both see identical bytes, so any difference
is the board's arithmetic.

Checks before the run: the board's model hash must be the SHA-256 of the
given .tflite, and the .tflite's input and output shapes and types must match
the board's descriptor. A board that stops answering mid-run ends the run;
what was measured so far is kept (`ValidationResult.status == "partial"`) and
reported.

Example::

    with Session("socket://127.0.0.1:5555") as s:
        s.connect()
        data = load_validation_data("datasets/bottles", s.info.models[0])
        result = validate_on_board(s, 0, Path("bottles.tflite").read_bytes(), data)
    print(result.metrics["accuracy"], result.metrics["agreement"]["exact_match_rate"])
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from edgeloop import EdgeloopError, MissingFileError, require
from edgeloop.app.live import timing as timing_units
from edgeloop.app.live.pipeline import model_descriptor
from edgeloop.app.live.pipeline import resolve_model_id as pipeline_model_id
from edgeloop.app.live.preprocess import ImagePreprocessor, ImuPreprocessor, make_preprocessor, quantize
from edgeloop.app.live.sources.base import ImuSamples
from edgeloop.models import metrics, quantization
from edgeloop.models.decision import DecisionRule, rule_for_model
from edgeloop.protocol import DType, Infer, Info, InputKind, ModelDescriptor, TensorDesc, TimingSource

REPORT_FORMAT = "edgeloop-validation v1"


class ValidationError(EdgeloopError, ValueError):
    """The model, the .tflite and the data do not fit together; the message says what differs and what to do."""


# -- data ---------------------------------------------------------------------------------------------------
@dataclass
class ValidationData:
    """Model inputs (exact bytes), their true class (index into the model's labels, -1 unknown) and names."""

    inputs: list[bytes]
    truth: np.ndarray  # int64 class indices, -1 where unlabeled
    names: list[str]
    source: str
    targets: np.ndarray | None = None  # regression targets (float), when the data gives them
    groups: np.ndarray | None = None  # the labelled span (recording) of each input, in stream order

    def __len__(self) -> int:
        return len(self.inputs)


def _label_index(label: str, model: ModelDescriptor, where: str) -> int:
    labels = list(model.labels)
    if label in labels:
        return labels.index(label)
    raise ValidationError(f"{where}: class {label!r} is not among the labels {labels} of model {model.name!r}; "
                          "validate with data recorded for this model's classes (or retrain with these labels)")


def _read_rgb(path: Path) -> np.ndarray:
    cv2 = require("cv2", needed_for="image validation data")

    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ValidationError(f"cannot read image {path}: is it a PNG/JPEG file?")
    if image.dtype != np.uint8:
        image = cv2.convertScaleAbs(image, alpha=255.0 / max(1, int(image.max())))
    if image.ndim == 3 and image.shape[2] >= 3:
        image = cv2.cvtColor(image[:, :, :3], cv2.COLOR_BGR2RGB)
    return image


def _image_data(root: Path, model: ModelDescriptor, split: str | None, limit: int | None,
                model_dirs: Sequence[Path], preprocess: Mapping[str, Any] | None) -> ValidationData:
    from edgeloop.app.sessions.library import is_session, load_session
    from edgeloop.models.data.imagesets import scan_image_set

    pre = make_preprocessor(model, model_dirs=model_dirs, preprocess=preprocess)
    if not isinstance(pre, ImagePreprocessor):
        raise ValidationError(f"{root} holds images, but model {model.name!r} takes "
                              f"{InputKind(model.input_kind).name.lower()} input of shape {list(model.input.dims)}")
    if is_session(root):
        session = load_session(root)
        entries = [(e["file"], str(e["label"]), str(e.get("split", "train"))) for e in session.records]
    else:
        records, _ = scan_image_set(root)
        entries = [(r.file, r.label, r.split) for r in records]
    if split:
        entries = [e for e in entries if e[2] == split]
    if limit:
        entries = entries[:limit]
    if not entries:
        raise ValidationError(f"{root} has no images" + (f" in split {split!r}" if split else ""))
    inputs, truth, names = [], [], []
    for file, label, _ in entries:
        truth.append(_label_index(label, model, str(root / file)))
        inputs.append(pre.encode(pre.model_view(_read_rgb(root / file))))
        names.append(file)
    return ValidationData(inputs, np.asarray(truth, np.int64), names, str(root))


def _labelled_spans(paths: list[Path]) -> Iterator[tuple[Path, Any, int, int, str]]:
    """(file, recording, start, stop, label) of every labelled span: a case of a v2 file is a recording of its
    own, and windows never straddle a label change, so each span is windowed on its own."""
    from edgeloop.models.data.imu_csv import read_imu_csv

    for path in paths:
        for rec in read_imu_csv(path).cases():
            labels = np.asarray([str(x) for x in rec.labels], dtype=object)
            bounds = np.flatnonzero(labels[1:] != labels[:-1]) + 1
            for start, stop in zip(np.r_[0, bounds], np.r_[bounds, len(labels)]):
                if labels[start]:
                    yield path, rec, int(start), int(stop), str(labels[start])


def _imu_data(paths: list[Path], model: ModelDescriptor, limit: int | None) -> ValidationData:
    inputs, truth, names, groups = [], [], [], []
    span = -1  # index of the labelled span: the recording a window belongs to, for per-recording decisions
    for path, rec, start, stop, label in _labelled_spans(paths):
        pre = make_preprocessor(model)
        assert isinstance(pre, ImuPreprocessor)
        chunk = ImuSamples(rec.data[start:stop], float(rec.t[start]), 0, {}, rate_hz=rec.rate_hz,
                           channels=rec.channels)
        index = _label_index(label, model, f"{path}, samples {start}-{stop}")
        span += 1
        for k, prepared in enumerate(pre.process(chunk)):
            inputs.append(prepared.payload)
            truth.append(index)
            names.append(f"{path.name}:{start}+{k * pre.hop}")
            groups.append(span)
            if limit and len(inputs) >= limit:
                return ValidationData(inputs, np.asarray(truth, np.int64), names, ", ".join(map(str, paths)),
                                      groups=np.asarray(groups, np.int64))
    if not inputs:
        raise ValidationError(f"no labeled span of {', '.join(map(str, paths))} is as long as the model's window "
                              f"of {model.window} samples at {model.sample_rate_hz} Hz")
    return ValidationData(inputs, np.asarray(truth, np.int64), names, ", ".join(map(str, paths)),
                          groups=np.asarray(groups, np.int64))


def _tensor_data(path: Path, model: ModelDescriptor, limit: int | None) -> ValidationData:
    """An .npz with `x` (N × input shape; float → quantized, or already in the input dtype) and optional `y`."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            x = np.asarray(npz["x"])
            y = np.asarray(npz["y"]) if "y" in npz.files else None
    except (KeyError, ValueError, OSError) as exc:
        raise ValidationError(f"{path}: expected an .npz with an array 'x' (and optionally 'y'): {exc}") from exc
    size = model.input.size
    per_sample = int(np.prod(x.shape[1:])) if x.ndim >= 2 else 1
    if per_sample != size or not x.size:
        raise ValidationError(f"{path}: x has shape {list(x.shape)}, which is not N samples of model "
                              f"{model.name!r}'s input {list(model.input.dims)} ({size} values each)")
    x = x.reshape(-1, size)
    dtype = np.dtype(DType(model.input.dtype).numpy_name)
    q = x.astype(dtype) if x.dtype == dtype else quantize(x.astype(np.float64), model.input)
    n = len(q) if not limit else min(limit, len(q))
    truth = np.full(n, -1, np.int64)
    targets = None
    if y is not None:
        y = y.reshape(len(x), -1)[:n] if y.size else y
        if y.dtype.kind in "iu":
            truth = y[:, 0].astype(np.int64)
        elif y.dtype.kind in "US":
            truth = np.asarray([_label_index(str(v), model, str(path)) for v in y[:, 0]], np.int64)
        else:
            targets = y.astype(np.float64)
    return ValidationData([row.tobytes() for row in q[:n]], truth, [f"x[{i}]" for i in range(n)], str(path),
                          targets)


def load_validation_data(path: Path | str, model: ModelDescriptor, *, split: str | None = None,
                         limit: int | None = None, model_dirs: Sequence[Path] = (),
                         preprocess: Mapping[str, Any] | None = None) -> ValidationData:
    """Read a data set into the model's input bytes, as the board's descriptor says.

    `path` is an image set or image session folder (folder-per-class PNGs,
    manifest.jsonl), IMU CSV files or folders of them (IMU sessions
    included), or an .npz with `x` and optional `y` for tensor models.
    `split` keeps only samples of that split (image sets); `limit` caps the count. Images are fed
    as `edgeloop run` feeds them: colour order and pixel range from `preprocess` (a preprocess.json's
    contents) or the model's preprocess.json found in `model_dirs` or the zoo (make_preprocessor).
    """
    path = Path(path)
    if not path.exists():
        raise MissingFileError(f"validation data {path} does not exist")
    if path.suffix == ".npz":
        return _tensor_data(path, model, limit)
    kind = InputKind(model.input_kind)
    if kind in (InputKind.IMU_WINDOW, InputKind.IMU_FEATURES):
        from edgeloop.models.data.imu_csv import find_imu_csvs

        return _imu_data(find_imu_csvs([path]), model, limit)
    if path.is_dir():
        return _image_data(path, model, split, limit, model_dirs, preprocess)
    raise ValidationError(f"cannot tell how to feed {path} to model {model.name!r} "
                          f"({kind.name.lower()} input {list(model.input.dims)}): give an image folder, "
                          "IMU CSV recordings, or an .npz with x (and y)")


# -- checks ---------------------------------------------------------------------------------------------------
def _tflite_io(tflite: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    runtime = require("tflite_micro.python.tflite_micro.runtime", needed_for="the reference outputs of edgeloop validate")

    try:
        interp = runtime.Interpreter.from_bytes(bytes(tflite))
        return interp.get_input_details(0), interp.get_output_details(0)
    except (RuntimeError, ValueError, IndexError) as exc:
        raise ValidationError(f"TFLite Micro cannot load the .tflite ({exc}): is it a full-int8 model?") from exc


def check_model_matches(model: ModelDescriptor, tflite: bytes, *, allow_hash_mismatch: bool = False) -> list[str]:
    """Raise ValidationError when the board model is not this .tflite; return warnings that do not stop the run."""
    warnings = []
    digest = hashlib.sha256(tflite).digest()
    if digest != model.hash:
        board_hash = model.hash.hex() if any(model.hash) else "all zeros (built without a .tflite source)"
        text = (f"model {model.name!r} on the board was compiled from a different .tflite: board hash "
                f"{board_hash}, this file {digest.hex()}")
        if not allow_hash_mismatch:
            raise ValidationError(text + "; flash the model compiled from this file (edgeloop compile + "
                                  "firmware build), or pass the .tflite it was compiled from")
        warnings.append(text)
    details_in, details_out = _tflite_io(tflite)
    for what, desc, det in (("input", model.input, details_in), ("output", model.output, details_out)):
        shape = [int(d) for d in det["shape"]]
        dtype = np.dtype(det["dtype"])
        board_dtype = np.dtype(DType(desc.dtype).numpy_name)
        if int(np.prod(shape)) != desc.size or dtype != board_dtype:
            raise ValidationError(f"{what} shape mismatch: the board's model {model.name!r} has {what} "
                                  f"{list(desc.dims)} {board_dtype}, the .tflite has {shape} {dtype}: "
                                  "they are different models")
        if list(desc.dims) != shape:
            warnings.append(f"{what} dims differ in layout only: board {list(desc.dims)}, .tflite {shape}")
    return warnings


# -- metrics (pure numpy; classification figures from edgeloop.models.metrics, shared with training) ---------
confusion_matrix = metrics.confusion_matrix
per_class_metrics = metrics.per_class
accuracy = metrics.accuracy


def agreement_metrics(board: np.ndarray, reference: np.ndarray, scale: float = 1.0,
                      zero_point: int = 0) -> dict[str, Any]:
    """How far board outputs are from the reference: N×K arrays of raw output values (same dtype).

    Exact-match rates are over samples (every element equal) and elements;
    `max_abs_diff_q` is in raw output steps (LSB). RMSE, MAE, L2 relative
    error and cosine similarity are over dequantized real values
    (`scale × (q − zero_point)`; pass scale 1 for float outputs).
    """
    # A run that stopped before its first reply has 0 rows, which reshape(0, -1) cannot infer.
    b = np.asarray(board, np.float64).reshape(len(board), -1) if len(board) else np.zeros((0, 0))
    r = np.asarray(reference, np.float64).reshape(len(reference), -1) if len(reference) else np.zeros((0, 0))
    if b.shape != r.shape:
        raise ValidationError(f"board outputs {b.shape} and reference outputs {r.shape} differ in shape")
    if not len(b):
        return {"samples": 0}
    diff_q = np.abs(b - r)
    scale = float(scale) if scale else 1.0
    br, rr = scale * (b - zero_point), scale * (r - zero_point)
    d = br - rr
    ref_norm = float(np.linalg.norm(rr))
    nb, nr = np.linalg.norm(br, axis=1), np.linalg.norm(rr, axis=1)
    both = (nb > 0) & (nr > 0)
    cos = np.ones(len(b))
    cos[both] = np.sum(br[both] * rr[both], axis=1) / (nb[both] * nr[both])
    cos[(nb > 0) != (nr > 0)] = 0.0  # one output is all zero, the other not
    return {
        "samples": int(len(b)),
        "exact_match_rate": float(np.mean(np.all(diff_q == 0, axis=1))),
        "element_exact_rate": float(np.mean(diff_q == 0)),
        "max_abs_diff_q": float(diff_q.max()),
        "max_abs_diff": float(np.abs(d).max()),
        "rmse": float(np.sqrt(np.mean(d * d))),
        "mae": float(np.mean(np.abs(d))),
        "l2_relative": float(np.linalg.norm(d) / ref_norm) if ref_norm else (0.0 if not d.any() else math.inf),
        "cosine_mean": float(np.mean(cos)),
        "cosine_min": float(np.min(cos)),
    }


def latency_stats(ticks: np.ndarray, tick_hz: int, timing: TimingSource, *, macc: int = 0,
                  cpu_hz: int = 0, instr_per_tick: int = 0) -> dict[str, Any]:
    """Mean/min/max/std of device ticks and µs, plus work per MACC in the unit the timing source allows.

    Measured ticks (DWT cycles, SysTick) give CPU cycles per MACC (scaled by
    cpu_hz/tick_hz); QEMU's icount gives emulated instructions per MACC (ticks ×
    `instr_per_tick`, see edgeloop.app.live.timing; 0 = the board's INFO value is unknown); a
    host board gives host nanoseconds per MACC. The label says which.
    """
    t = np.asarray(ticks, np.float64)
    timing = TimingSource(timing)
    out: dict[str, Any] = {"samples": int(len(t)), "timing_source": timing.name.lower().replace("_", "-"),
                           "timing": timing.label, "tick_unit": timing_units.tick_unit(timing), "tick_hz": int(tick_hz)}
    if not len(t) or not tick_hz:
        return out
    us = t * 1e6 / tick_hz
    out["ticks"] = {"mean": float(t.mean()), "min": float(t.min()), "max": float(t.max()), "std": float(t.std())}
    out["us"] = {"mean": float(us.mean()), "min": float(us.min()), "max": float(us.max()), "std": float(us.std())}
    counts, edges = np.histogram(us, bins=min(30, max(1, len(np.unique(us)))))
    out["histogram"] = {"edges_us": [float(e) for e in edges], "counts": [int(c) for c in counts]}
    if macc > 0:
        if timing in (TimingSource.DWT_CYCLES, TimingSource.SYSTICK) and cpu_hz:
            out["per_macc"] = {"value": float(t.mean() * cpu_hz / tick_hz / macc), "unit": "cycles/MACC",
                               "timing": timing.label}
        elif timing == TimingSource.QEMU_ICOUNT:
            per_tick = timing_units.instructions_per_tick_for(timing, instr_per_tick)
            out["instructions"] = {"mean": timing_units.emulated_instructions(float(t.mean()), per_tick),
                                   "per_tick": per_tick}
            out["per_macc"] = {"value": float(timing_units.emulated_instructions(t.mean(), per_tick) / macc),
                               "unit": "emulated instructions/MACC", "timing": timing.label}
        else:
            out["per_macc"] = {"value": float(us.mean() * 1e3 / macc), "unit": "host ns/MACC",
                               "timing": timing.label}
    return out


def compute_metrics(truth: np.ndarray, board_out: np.ndarray, ref_out: np.ndarray, labels: Sequence[str],
                    output: TensorDesc, ticks: np.ndarray, tick_hz: int, timing: TimingSource, *, macc: int = 0,
                    cpu_hz: int = 0, targets: np.ndarray | None = None, groups: np.ndarray | None = None,
                    rule: DecisionRule | None = None, instr_per_tick: int = 0) -> dict[str, Any]:
    """Every figure of a validation report from the raw arrays (N rows each; N may be a partial run).

    With `groups` (the recording of each input, in stream order), the classification figures add
    `decisions`: per-recording and decided accuracy under `rule` (the model's decision rule), computed by
    the same code as the training report (edgeloop.models.train.scoring). `instr_per_tick`: a QEMU
    board's INFO value (edgeloop.app.live.timing), for its emulated instruction counts.
    """
    n = len(board_out)
    figures: dict[str, Any] = {"samples": n}
    float_out = DType(output.dtype) == DType.FLOAT32 or not output.scale
    figures["agreement"] = agreement_metrics(board_out, ref_out[:n], 1.0 if float_out else output.scale,
                                             0 if float_out else output.zero_point)
    figures["latency"] = latency_stats(ticks, tick_hz, timing, macc=macc, cpu_hz=cpu_hz,
                                       instr_per_tick=instr_per_tick)
    classifier = len(labels) >= 2 and output.size == len(labels)
    if classifier and n:
        b_pred = np.argmax(board_out.reshape(n, -1), axis=1)
        r_pred = np.argmax(ref_out[:n].reshape(n, -1), axis=1)
        t = np.asarray(truth[:n], np.int64)
        cm_b, cm_r = confusion_matrix(t, b_pred, len(labels)), confusion_matrix(t, r_pred, len(labels))
        figures["classification"] = {
            "labels": list(labels),
            "labeled_samples": int((t >= 0).sum()),
            "accuracy": {"board": accuracy(t, b_pred), "reference": accuracy(t, r_pred),
                         "board_vs_reference": float(np.mean(b_pred == r_pred))},
            "per_class": {"board": per_class_metrics(cm_b, labels), "reference": per_class_metrics(cm_r, labels)},
            "confusion": {"board": cm_b.tolist(), "reference": cm_r.tolist()},
        }
        if groups is not None and (t >= 0).any():
            from edgeloop.models.train.scoring import stream_scores

            known = t >= 0

            def probs(q: np.ndarray) -> np.ndarray:
                real = q if float_out else quantization.dequantize(q, output.scale, output.zero_point)
                return np.asarray(real, np.float64).reshape(n, -1)[known]

            figures["classification"]["decisions"] = {
                "rule": (rule or DecisionRule()).to_json(),
                **{who: stream_scores(probs(o), t[known], np.asarray(groups[:n])[known], rule or DecisionRule())
                   for who, o in (("board", board_out), ("reference", ref_out[:n]))}}
    if targets is not None and n:
        def real(q: np.ndarray) -> np.ndarray:
            return q if float_out else quantization.dequantize(q, output.scale, output.zero_point)

        tg = np.asarray(targets[:n], np.float64).reshape(n, -1)
        figures["regression"] = {
            who: {k: v for k, v in metrics.regression(tg, real(o.reshape(n, -1))).items() if k != "n"}
            for who, o in (("board", board_out), ("reference", ref_out[:n]))}
    return figures


# -- the run ---------------------------------------------------------------------------------------------------
@dataclass
class ValidationResult:
    """Everything one validation run produced; `status` is complete, partial (board stopped) or failed."""

    model: ModelDescriptor
    board: dict[str, Any]
    data: ValidationData
    tflite_sha256: str
    tflite_path: str
    board_outputs: np.ndarray  # completed × output elements, raw dtype
    reference_outputs: np.ndarray  # all samples × output elements
    ticks: dict[str, np.ndarray]  # t_rx, t_pre, t_infer, t_encode per completed sample
    tick_hz: int
    timing: TimingSource
    status: str
    error: str = ""
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def completed(self) -> int:
        """Samples the board answered."""
        return len(self.board_outputs)

    def to_json(self, max_samples: int = 2000) -> dict[str, Any]:
        """The JSON report (per-sample rows capped at `max_samples`)."""
        labels = list(self.model.labels)
        n = self.completed
        rows = []
        if n:
            b = self.board_outputs.reshape(n, -1).astype(np.int64)
            r = self.reference_outputs[:n].reshape(n, -1).astype(np.int64)
            classifier = "classification" in self.metrics
            for i in range(min(n, max_samples)):
                row: dict[str, Any] = {"name": self.data.names[i],
                                       "truth": labels[self.data.truth[i]] if self.data.truth[i] >= 0 and
                                       self.data.truth[i] < len(labels) else None,
                                       "max_abs_diff_q": int(np.abs(b[i] - r[i]).max()),
                                       "t_infer": int(self.ticks["t_infer"][i])}
                if classifier:
                    row["board"] = labels[int(np.argmax(b[i]))]
                    row["reference"] = labels[int(np.argmax(r[i]))]
                rows.append(row)
        m = self.model
        return {
            "format": REPORT_FORMAT,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "status": self.status, "error": self.error, "warnings": self.warnings,
            "completed": n, "total": len(self.data), "seconds": round(self.seconds, 3),
            "model": {"name": m.name, "hash": m.hash.hex(), "macc": m.macc, "flash_bytes": m.flash_bytes,
                      "ram_bytes": m.ram_bytes, "input_kind": InputKind(m.input_kind).name.lower(),
                      "input": {"dims": list(m.input.dims), "dtype": DType(m.input.dtype).name.lower(),
                                "scale": m.input.scale, "zero_point": m.input.zero_point},
                      "output": {"dims": list(m.output.dims), "dtype": DType(m.output.dtype).name.lower(),
                                 "scale": m.output.scale, "zero_point": m.output.zero_point},
                      "labels": labels},
            "tflite": {"path": self.tflite_path, "sha256": self.tflite_sha256},
            "board": self.board,
            "data": {"source": self.data.source, "samples": len(self.data)},
            "metrics": self.metrics,
            "samples": rows,
            "samples_truncated": n > max_samples,
        }


def board_fields(info: Info, url: str = "") -> dict[str, Any]:
    """The board part of a report: name, firmware, timing source and clocks."""
    return {"board": info.board, "firmware": info.firmware, "url": url, "rx_credit": info.rx_credit,
            "timing_source": TimingSource(info.timing_source).name.lower().replace("_", "-"),
            "timing": TimingSource(info.timing_source).label, "cpu_hz": info.cpu_hz, "tick_hz": info.tick_hz}


def _describe_failure(exc: BaseException, done: int, total: int) -> str:
    from edgeloop.app.link.session import DeviceError, RequestTimeout

    if isinstance(exc, DeviceError):
        return f"the board refused sample {done + 1} of {total}: {exc}"
    if isinstance(exc, (RequestTimeout, TimeoutError)):
        return f"the board stopped answering after {done} of {total} samples ({exc})"
    return f"the link to the board was lost after {done} of {total} samples ({exc})"


def validate_on_board(session: Any, model_id: int, tflite: bytes, data: ValidationData, *,
                      tflite_path: str = "", allow_hash_mismatch: bool = False,
                      progress: Callable[[int, int], None] | None = None,
                      stall_timeout: float = 10.0) -> ValidationResult:
    """Run `data` through the board model with stable id `model_id` (SPEC §9.4; not a list position)
    over a connected `Session`, and through the reference.

    Raises ValidationError before the run when model, .tflite and data do not
    fit. A board failure mid-run does not raise: the result's status is
    "partial" and `error` says what happened; metrics cover the samples done.
    `progress(done, total)` is called from this thread as results arrive.
    """
    from edgeloop.app.link.session import DeviceError
    from edgeloop.models.reference import run_reference_batch

    info: Info = session.info
    if info is None:
        raise RuntimeError("connect the session before validating (Session.connect())")
    try:
        model = model_descriptor(info, model_id)
    except EdgeloopError as exc:
        raise ValidationError(str(exc)) from None
    warnings = check_model_matches(model, tflite, allow_hash_mismatch=allow_hash_mismatch)
    bad = [i for i, x in enumerate(data.inputs) if len(x) != model.input.nbytes]
    if bad:
        raise ValidationError(f"sample {data.names[bad[0]]} has {len(data.inputs[bad[0]])} input bytes, "
                              f"model {model.name!r} takes {model.input.nbytes} ({list(model.input.dims)})")
    if not len(data):
        raise ValidationError("the validation data holds no samples")
    out_dtype = np.dtype(DType(model.output.dtype).numpy_name)
    in_dtype = np.dtype(DType(model.input.dtype).numpy_name)
    # The reference first: it cannot fail half-way, and the board run below then only waits on the link.
    x = np.stack([np.frombuffer(b, in_dtype) for b in data.inputs])
    reference = run_reference_batch(tflite, x).reshape(len(data), -1)

    start = time.monotonic()
    total = len(data)
    outputs: list[np.ndarray] = []
    ticks: dict[str, list[int]] = {"t_rx": [], "t_pre": [], "t_infer": [], "t_encode": []}
    tick_hz = info.tick_hz
    error = ""
    # Session.map keeps the credit window full and yields outcomes in sample order.
    outcomes = session.map(range(total), lambda i: Infer(model_id, data.inputs[i]),
                           credit_timeout=stall_timeout)
    try:
        for outcome in outcomes:
            if outcome.error is not None:
                if not isinstance(outcome.error, (EdgeloopError, DeviceError, TimeoutError)):
                    raise outcome.error  # a defect, not a board failure: keep its traceback
                error = _describe_failure(outcome.error, len(outputs), total)  # what is done stays
                break
            result = outcome.reply.message
            if result.model != model_id:  # never score another model's output as this one's
                error = f"sample {len(outputs) + 1}: the board answered with model {result.model}, not {model_id}"
                break
            if len(result.output) != model.output.nbytes:
                error = (f"sample {len(outputs) + 1}: the board returned {len(result.output)} output bytes, "
                         f"the model's output is {model.output.nbytes}")
                break
            outputs.append(np.frombuffer(result.output, out_dtype).copy())
            for key in ticks:
                ticks[key].append(int(getattr(result, key)))
            tick_hz = result.tick_hz or tick_hz
            if progress:
                progress(len(outputs), total)
    finally:
        outcomes.close()
    seconds = time.monotonic() - start
    board_out = np.stack(outputs) if outputs else np.zeros((0, model.output.size), out_dtype)
    tick_arrays = {k: np.asarray(v, np.int64) for k, v in ticks.items()}
    timing = TimingSource(info.timing_source)
    result = ValidationResult(model, board_fields(info, getattr(session, "url", "")), data,
                              hashlib.sha256(tflite).hexdigest(), tflite_path, board_out, reference, tick_arrays,
                              tick_hz, timing, "partial" if error else "complete", error, warnings, seconds)
    result.metrics = compute_metrics(data.truth, board_out, reference, list(model.labels), model.output,
                                     tick_arrays["t_infer"], tick_hz, timing, macc=model.macc, cpu_hz=info.cpu_hz,
                                     targets=data.targets, groups=data.groups, rule=rule_for_model(model.hash),
                                     instr_per_tick=timing_units.instructions_per_tick(info))
    return result


def resolve_model_id(info: Info, model: str | int | None) -> int:
    """A board model's stable id, by name or id (None: the active one); ValidationError when there is none such."""
    try:
        return pipeline_model_id(info, model)
    except EdgeloopError as exc:
        raise ValidationError(str(exc)) from exc
