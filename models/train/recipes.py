"""Task registry of `edgeloop train`: which data, model family and recipe each task uses."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeloop import InputError, MissingFileError
from edgeloop.models.train.families import IMAGE_PRESETS

TASKS: dict[str, str] = {
    "sine": "regression y = sin(x), the 1→16→16→1 hello-world model (needs no data)",
    "bottles": "IV bottle fill level from images (synthetic bottles set; --arch demo or tiny)",
    "images": "any folder-per-class image set, e.g. recorded webcam sessions",
    "imu-activity": "activity recognition from IMU feature windows (synthetic activity set)",
    "fall": "fall detection from IMU feature windows (synthetic fall set)",
    "imu": "any labeled edgeloop-imu-csv v1 recordings",
}

__all__ = ["IMAGE_PRESETS", "TASKS", "TrainRequest", "train"]


@dataclass
class TrainRequest:
    """Everything `edgeloop train` was asked; None means "the task's default"."""

    task: str
    out: Path
    data: list[Path] = field(default_factory=list)
    seed: int = 0
    name: str = "model"
    arch: str = "demo"
    input_size: int | None = None
    color: str | None = None
    width: int | None = None
    depth: int | None = None
    max_channels: int | None = None
    epochs: int | None = None
    window: int | None = None
    hop: int | None = None
    progress: bool = True

    def command(self) -> str:
        """The `edgeloop train ...` command line that repeats this request."""
        argv = ["edgeloop", "train", "--task", self.task]
        if self.data:
            argv += ["--data", *map(str, self.data)]
        argv += ["--out", str(self.out), "--seed", str(self.seed)]
        if self.name != self.out.name.replace("-", "_"):
            argv += ["--name", self.name]
        if self.task in ("bottles", "images") and self.arch != "demo":
            argv += ["--arch", self.arch]
        for opt in ("input_size", "color", "width", "depth", "max_channels", "epochs", "window", "hop"):
            value = getattr(self, opt)
            if value is not None:
                argv += [f"--{opt.replace('_', '-')}", str(value)]
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
        from edgeloop.models.train.sine import train_sine

        return train_sine(req.out, seed=req.seed, epochs=req.epochs or 400, recipe=[req.command()],
                          progress=req.progress, name=req.name)
    if req.task in ("bottles", "images"):
        from edgeloop.models.train.images import train_images

        return train_images(req)
    from edgeloop.models.train.imu import train_imu

    return train_imu(req)
