"""Calibration data for post-training quantization: an .npz, an image set or IMU recordings.

Every form ends as float32 samples shaped like the source model's input
(batch axis first, in the model's own layout: an ONNX NCHW model gets NCHW
samples), with class indices when the data is labelled. The same set serves
as the float-vs-int8 evaluation set.

Example::

    calib = load_calibration(Path("calib.npz"), (32, 32, 3))
    calib.x.shape  # (N, 32, 32, 3)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgeloop.models.importers.errors import CalibrationError

MIN_SAMPLES = 32          # fewer than this gives noisy activation ranges: warn, but go on
MAX_SAMPLES = 500         # the converter needs no more than a few hundred


@dataclass
class CalibrationSet:
    """Float model inputs (N, *input shape), optional class indices and their names."""

    x: np.ndarray
    y: np.ndarray | None
    labels: list[str] | None
    source: str
    warnings: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.x)


def load_calibration(path: Path, input_shape: tuple[int, ...], *, layout: str = "NHWC",
                     pixel_range: tuple[float, float] = (0.0, 1.0), color_order: str = "rgb",
                     seed: int = 0) -> CalibrationSet:
    """Read calibration data for a model whose input (without batch) is `input_shape`.

    `layout` says where an image's channel axis is ("NHWC" or "NCHW");
    `pixel_range` is the real range pixel values 0..255 map to, and `color_order` ("rgb" or "bgr")
    the channel order of a colour image, as the live path feeds the model (edgeloop.app.live.input_spec).
    Raises CalibrationError for data of the wrong shape; warns (in
    `.warnings`) when there are fewer than MIN_SAMPLES samples.
    """
    path = Path(path)
    if not path.exists():
        raise CalibrationError(f"calibration data {path} does not exist")
    shape = tuple(int(d) for d in input_shape)
    if path.suffix == ".npz":
        calib = _from_npz(path, shape)
    elif path.is_dir() and _holds_csv(path) or path.suffix == ".csv":
        calib = _from_imu(path, shape)
    elif path.is_dir():
        calib = _from_images(path, shape, layout, pixel_range, color_order, seed)
    else:
        raise CalibrationError(f"cannot read calibration data from {path}: give an .npz with 'x' (and 'y'), "
                               "a folder-per-class image set or session, or IMU CSV recordings")
    if len(calib.x) > MAX_SAMPLES:
        keep = np.sort(np.random.default_rng(seed).choice(len(calib.x), MAX_SAMPLES, replace=False))
        calib.x = calib.x[keep]
        calib.y = calib.y[keep] if calib.y is not None else None
    if len(calib.x) < MIN_SAMPLES:
        calib.warnings.append(f"only {len(calib.x)} calibration samples in {path} (at least {MIN_SAMPLES} "
                              "recommended): activation ranges may be too narrow and int8 accuracy lower")
    return calib


def _holds_csv(path: Path) -> bool:
    return any(path.rglob("*.csv"))


def _from_npz(path: Path, shape: tuple[int, ...]) -> CalibrationSet:
    try:
        with np.load(path, allow_pickle=False) as npz:
            if "x" not in npz.files:
                raise CalibrationError(f"{path} has arrays {npz.files} but no 'x': save the model inputs as x "
                                       "(np.savez(path, x=inputs, y=labels))")
            x = np.asarray(npz["x"])
            y = np.asarray(npz["y"]) if "y" in npz.files else None
    except (ValueError, OSError) as exc:
        raise CalibrationError(f"{path} is not a readable .npz file ({exc})") from None
    if x.ndim == len(shape):  # a single sample
        x = x[None]
    if tuple(x.shape[1:]) != shape or not len(x):
        raise CalibrationError(f"calibration x in {path} has shape {list(x.shape)}; the model takes "
                               f"N samples of shape {list(shape)} (x.shape == (N, {', '.join(map(str, shape))}))")
    if x.dtype.kind not in "fiu":
        raise CalibrationError(f"calibration x in {path} is {x.dtype}, not numbers")
    labels = None
    if y is not None:
        y = y.reshape(len(y), -1)[:, 0] if y.ndim > 1 else y
        if len(y) != len(x):
            raise CalibrationError(f"{path}: y has {len(y)} entries for {len(x)} samples in x")
        if y.dtype.kind in "US":
            labels = sorted({str(v) for v in y})
            y = np.asarray([labels.index(str(v)) for v in y], np.int64)
        elif y.dtype.kind in "iu":
            y = y.astype(np.int64)
        else:
            y = None  # regression targets: not used for accuracy
    return CalibrationSet(x.astype(np.float32), y, labels, str(path))


def _from_images(path: Path, shape: tuple[int, ...], layout: str, pixel_range: tuple[float, float],
                 color_order: str, seed: int) -> CalibrationSet:
    from edgeloop.models.data.imagesets import load_image_set

    if len(shape) != 3:
        raise CalibrationError(f"{path} is an image folder, but the model input {list(shape)} is not an image "
                               "(H, W, C) or (C, H, W)")
    h, w, c = (shape[1], shape[2], shape[0]) if layout == "NCHW" else shape
    if h != w or c not in (1, 3):
        raise CalibrationError(f"{path} is an image folder, but the model input {list(shape)} ({layout}) is not "
                               "a square gray or RGB image; give an .npz of inputs instead")
    try:
        splits, labels = load_image_set([path], h, "gray" if c == 1 else "rgb", seed=seed)
    except ValueError as exc:
        raise CalibrationError(str(exc)) from None
    xs = [splits[s][0] for s in ("train", "val", "test") if s in splits]
    ys = [splits[s][1] for s in ("train", "val", "test") if s in splits]
    lo, hi = pixel_range
    x = np.concatenate(xs) * np.float32(hi - lo) + np.float32(lo)
    if color_order == "bgr" and c == 3:
        x = x[..., ::-1]  # image sets load as RGB; the model sees what run and the GUI will send it
    if layout == "NCHW":
        x = x.transpose(0, 3, 1, 2)
    return CalibrationSet(np.ascontiguousarray(x, np.float32), np.concatenate(ys), list(labels), str(path))


def _from_imu(path: Path, shape: tuple[int, ...]) -> CalibrationSet:
    """Raw windows (window, channels) of IMU CSV recordings, half-overlapping, within one label each."""
    from edgeloop.models.data.imu_csv import find_imu_csvs, read_imu_csv

    if len(shape) != 2:
        raise CalibrationError(f"{path} holds IMU recordings, but the model input {list(shape)} is not a window "
                               "(samples, channels); give an .npz of model inputs instead")
    window, channels = shape
    xs, names = [], []
    try:
        recordings = [(csv, read_imu_csv(csv)) for csv in find_imu_csvs([path])]
    except ValueError as exc:  # ImuCsvError and friends: the file is not an edgeloop IMU CSV
        raise CalibrationError(f"cannot read IMU recordings in {path}: {exc}") from None
    for csv, rec in recordings:
        if rec.data.shape[1] != channels:
            raise CalibrationError(f"{csv} has {rec.data.shape[1]} channels; the model takes {channels}")
        labels = np.asarray([str(v) for v in rec.labels], dtype=object)
        for start in range(0, len(rec.data) - window + 1, max(1, window // 2)):
            span = labels[start:start + window]
            if span[0] and np.all(span == span[0]):
                xs.append(rec.data[start:start + window])
                names.append(str(span[0]))
    if not xs:
        raise CalibrationError(f"no labelled span in {path} is {window} samples long (the model's window)")
    labels_sorted = sorted(set(names))
    y = np.asarray([labels_sorted.index(n) for n in names], np.int64)
    return CalibrationSet(np.stack(xs).astype(np.float32), y, labels_sorted, str(path))
