"""The ONE place where `edgeloop design` touches the training side (edgeloop.models.train and data loaders).

Everything else in edgeloop.models.design sees only what this module offers:

- `load_task()` -> a `TaskData`: the development pool (train + val splits,
  cross-validated with groups) and the untouched test split, as arrays for a
  candidate's parameters (window/hop and feature subset or raw windows; image
  size/colour), cached;
- `build_model()`: an untrained Keras model of a family for given parameters;
- `fit_predict()`: train on arrays the way `edgeloop train` does, return
  probabilities on other arrays;
- `train_request()` / `refit()`: the `edgeloop train` request that reproduces
  a candidate (its recipe) and running it.

Recipes come from the training side (`edgeloop.models.train.recipes.Recipe`,
reproduced by `edgeloop train --recipe FILE`). A family is one entry in
`FAMILIES_BY_KIND`, one branch each in `build_model`/`fit`/`train_request`
and one suggest function in space.py.

Time-series families: `feature_mlp` (`--family feature-mlp`, features of the
`features` subset standardised per feature), `cnn1d` (`--family cnn1d`) and
`dense_raw` (`--family dense`) on raw windows standardised per channel, the
way `edgeloop train` prepares them. Image families: `image_cnn` (`--family
image-cnn`) and `dense_pixels` (`--family dense`: a dense net on the pixels of
a small image), both deployed on pixels scaled to [0, 1] (a dense net trains on
centred pixels, folded into its first layer afterwards: train/pixel_centring.py).
"""

from __future__ import annotations

import hashlib
import json
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgeloop import InputError, MissingFileError, require
from edgeloop.models.train.families import (
    IMAGE_BLOCKS, IMAGE_HEADS, IMAGE_POOLS, image_cnn_channels, image_cnn_max_depth,
)
from edgeloop.models.train.selection import DENSE_MAX_INPUTS

# what the search space (space.py) and pruning (pruning.py) need of the image CNN's shape
__all__ = ["IMAGE_BLOCKS", "IMAGE_HEADS", "IMAGE_POOLS", "image_cnn_channels", "image_cnn_max_depth"]

# Families the training side can build and reproduce today, per data kind. The search space
# (space.py) offers exactly these; a family added to the training side is added here.
FAMILIES_BY_KIND: dict[str, tuple[str, ...]] = {"imu": ("feature_mlp", "cnn1d", "dense_raw"),
                                                 "images": ("image_cnn", "dense_pixels")}
# Families whose input is an image (pixels scaled to [0, 1]; their params carry input_size and color).
IMAGE_FAMILIES = FAMILIES_BY_KIND["images"]
# Time-series families whose input is the raw window (window, channels), standardised per channel.
RAW_FAMILIES = ("cnn1d", "dense_raw")
# `edgeloop train --family` of each time-series design family.
TRAIN_FAMILY = {"feature_mlp": "feature-mlp", "cnn1d": "cnn1d", "dense_raw": "dense"}
RAW_INPUT = "raw"  # input_key's third part for raw-window families


@dataclass
class Arrays:
    """Model inputs and labels of one split view, with the group (recording/subject) of each row.

    `evaluate` marks the rows scored in cross-validation (IMU training windows
    overlap 4x more than deployed ones; only deployed-hop windows are scored).
    `case` names the recording span (one label, one recording) a row belongs to,
    for per-recording decisions ("" where the data has no recordings).
    """

    x: np.ndarray
    y: np.ndarray
    groups: np.ndarray
    evaluate: np.ndarray
    case: np.ndarray
    aux: np.ndarray | None = None  # bottle sets: the fill level, an auxiliary training target
    soft: np.ndarray | None = None  # the design's --teacher probabilities of each row (distillation targets)

    def take(self, idx: np.ndarray) -> "Arrays":
        return Arrays(self.x[idx], self.y[idx], self.groups[idx], self.evaluate[idx], self.case[idx],
                      None if self.aux is None else self.aux[idx], None if self.soft is None else self.soft[idx])


@dataclass
class TaskData:
    """A data set loaded for design: which task, its classes, and arrays per candidate input."""

    task: str
    kind: str
    data: list[Path]
    labels: list[str]
    seed: int
    fingerprint: str
    rate_hz: float = 0.0
    n_channels: int = 0
    # training options of every trial (image sets): a trained model every candidate is distilled from, and
    # the distance from a class boundary within which training rows are left out (validation keeps them)
    teacher: Path | None = None
    train_margin: float = 0.0
    _soft: np.ndarray | None = field(default=None, repr=False)
    _recs: list[tuple[Any, str]] = field(default_factory=list, repr=False)
    _cache: dict[tuple, tuple[Arrays, Arrays]] = field(default_factory=dict, repr=False)

    def arrays(self, params: dict[str, Any], family: str | None = None) -> tuple[Arrays, Arrays]:
        """(development pool, test split) for a candidate's input parameters (`family` says whether a
        time-series model reads features or raw windows; None: features)."""
        key = input_key(self.kind, params, family)
        if key not in self._cache:
            self._cache.clear()  # one input variant at a time: image sets and raw windows are large
            self._cache[key] = (_imu_arrays(self, *key) if self.kind == "imu" else _image_arrays(self, *key))
        return self._cache[key]

    @property
    def n_classes(self) -> int:
        return len(self.labels)


def input_key(kind: str, params: dict[str, Any], family: str | None = None) -> tuple:
    """The parameters that change a model's input data: window, hop and the feature subset or raw windows
    (time series); image size and colour."""
    if kind == "imu":
        what = RAW_INPUT if family in RAW_FAMILIES else str(params.get("features") or "stats9")
        return (int(params["window"]), int(params["hop"]), what)
    return (int(params["input_size"]), str(params["color"]))


def features_per_channel(spec: str) -> int:
    """How many features per channel a `--features` subset gives (e.g. 'mean,variance,bands4' -> 6)."""
    from edgeloop.models.features import FeatureSet

    return FeatureSet.parse(spec).per_channel


def max_cnn1d_depth(window: int) -> int:
    """The deepest 1-D CNN `edgeloop train --family cnn1d` builds on a window of `window` samples."""
    from edgeloop.models.train.families import cnn1d_depth

    return cnn1d_depth(window)


def _fingerprint(paths: list[Path]) -> str:
    """SHA-256 over file names, sizes and the first/last 64 KB of each file: which data a study was run on."""
    digest = hashlib.sha256()
    files = sorted(f for p in paths for f in ([p] if p.is_file() else p.rglob("*")) if f.is_file())
    for f in files:
        rel = f.name if len(paths) == 1 and paths[0].is_file() else str(f.relative_to(next(
            p for p in paths if p == f or p in f.parents)))
        size = f.stat().st_size
        digest.update(f"{rel}\0{size}\0".encode())
        with f.open("rb") as fh:
            digest.update(fh.read(65536))
            if size > 65536:
                fh.seek(max(65536, size - 65536))
                digest.update(fh.read(65536))
    return digest.hexdigest()[:16]


def detect_task(data: list[Path]) -> str:
    """The `edgeloop train` task that fits a data folder: images/bottles, imu-activity, fall or imu."""
    root = Path(data[0])
    info = root / "dataset.json"
    if info.is_file():
        meta = json.loads(info.read_text(encoding="utf-8"))
        fmt = str(meta.get("format", ""))
        if fmt.startswith("edgeloop-timeseries-set"):
            return "timeseries"
        if fmt.startswith("edgeloop-imu-set"):
            return {"activity": "imu-activity", "fall": "fall"}.get(str(meta.get("task")), "imu")
        if "bottle" in json.dumps(meta).lower():
            return "bottles"
        return "images"
    if root.is_file() or any(root.rglob("*.csv")):
        return "imu"
    return "images"


def load_task(data: list[Path], task: str | None = None, seed: int = 0, teacher: Path | None = None,
              train_margin: float = 0.0) -> TaskData:
    """Load `data` for design; `task` defaults to what the data looks like (detect_task). `teacher` and
    `train_margin` (image sets) apply to every trial's training; they are part of the study's fingerprint."""
    from edgeloop.models.train.recipes import TASKS

    data = [Path(p) for p in data]
    for p in data:
        if not p.exists():
            raise MissingFileError(f"data path {p} does not exist")
    task = task or detect_task(data)
    if task not in TASKS or task == "sine":
        raise InputError(f"edgeloop design cannot search task {task!r}; choose one of "
                         f"{', '.join(t for t in sorted(TASKS) if t != 'sine')}")
    kind = "images" if task in ("bottles", "images") else "imu"
    fp = _fingerprint(data)
    if kind == "imu":
        from edgeloop.models.data.recording import find_recordings, read_recording
        from edgeloop.models.data.splits import assign_splits
        from edgeloop.models.train.imu import label_mapper
        from edgeloop.models.train.timeseries import class_order

        recs = [read_recording(p) for p in find_recordings(data)]
        rates = {r.rate_hz for r in recs}
        if len(rates) != 1:
            raise InputError(f"recordings have different sample rates {sorted(rates)} Hz; design on one rate")
        fixed, mapper = label_mapper(task)
        # the very split `edgeloop train` uses: the test split stays untouched
        pairs = assign_splits(recs, seed, mapper=mapper)
        pieces = [(case, split) for rec, split in pairs for case in rec.cases()]
        discovered = {m for r, _ in pieces for v in set(r.labels.tolist()) if (m := mapper(str(v))) is not None}
        labels = list(fixed or class_order(discovered, data))
        td = TaskData(task, kind, data, labels, seed, fp, rate_hz=float(rates.pop()), _recs=pieces,
                      n_channels=len(recs[0].channels))
    else:
        from edgeloop.models.data.imagesets import scan_image_set

        labels: list[str] = []
        for root in data:
            for name in scan_image_set(root, seed=seed)[1]:
                if name not in labels:
                    labels.append(name)
        td = TaskData(task, kind, data, labels, seed, fp)
    if len(td.labels) < 2:
        raise InputError(f"need at least two classes to design a classifier, found {td.labels}")
    if teacher is not None or train_margin:
        _set_training_options(td, teacher, train_margin)
    return td


def _set_training_options(td: TaskData, teacher: Path | None, train_margin: float) -> None:
    """Check --teacher/--train-margin against the data and fold them into the study's fingerprint (a study
    searched with another teacher or margin holds other accuracies)."""
    from edgeloop.models.train.distill import load_teacher, teacher_file
    from edgeloop.models.train.label_margin import class_boundaries, clean_rows

    if td.kind != "images":
        raise InputError("--teacher and --train-margin apply to image sets; leave them out for time series")
    extra = []
    if teacher is not None:
        model = load_teacher(Path(teacher), None, td.n_classes)
        td.teacher = Path(teacher)
        # the model file alone: regenerating its folder's report or C (a kernel update) keeps the teacher
        extra.append(f"teacher {_fingerprint([teacher_file(td.teacher)])} {model.name}")
    if train_margin:
        clean_rows(np.zeros(0), class_boundaries(td.data), train_margin)  # validates both, one-line errors
        td.train_margin = float(train_margin)
        extra.append(f"train margin {train_margin:g}")
    td.fingerprint = hashlib.sha256(" + ".join([td.fingerprint, *extra]).encode()).hexdigest()[:16]


def teacher_probabilities(td: TaskData) -> np.ndarray:
    """The --teacher's probabilities of every development row (train + val, the order of `TaskData.arrays`),
    read at the teacher's own image side; computed once per run (rows do not depend on a candidate's input)."""
    if td._soft is None:
        from edgeloop.models.data.imagesets import load_image_set
        from edgeloop.models.train.distill import load_teacher, teacher_probabilities as probs, teacher_side
        from edgeloop.models.train.images import _splits

        model = load_teacher(td.teacher, None, td.n_classes)
        color = "gray" if model.inputs[0].shape[-1] == 1 else "rgb"
        data, _ = load_image_set(td.data, teacher_side(model), color, seed=td.seed, labels=td.labels, raw=True)
        train, val, _ = _splits(data, td.seed)
        td._soft = np.concatenate([probs(model, train[0]), probs(model, val[0])])
    return td._soft


def _imu_arrays(td: TaskData, window: int, hop: int, what: str) -> tuple[Arrays, Arrays]:
    """Windows of every recording span: features of the `what` subset, or raw (W, window, C) samples."""
    from edgeloop.models.features import FeatureSet
    from edgeloop.models.train.imu import label_mapper
    from edgeloop.models.train.timeseries import cut_split

    _, mapper = label_mapper(td.task)
    raw = what == RAW_INPUT
    fs = FeatureSet(("mean",)) if raw else FeatureSet.parse(what)  # raw: the cheapest feature, unused
    parts: dict[str, dict[str, list]] = {s: {"x": [], "y": [], "g": [], "e": [], "c": []} for s in ("dev", "test")}
    for index, (rec, split) in enumerate(td._recs):
        if len(rec) < window:
            continue
        part = parts["test" if split == "test" else "dev"]
        # Training windows overlap 4x more than deployed ones (as `edgeloop train` does); only windows at
        # the deployed hop are scored.
        step = max(1, hop // 4) if split != "test" else hop
        sw = cut_split([rec], window, step, td.labels, mapper, fs, keep_raw=raw)
        group = str(rec.meta.get("subject", f"rec{index}"))
        part["x"].append(sw.raw if raw else sw.features)
        part["y"].append(sw.y)
        part["g"].append(np.full(len(sw.y), group))
        part["e"].append(sw.start % hop == 0)
        part["c"].append(np.asarray([f"{group}/{index}/{td.labels[c]}" for c in sw.y], dtype=object))
    out = []
    for split in ("dev", "test"):
        p = parts[split]
        if not p["y"] or not sum(len(v) for v in p["y"]):
            raise InputError(f"no labeled {window}-sample windows in the {'test' if split == 'test' else 'train+val'}"
                             " recordings; record longer sessions or allow shorter windows")
        out.append(Arrays(np.concatenate(p["x"]).astype(np.float32), np.concatenate(p["y"]).astype(np.int64),
                          np.concatenate(p["g"]).astype(str), np.concatenate(p["e"]).astype(bool),
                          np.concatenate(p["c"]).astype(str)))
    return out[0], out[1]


def _image_arrays(td: TaskData, size: int, color: str) -> tuple[Arrays, Arrays]:
    from edgeloop.models.data.imagesets import load_image_set
    from edgeloop.models.train.images import _splits

    data, labels = load_image_set(td.data, size, color, seed=td.seed, labels=td.labels, raw=True, values="fill")
    train, val, test = _splits(data, td.seed)  # the split `edgeloop train` uses: test stays untouched
    x = np.concatenate([train[0], val[0]])
    y = np.concatenate([train[1], val[1]])
    fill = np.concatenate([train[2], val[2]])
    n, nt = len(y), len(test[1])
    dev = Arrays(x, y, np.arange(n).astype(str), np.ones(n, bool), np.full(n, ""),
                 fill if np.isfinite(fill).any() else None,
                 teacher_probabilities(td) if td.teacher is not None else None)
    return dev, Arrays(test[0], test[1], np.arange(nt).astype(str), np.ones(nt, bool), np.full(nt, ""))


def model_input(kind: str, x: np.ndarray) -> np.ndarray:
    """What the exported model takes: images become [0, 1] floats (features are standardised by the caller)."""
    return x.astype(np.float32) / 255.0 if kind == "images" else x


def build_model(family: str, params: dict[str, Any], n_inputs: int | tuple[int, ...], n_classes: int,
                name: str = "candidate") -> Any:
    """An untrained Keras model of `family` with `params` (the exported graph, without training wrappers).

    `n_inputs`: the feature count of a feature MLP, the (window, channels) shape of a raw-window model
    (model_input_shape); image models take theirs from `params`.
    """
    from edgeloop.models.train.families import build_cnn1d, build_dense_raw, build_feature_mlp, build_image_cnn

    if family == "feature_mlp":
        return build_feature_mlp(int(np.prod(n_inputs)), n_classes, width=int(params["width"]),
                                 depth=int(params["depth"]), name=name)
    if family == "cnn1d":
        window, channels = (int(v) for v in n_inputs)  # type: ignore[union-attr]
        return build_cnn1d(window, channels, n_classes, width=int(params["width"]), depth=int(params["depth"]),
                           name=name)
    if family == "dense_raw":
        return build_dense_raw(tuple(int(v) for v in n_inputs), n_classes,  # type: ignore[union-attr]
                               width=int(params["width"]), depth=int(params["depth"]), name=name)
    if family == "dense_pixels":
        return build_dense_raw(image_shape(params), n_classes, width=int(params["width"]),
                               depth=int(params["depth"]), name=name)
    if family == "image_cnn":
        channels = 1 if params["color"] == "gray" else 3
        return build_image_cnn(int(params["input_size"]), channels, n_classes, width=int(params["width"]),
                               depth=int(params["depth"]), max_channels=int(params["max_channels"]), name=name,
                               **image_arch(params))
    raise ValueError(f"unknown design family {family!r}")


def image_shape(params: dict[str, Any]) -> tuple[int, int, int]:
    """(side, side, channels) of an image candidate's input."""
    side = int(params["input_size"])
    return side, side, 1 if params["color"] == "gray" else 3


def calibration_images(x: np.ndarray, seed: int) -> np.ndarray:
    """The int8 calibration set `edgeloop train` uses for an image model, from uint8 images."""
    from edgeloop.models.train.images import calibration_images as images_calibration

    return images_calibration(x, seed)


def preset_candidates(kind: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(preset name, family, params) of the training side's named presets for this kind of data: the recipes a
    user would have tried by hand, which seed a new study (search.enqueue_presets)."""
    from edgeloop.models.train.families import IMAGE_PRESETS

    if kind != "images":
        return []
    return [(f"--arch {name}", "image_cnn", {"input_size": p.input_size, "color": p.color, "width": p.width,
                                             "depth": p.depth, "max_channels": p.max_channels, "stem_stride": 2,
                                             "pool": "max", "head": "flatten", "block": "plain"})
            for name, p in IMAGE_PRESETS.items()]


def timeseries_presets(td: TaskData) -> list[tuple[str, str, dict[str, Any]]]:
    """(name, family, params) of what `edgeloop train --family F` does by default on this data (its window,
    hop and sizes): the time-series recipes a user would have tried first, which seed a new study too.
    A dense net is left out where the default window has more than DENSE_MAX_INPUTS inputs."""
    from edgeloop.models.train.families import cnn1d_depth
    from edgeloop.models.train.timeseries import DEFAULT_WINDOW_SECONDS, FAMILY_SIZES, IMU_DEFAULTS, MIN_WINDOW

    if td.kind != "imu":
        return []
    if td.task in IMU_DEFAULTS:
        window, hop, width, depth = IMU_DEFAULTS[td.task][:4]
    else:  # train's default also caps the window at the shortest recording; the search's windows do not
        window = max(MIN_WINDOW, int(round(DEFAULT_WINDOW_SECONDS * td.rate_hz)))
        hop, (width, depth) = max(1, window // 2), FAMILY_SIZES["feature-mlp"]
    out = [("--family feature-mlp", "feature_mlp",
            {"window": window, "hop": hop, "features": "stats9", "width": width, "depth": depth}),
           ("--family cnn1d", "cnn1d", {"window": window, "hop": hop, "width": FAMILY_SIZES["cnn1d"][0],
                                        "depth": cnn1d_depth(window)})]
    if window * td.n_channels <= DENSE_MAX_INPUTS:
        width, depth = FAMILY_SIZES["dense"]
        out.append(("--family dense", "dense_raw", {"window": window, "hop": hop, "width": width, "depth": depth}))
    return out


def recipe_candidate(recipe: Any, kind: str, source: str = "recipe") -> tuple[str, dict[str, Any]]:
    """(family, params) of the candidate an `edgeloop train` recipe describes: the inverse of `train_request`, for
    a study's first trials given by the user (`edgeloop design --enqueue`). Only the model is taken: data, epochs,
    teacher and margin are the design run's. Unset size knobs resolve as `edgeloop train` resolves them (the
    `arch` preset's, its channel cap scaled with the width). One-line InputError for a recipe of another data
    kind or one the search does not build (a pruned net)."""
    # the design families a recipe of each data kind can name
    by_train = {"images": {"default": "image_cnn", "image-cnn": "image_cnn", "dense": "dense_pixels"},
                "imu": {"default": "feature_mlp", **{train: design for design, train in TRAIN_FAMILY.items()}}}[kind]
    family = by_train.get(recipe.family)
    if family is None or family not in FAMILIES_BY_KIND[kind]:
        raise InputError(f"{source}: a --family {recipe.family} recipe cannot be a trial on {kind} data; give a "
                         f"recipe of {', '.join(sorted(set(by_train) - {'default'}))}")
    if recipe.prune_keep is not None or recipe.conv_channels:
        raise InputError(f"{source}: a pruned net (prune_keep / conv_channels) is not a search candidate; enqueue "
                         "the recipe it was pruned from (the design measures pruning of the chosen model itself)")
    if family == "image_cnn":
        from edgeloop.models.train.families import IMAGE_PRESETS

        preset = IMAGE_PRESETS[recipe.arch]
        width = int(recipe.width or preset.width)
        return family, {"input_size": int(recipe.input_size or preset.input_size),
                        "color": str(recipe.color or preset.color), "width": width,
                        "depth": int(recipe.depth or preset.depth),
                        "max_channels": int(recipe.max_channels or preset.max_channels * width // preset.width),
                        "stem_stride": int(recipe.stem_stride or 2), "pool": str(recipe.pool or "max"),
                        "head": str(recipe.head or "flatten"), "block": str(recipe.block or "plain")}
    if family == "dense_pixels":  # the side is the data's unless given: the written recipe has it
        if recipe.input_size is None:
            raise InputError(f"{source}: the recipe leaves input_size unset; a trial needs it (the NAME.recipe.json "
                             "that `edgeloop train` writes has it)")
        from edgeloop.models.train.families import IMAGE_PRESETS

        color = str(recipe.color or IMAGE_PRESETS[recipe.arch].color)
        return family, {"input_size": int(recipe.input_size), "color": color, "width": int(recipe.width or 32),
                        "depth": int(recipe.depth or 1)}
    missing = [k for k in ("window", "hop", "width", "depth") if getattr(recipe, k) is None]
    if missing:
        raise InputError(f"{source}: the recipe leaves {', '.join(missing)} unset; a trial needs them (the "
                         "NAME.recipe.json that `edgeloop train` writes has every one)")
    params: dict[str, Any] = {"window": int(recipe.window), "hop": int(recipe.hop)}
    if family == "feature_mlp":
        params["features"] = str(recipe.features or "stats9")
    return family, {**params, "width": int(recipe.width), "depth": int(recipe.depth)}


def image_arch(params: dict[str, Any]) -> dict[str, Any]:
    """The image CNN's architecture choices of a candidate (trials of older studies have none: the preset's)."""
    arch = {"stem_stride": int(params.get("stem_stride", 2)), "pool": str(params.get("pool", "max")),
            "head": str(params.get("head", "flatten")), "block": str(params.get("block", "plain"))}
    if params.get("conv_channels"):
        arch["widths"] = [int(c) for c in params["conv_channels"]]
    return arch


def pruned_width(width: int, keep: float) -> int:
    """The width a time-series family is pruned to when it keeps `keep` of its units (models/train/pruning.py)."""
    from edgeloop.models.train.pruning import pruned_width as train_pruned_width

    return train_pruned_width(width, keep)


def deployed_params(params: dict[str, Any]) -> dict[str, Any]:
    """The parameters of the model a recipe deploys: a recipe with `prune_keep` trains at its width(s) and deploys
    the pruned net, sized at the pruned width (dense and time-series nets) or per-conv widths (image CNN,
    `conv_channels`)."""
    if params.get("prune_keep") is None:
        return params
    out = {k: v for k, v in params.items() if k != "prune_keep"}
    keep = float(params["prune_keep"])
    if "max_channels" in params:  # an image CNN (the only family with a channel cap): each conv keeps its share
        from edgeloop.models.train.pruning import pruned_widths

        widths = out.get("conv_channels") or image_cnn_channels(int(params["width"]), int(params["depth"]),
                                                                int(params["max_channels"]))
        return dict(out, conv_channels=pruned_widths([int(w) for w in widths], keep))
    return dict(out, width=pruned_width(int(params["width"]), keep))


def prune_series(model: Any, family: str, params: dict[str, Any], n_inputs: int | tuple[int, ...], n_classes: int,
                 keep: float) -> tuple[Any, int]:
    """A trained dense or time-series model pruned as `edgeloop train --prune-keep` prunes it
    (models/train/pruning.py): (the narrower model with the kept weights, its width)."""
    from edgeloop.models.train.pruning import copy_kept_weights

    width = pruned_width(int(params["width"]), keep)
    return copy_kept_weights(model, build_model(family, dict(params, width=width), n_inputs, n_classes)), width


def representative_input(family: str, params: dict[str, Any], n_inputs: int | tuple[int, ...],
                         n: int = 32) -> np.ndarray:
    """Inputs in the deployed range, for sizing an untrained model (sizes do not depend on values)."""
    rng = np.random.default_rng(0)
    if family in IMAGE_FAMILIES:
        rep = rng.uniform(0, 1, (n, *image_shape(params))).astype(np.float32)
        rep[0], rep[1] = 0.0, 1.0  # the pinned [0, 1] input range `edgeloop train` calibrates with
        return rep
    # standardised features or samples (per channel for raw windows)
    return rng.normal(0, 1, (n, *np.atleast_1d(n_inputs))).astype(np.float32)


def model_input_shape(td: TaskData, family: str, params: dict[str, Any]) -> int | tuple[int, int]:
    """What build_model takes as `n_inputs` on this data: a feature model's feature count (channels x
    features of its subset), a raw-window model's (window, channels); 0 for image families (their params say
    it)."""
    if family == "feature_mlp":
        return td.n_channels * features_per_channel(str(params.get("features") or "stats9"))
    if family in RAW_FAMILIES:
        return (int(params["window"]), td.n_channels)
    return 0


def norm_pairs(td: TaskData, family: str, params: dict[str, Any]) -> int:
    """(mean, std) pairs the deployed model's descriptor carries: one per feature, or one per channel for
    raw windows (SPEC.md §9.3 norm_mode 1); none for images."""
    if family in RAW_FAMILIES:
        return td.n_channels
    return int(np.prod(model_input_shape(td, family, params)))


@dataclass
class Fitted:
    """A model trained on one fold, and how its inputs are prepared."""

    model: Any
    norm: Any | None
    epochs: int

    def prepare(self, kind: str, x: np.ndarray) -> np.ndarray:
        return self.norm.apply(x) if self.norm is not None else model_input(kind, x)

    def predict(self, kind: str, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.model.predict(self.prepare(kind, x), verbose=0, batch_size=256))


def fit(td: TaskData, family: str, params: dict[str, Any], train: Arrays, val: Arrays, seed: int,
        epochs: int, teacher: np.ndarray | None = None, temperature: float = 4.0, initial: Any = None) -> Fitted:
    """Train a fresh model of `family` on `train`, early-stopped on `val`, as `edgeloop train` would.

    `teacher` (probabilities of a larger model on `train`'s rows) switches the
    loss to knowledge distillation: half cross-entropy on the labels, half
    KL divergence to the teacher's softened probabilities. `initial` (a model
    of `params` with weights set, e.g. a pruned one) is fine-tuned instead of
    a fresh model, at a quarter of the learning rate.
    """
    from edgeloop.models.features import FeatureNorm
    from edgeloop.models.train.common import FitConfig, fit as keras_fit, setup_tensorflow
    from edgeloop.models.train.distill import distillation_loss, distillation_targets
    from edgeloop.models.train.families import image_training_wrapper, masked_fill_loss, with_fill_head
    from edgeloop.models.train.pixel_centring import centred_training

    setup_tensorflow(seed)
    stack = ExitStack()  # holds the centring of a dense net on pixels until training ends
    if teacher is None and train.soft is not None:  # the design's --teacher
        teacher = train.soft
    if td.train_margin and train.aux is not None:  # --train-margin: cleaner labels for training rows only
        from edgeloop.models.train.label_margin import class_boundaries, clean_rows

        keep = clean_rows(train.aux, class_boundaries(td.data), td.train_margin)
        train, teacher = train.take(np.flatnonzero(keep)), None if teacher is None else teacher[keep]
    counts = np.bincount(train.y, minlength=td.n_classes)
    weights = {i: float(len(train.y) / (td.n_classes * c)) for i, c in enumerate(counts) if c}
    norm = None
    if family == "feature_mlp" or family in RAW_FAMILIES:
        # as `edgeloop train` does: features standardised per feature, raw windows per channel
        norm = FeatureNorm.fit(train.x if family == "feature_mlp" else train.x.reshape(-1, train.x.shape[-1]))
        x, xv = norm.apply(train.x), norm.apply(val.x)
        model = initial if initial is not None else build_model(
            family, params, x.shape[1] if family == "feature_mlp" else x.shape[1:], td.n_classes)
        cfg = FitConfig(epochs=epochs, batch_size=64, patience=12,
                        learning_rate=(3e-3 if family == "feature_mlp" else 5e-3) / (4 if initial is not None else 1),
                        progress=False, class_weight=None if teacher is not None else weights)
        trainable, y, yv, loss, metrics = model, train.y, val.y, "sparse_categorical_crossentropy", ("accuracy",)
    else:
        x, xv = train.x, val.x
        model = initial if initial is not None else build_model(family, params, 0, td.n_classes)
        cfg = FitConfig(epochs=epochs, batch_size=64, learning_rate=1e-3 if initial is not None else 4e-3, patience=8,
                        progress=False)
        if train.aux is not None and family == "image_cnn":  # the fill head grows from the CNN's features,
            # with or without a teacher (as `edgeloop train` does; a dense net on pixels has none)
            trainable = image_training_wrapper(with_fill_head(model))
            fill = lambda a: np.where(np.isfinite(a), a, -1.0)[:, None]  # noqa: E731
            probs_y, probs_yv, probs_loss = train.y, val.y, "sparse_categorical_crossentropy"
            if teacher is not None:
                probs_y, probs_yv, probs_loss = (distillation_targets(train.y, teacher, td.n_classes),
                                                 distillation_targets(val.y, None, td.n_classes),
                                                 distillation_loss(temperature))
            y = {"probabilities": probs_y, "fill": fill(train.aux)}
            yv = {"probabilities": probs_yv, "fill": fill(val.aux if val.aux is not None else np.full(len(val.y), -1.))}
            loss = {"probabilities": probs_loss, "fill": masked_fill_loss}
            metrics = {"probabilities": [] if teacher is not None else ["accuracy"]}
        else:
            # a dense net on pixels trains on centred ones, folded back into it when training ends
            trainable = stack.enter_context(centred_training(model, x, folded=initial is not None)) \
                if family == "dense_pixels" else image_training_wrapper(model)
            y, yv, loss, metrics = train.y, val.y, "sparse_categorical_crossentropy", ("accuracy",)
    if teacher is not None and not isinstance(y, dict):
        y, yv, loss = distillation_targets(train.y, teacher, td.n_classes), \
            distillation_targets(val.y, None, td.n_classes), distillation_loss(temperature)
        metrics = ()
    with stack:
        hist = keras_fit(trainable, x, y, xv, yv, cfg, desc="design", loss=loss, metrics=metrics)
    return Fitted(model, norm, len(next(iter(hist.values()))))


def case_decisions(case: np.ndarray, y: np.ndarray, probs: np.ndarray, rule: Any = None) -> list[dict[str, Any]]:
    """Per-recording decisions of each recording span (one recording, one label), through the one decision
    function every edgeloop tool uses (edgeloop.models.decision.decide_recording) with the model's rule
    (default: the mean of the windows' probabilities). `decided` is -1 where the rule says uncertain."""
    from edgeloop.models.decision import DecisionRule, decide_recording

    rule = rule or DecisionRule()
    out = []
    for name in dict.fromkeys(case.tolist()):
        if not name:
            continue
        idx = np.flatnonzero(case == name)
        decided = decide_recording(rule, np.asarray(probs)[idx])
        out.append({"recording": name, "windows": int(len(idx)), "truth": int(y[idx[0]]), "decided": int(decided)})
    return out


def train_request(td: TaskData, family: str, params: dict[str, Any], out: Path, seed: int, epochs: int,
                  name: str = "chosen", teacher: Path | None = None, kernels: str | None = None) -> Any:
    """The `edgeloop train` request that reproduces a candidate (`kernels`: its kernel set, recorded in the recipe).

    `.command()` gives its command line and `.recipe().recipe_json()` its
    recipe file (`edgeloop train --recipe FILE`); training writes that file as
    NAME.recipe.json too.
    """
    from edgeloop.models.train.recipes import TrainRequest

    teacher = teacher or td.teacher
    common = dict(task=td.task, out=Path(out), data=list(td.data), seed=seed, name=name, epochs=epochs,
                  width=int(params["width"]), depth=int(params["depth"]), progress=False, kernels=kernels)
    if family in TRAIN_FAMILY:
        features = str(params.get("features") or "stats9") if family == "feature_mlp" else None
        return TrainRequest(**common, family=TRAIN_FAMILY[family], features=features, window=int(params["window"]),
                            hop=int(params["hop"]), teacher=str(teacher) if teacher else None,
                            prune_keep=params.get("prune_keep"))
    if family == "image_cnn":
        arch = image_arch(params)
        widths = arch.pop("widths", None)
        if widths:  # a pruned net: its widths say it all (the stem's is the width, the largest the cap)
            common.update(width=widths[0])
        return TrainRequest(**common, family="image-cnn", arch="demo", input_size=int(params["input_size"]),
                            color=str(params["color"]),
                            max_channels=max(widths) if widths else int(params["max_channels"]),
                            conv_channels=widths, teacher=str(teacher) if teacher else None,
                            train_margin=td.train_margin or None, prune_keep=params.get("prune_keep"), **arch)
    if family == "dense_pixels":
        return TrainRequest(**common, family="dense", input_size=int(params["input_size"]),
                            color=str(params["color"]), teacher=str(teacher) if teacher else None,
                            train_margin=td.train_margin or None, prune_keep=params.get("prune_keep"))
    raise ValueError(f"family {family!r} has no `edgeloop train` recipe yet")


def refit(request: Any) -> dict[str, Any]:
    """Run `edgeloop train` for a request; returns its report (files in request.out)."""
    from edgeloop.models.train.recipes import train

    return train(request)
