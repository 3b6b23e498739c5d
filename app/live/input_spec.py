"""How an image model wants its pixels, read from the `NAME.preprocess.json` beside its int8 `.tflite`.

A board's descriptor (INFO) gives the input tensor's shape and quantization, but not
the colour order or the real range the network was trained on. `edgeloop compile`
of an imported model writes both into NAME.preprocess.json (`color_order`,
`pixel_range`, `layout`; docs/workflow.md). The live path (run, GUI, validate)
finds that file by the descriptor's SHA-256, searching the bundled zoo, the
folders the user names (`edgeloop run --model-dir DIR`) and the folders in the
environment variable EDGELOOP_MODEL_PATH (os.pathsep-separated), the way
edgeloop.models.decision.rule_for_model finds a model's decision rule.

Without such a file (or with one that names neither key, like the zoo's own image
models) nothing changes: RGB, and the pixel range inferred from the quantization.

Example::

    spec = image_input_spec(model.hash, model_dirs=[Path("build/mynet")])
    pre = ImagePreprocessor(model, spec=spec)
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeloop import InputError, MissingFileError

COLOR_ORDERS = ("rgb", "bgr", "gray")
BOARD_LAYOUTS = ("NHWC",)  # what an image preprocessor produces: channels last, as every board model takes it
MODEL_PATH_ENV = "EDGELOOP_MODEL_PATH"


class InputSpecError(InputError):
    """A preprocess.json names a colour order, pixel range or layout the live path cannot apply."""


@dataclass(frozen=True)
class ImageInputSpec:
    """Colour order and real pixel range of an image model's input; `origin` names the file it came from."""

    color_order: str = "rgb"
    pixel_range: tuple[float, float] | None = None  # None: inferred from the input quantization
    origin: str = ""


def parse_image_spec(data: Mapping[str, Any], origin: str) -> ImageInputSpec | None:
    """The image spec in a parsed preprocess.json; None when it names neither colour order nor pixel range."""
    if "color_order" not in data and "pixel_range" not in data:
        return None
    order = str(data.get("color_order", "rgb")).lower()
    if order not in COLOR_ORDERS:
        raise InputSpecError(f"{origin}: color_order {data['color_order']!r} is not one of "
                             f"{', '.join(COLOR_ORDERS)}; fix the file or re-run edgeloop compile --color-order")
    layout = data.get("layout", "NHWC")
    if layout not in (*BOARD_LAYOUTS, "tensor"):
        raise InputSpecError(f"{origin}: layout {layout!r} is not one the board's image input takes "
                             f"({', '.join(BOARD_LAYOUTS)}); re-run edgeloop compile, which converts NCHW models")
    rng = data.get("pixel_range")
    if rng is not None:
        try:
            lo, hi = (float(v) for v in rng)
        except (TypeError, ValueError):
            raise InputSpecError(f"{origin}: pixel_range {rng!r} is not two numbers [low, high], "
                                 "e.g. [0, 1], [-1, 1] or [0, 255]") from None
        if not hi > lo:
            raise InputSpecError(f"{origin}: pixel_range {rng!r} needs low < high")
        rng = (lo, hi)
    return ImageInputSpec(order, rng, origin)


def search_folders(model_dirs: Iterable[Path | str] = ()) -> list[Path]:
    """Where models are looked up: the folders given (which must exist), EDGELOOP_MODEL_PATH's, then the zoo."""
    from edgeloop.models.quantize import zoo_dir

    folders = []
    for folder in model_dirs:
        path = Path(folder)
        if not path.is_dir():
            raise MissingFileError(f"model folder {path} does not exist or is not a folder: give the folder "
                                   "edgeloop compile wrote the model into")
        folders.append(path)
    folders += [Path(p) for p in os.environ.get(MODEL_PATH_ENV, "").split(os.pathsep) if p and Path(p).is_dir()]
    return folders + [zoo_dir()]


def find_preprocess(sha256: bytes | str, model_dirs: Iterable[Path | str] = ()) -> tuple[Path, dict[str, Any]] | None:
    """(path, contents) of the preprocess.json beside the .tflite whose SHA-256 this is; None when none is found."""
    from edgeloop.models.quantize import find_model_by_hash, meta_paths

    if isinstance(sha256, (bytes, bytearray)) and not any(sha256):
        return None  # built without a .tflite source: nothing to look up
    tflite = find_model_by_hash(sha256, search_folders(model_dirs))
    if tflite is None:
        return None
    path = meta_paths(tflite)[1]
    if not path.exists():
        return None
    try:
        return path, json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputSpecError(f"{path} is not valid JSON ({exc}); re-run edgeloop compile to rewrite it") from None


def image_input_spec(sha256: bytes | str, model_dirs: Iterable[Path | str] = ()) -> ImageInputSpec | None:
    """The image spec of the model with this SHA-256, from its preprocess.json; None without one."""
    found = find_preprocess(sha256, model_dirs)
    return parse_image_spec(found[1], str(found[0])) if found else None
