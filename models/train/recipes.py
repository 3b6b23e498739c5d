"""Task registry and recipes of `edgeloop train`: which data, model family and settings make a model.

A `Recipe` is the whole definition of a trained model (task, family, feature set, window, hop, sizes,
seed, decision rule); every training run writes its resolved recipe to NAME.recipe.json, and
`edgeloop train --recipe FILE --out DIR` reproduces the model from it.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from edgeloop import InputError, MissingFileError
from edgeloop.models.train.families import IMAGE_BLOCKS, IMAGE_HEADS, IMAGE_POOLS, IMAGE_PRESETS

TASKS: dict[str, str] = {
    "sine": "regression y = sin(x), the 1→16→16→1 hello-world model (needs no data)",
    "bottles": "IV bottle fill level from images (synthetic bottles set; --arch demo or tiny)",
    "images": "any folder-per-class image set, e.g. recorded webcam sessions",
    "imu-activity": "activity recognition from IMU feature windows (synthetic activity set)",
    "fall": "fall detection from IMU feature windows (synthetic fall set)",
    "imu": "any labeled edgeloop-imu-csv v1 / edgeloop-recording v2 recordings",
    "timeseries": "any imported time-series set (`edgeloop dataset import`): any channels, rate and cases",
}

__all__ = ["FAMILIES", "IMAGE_PRESETS", "RECIPE_FORMAT", "TASKS", "Recipe", "RecipeError", "TrainRequest", "train"]


RECIPE_FORMAT = "edgeloop-recipe v1"
RECIPE_SUFFIX = ".recipe.json"
FAMILIES: dict[str, str] = {
    "default": "the task's usual family (image CNN for images, feature MLP for IMU and time series)",
    "feature-mlp": "dense network on standardised window features (--features picks the set)",
    "cnn1d": "1-D CNN along time on raw standardised windows (CONV_2D with height 1 on the board)",
    "dense": "dense network on raw standardised windows or pixels, for tiny inputs",
    "image-cnn": "the image CNN presets (--arch)",
    "auto": "try the cheap families (time series: feature-mlp, cnn1d, dense; images: image-cnn, dense), keep "
            "the best on the validation split (ties: the smaller)",
}


class RecipeError(InputError):
    """A recipe file or a recipe field is not valid; the message names the field and the fix."""


def parse_channels(text: str) -> list[int]:
    """'8,12,12,16' -> [8, 12, 12, 16] (the `--conv-channels` option)."""
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise RecipeError(f"--conv-channels {text!r}: give comma-separated channel counts, stem first, "
                          "e.g. 8,12,12,16") from None


@dataclass
class Recipe:
    """Everything that defines a trained model: `edgeloop train --recipe FILE` reproduces it.

    None means "the task's default"; the recipe a training run writes
    (NAME.recipe.json) has every default resolved, so it stays reproducible
    when defaults change. `data` and `test` are paths as given (relative to
    the working directory of the run).
    """

    task: str
    data: list[Path] = field(default_factory=list)
    test: list[Path] = field(default_factory=list)
    family: str = "default"
    features: str | None = None
    seed: int = 0
    arch: str = "demo"
    input_size: int | None = None
    color: str | None = None
    width: int | None = None
    depth: int | None = None
    max_channels: int | None = None
    # image CNN architecture choices (families.build_image_cnn); None: the preset's (stride-2 stem, max pooling,
    # flatten head, plain 3×3 blocks). `conv_channels` lists every conv's output channels (a pruned net).
    stem_stride: int | None = None
    pool: str | None = None
    head: str | None = None
    block: str | None = None
    conv_channels: list[int] | None = None
    epochs: int | None = None
    # a trained model (.keras, or its training folder) whose softened probabilities the model learns from as well
    # as the labels (knowledge distillation; image and time-series tasks); it must read the same input
    teacher: str | None = None
    # image sets with value bins (bottles): leave training images within this distance of a class boundary
    # out of training only (models/train/label_margin.py); validation and test keep every image
    train_margin: float | None = None
    # time-series families: after training, keep this fraction of every hidden layer's neurons/filters (largest L1
    # norm) and fine-tune the narrower net, which is the exported model (models/train/pruning.py)
    prune_keep: float | None = None
    window: int | None = None
    hop: int | None = None
    refit: bool = False
    ignore_split: bool = False
    decision: dict[str, Any] | None = None
    # the kernel set the model compiles with (`compile --kernels`; None: fast): `edgeloop design` records the
    # smallest set that meets its latency limit, and the training report's flash figure uses it
    kernels: str | None = None

    def __post_init__(self) -> None:
        self.data = [Path(p) for p in self.data]
        self.test = [Path(p) for p in self.test]
        if self.family not in FAMILIES:
            raise RecipeError(f"unknown model family {self.family!r}; choose one of {', '.join(FAMILIES)}")
        for knob, allowed in (("pool", IMAGE_POOLS), ("head", IMAGE_HEADS), ("block", IMAGE_BLOCKS)):
            value = getattr(self, knob)
            if value is not None and value not in allowed:
                raise RecipeError(f"unknown image CNN {knob} {value!r}; choose one of {', '.join(allowed)}")
        if self.kernels is not None and self.kernels not in ("fast", "small"):
            raise RecipeError(f"unknown kernel set {self.kernels!r}; choose fast or small")
        if self.stem_stride is not None and self.stem_stride not in (1, 2):
            raise RecipeError(f"stem_stride must be 1 or 2, got {self.stem_stride!r}")
        if self.teacher is not None:
            self.teacher = str(self.teacher)
        if self.train_margin is not None and not 0.0 <= float(self.train_margin) < 0.5:
            raise RecipeError(f"train_margin must be in [0, 0.5), got {self.train_margin!r}")
        if self.prune_keep is not None and not (isinstance(self.prune_keep, (int, float)) and 0 < self.prune_keep < 1):
            raise RecipeError(f"prune_keep {self.prune_keep!r}: give the fraction of neurons/filters to keep, between "
                              "0 and 1 (e.g. 0.5)")
        if self.conv_channels is not None:
            if isinstance(self.conv_channels, str):
                self.conv_channels = parse_channels(self.conv_channels)
            if not self.conv_channels or any(not isinstance(c, int) or c < 1 for c in self.conv_channels):
                raise RecipeError(f"conv_channels must list positive channel counts (stem first), got "
                                  f"{self.conv_channels!r}")
            self.conv_channels = [int(c) for c in self.conv_channels]

    def recipe_json(self) -> dict[str, Any]:
        """The JSON object of NAME.recipe.json: `format` plus every recipe field."""
        obj: dict[str, Any] = {"format": RECIPE_FORMAT}
        for f in fields(Recipe):
            value = getattr(self, f.name)
            obj[f.name] = [str(p) for p in value] if f.name in ("data", "test") else value
        return obj

    @classmethod
    def from_json(cls, obj: Any, source: str = "recipe") -> "Recipe":
        """Validate a decoded recipe object (unknown keys and another format are refused)."""
        if not isinstance(obj, dict) or obj.get("format") != RECIPE_FORMAT:
            raise RecipeError(f"{source}: not an edgeloop recipe (expected \"format\": \"{RECIPE_FORMAT}\")")
        known = {f.name for f in fields(Recipe)}
        unknown = set(obj) - known - {"format"}
        if unknown:
            raise RecipeError(f"{source}: unknown keys {sorted(unknown)}; allowed: {sorted(known)}")
        if "task" not in obj:
            raise RecipeError(f"{source}: the recipe names no task")
        return cls(**{k: v for k, v in obj.items() if k != "format"})

    def write(self, path: Path) -> Path:
        """Write this recipe as JSON to `path`."""
        Path(path).write_text(json.dumps(self.recipe_json(), indent=2) + "\n", encoding="utf-8")
        return Path(path)

    @classmethod
    def read(cls, path: Path) -> "Recipe":
        """Read a recipe file written by `write()` (or by hand)."""
        try:
            obj = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RecipeError(f"recipe file {path} does not exist") from None
        except json.JSONDecodeError as exc:
            raise RecipeError(f"{path}: not valid JSON ({exc})") from None
        return cls.from_json(obj, str(path))

    def recipe(self) -> "Recipe":
        """This object as a plain Recipe (drops the run options of a TrainRequest)."""
        return Recipe(**{f.name: getattr(self, f.name) for f in fields(Recipe)})


@dataclass(kw_only=True)
class TrainRequest(Recipe):
    """A recipe plus where and how to run it: output folder, model name, progress bars."""

    out: Path
    name: str = "model"
    progress: bool = True

    @classmethod
    def from_recipe(cls, recipe: Recipe, out: Path, name: str | None = None, progress: bool = True,
                    **overrides: Any) -> "TrainRequest":
        """A request that runs `recipe` into `out` (`overrides` replace recipe fields, e.g. data=...)."""
        values = {f.name: getattr(recipe, f.name) for f in fields(Recipe)}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values, out=Path(out), name=name or Path(out).name.replace("-", "_"), progress=progress)

    def command(self) -> str:
        """The `edgeloop train ...` command line that repeats this request."""
        argv = ["edgeloop", "train", "--task", self.task]
        if self.data:
            argv += ["--data", *map(str, self.data)]
        if self.test:
            argv += ["--test", *map(str, self.test)]
        argv += ["--out", str(self.out), "--seed", str(self.seed)]
        if self.name != self.out.name.replace("-", "_"):
            argv += ["--name", self.name]
        if self.task in ("bottles", "images") and self.arch != "demo":
            argv += ["--arch", self.arch]
        if self.family != "default":
            argv += ["--family", self.family]
        for opt in ("features", "input_size", "color", "width", "depth", "max_channels", "stem_stride", "pool", "head",
                    "block", "conv_channels", "teacher", "train_margin", "prune_keep", "epochs", "window", "hop",
                    "kernels"):
            value = getattr(self, opt)
            if value is not None:
                text = ",".join(map(str, value)) if isinstance(value, list) else str(value)
                argv += [f"--{opt.replace('_', '-')}", text]
        for flag in ("refit", "ignore_split"):
            if getattr(self, flag):
                argv.append(f"--{flag.replace('_', '-')}")
        if self.decision:
            from edgeloop.models.decision import DecisionRule

            rule = DecisionRule.from_json(self.decision)
            spec = f"{rule.mode}:{rule.k}" + (f",threshold={rule.threshold:g}" if rule.threshold else "") + \
                (f",debounce={rule.debounce}" if rule.debounce > 1 else "")
            argv += ["--decision", spec]
        return shlex.join(argv)


def train(req: TrainRequest) -> dict[str, Any]:
    """Run the recipe of `req.task` and return its report dict (also written to req.out)."""
    if req.task not in TASKS:
        raise InputError(f"unknown task {req.task!r}; choose one of {', '.join(sorted(TASKS))}")
    if req.task != "sine" and not req.data:
        raise InputError(f"--task {req.task} needs --data; make a synthetic set with `edgeloop dataset synth` "
                         "or point it at recorded sessions")
    for path in req.data:
        if not Path(path).exists():
            raise MissingFileError(f"data path {path} does not exist")
    if req.task == "sine":
        if req.teacher or req.prune_keep is not None:
            raise RecipeError("--teacher and --prune-keep compress image and time-series models; --task sine has "
                              "neither (leave them out)")
        from edgeloop.models.train.sine import train_sine

        epochs = req.epochs or 400
        return train_sine(req.out, seed=req.seed, epochs=epochs, recipe=[req.command()],
                          progress=req.progress, name=req.name, resolved=replace(req.recipe(), epochs=epochs))
    if req.task in ("bottles", "images"):
        from edgeloop.models.train.images import train_images

        return train_images(req)
    if req.train_margin:
        raise RecipeError(f"--train-margin needs image sets with value bins (bottles); --task {req.task} "
                          "has none (leave it out)")
    if req.family == "image-cnn":
        raise RecipeError(f"--family image-cnn trains on images; --task {req.task} takes feature-mlp, cnn1d, dense "
                         "or auto")
    from edgeloop.models.train.timeseries import train_timeseries

    return train_timeseries(req)
