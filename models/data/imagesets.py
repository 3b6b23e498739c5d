"""Image data sets on disk: folder-per-class PNGs plus manifest.jsonl (format `edgeloop-image-set v1`).

Layout written by `edgeloop dataset synth bottles` (and by the recorder)::

    DIR/dataset.json                      {"format": "edgeloop-image-set v1", "labels": [...], ...}
    DIR/manifest.jsonl                    one JSON object per image (file, label, split, ...)
    DIR/train/<label>/<name>.png          each split folder is what Keras'
    DIR/val/<label>/<name>.png            image_dataset_from_directory reads
    DIR/test/<label>/<name>.png

`load_image_set()` reads that layout, a layout with split folders but no
manifest, or any plain folder-per-class image set (DIR/<label>/*.png|jpg),
which it splits itself, stratified and seeded.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeloop import InputError, MissingFileError, require

IMAGE_SET_FORMAT = "edgeloop-image-set v1"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class ImageRecord:
    """One image of a set: its path relative to the set root, label and split, plus any extra fields."""

    file: str
    label: str
    split: str
    extra: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "label": self.label, "split": self.split, **self.extra}


def write_manifest(root: Path, records: Iterable[ImageRecord], labels: Sequence[str], **info: Any) -> None:
    """Write DIR/manifest.jsonl and DIR/dataset.json (labels in output-index order, plus `info`)."""
    root = Path(root)
    with (root / "manifest.jsonl").open("w", encoding="utf-8") as fh:
        for rec in records:
            fh.write(json.dumps(rec.to_json(), separators=(",", ":")) + "\n")
    meta = {"format": IMAGE_SET_FORMAT, "labels": list(labels), **info}
    (root / "dataset.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def read_manifest(root: Path) -> list[ImageRecord]:
    """Read DIR/manifest.jsonl; raises ValueError naming the bad line."""
    records = []
    path = Path(root) / "manifest.jsonl"
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                records.append(ImageRecord(obj.pop("file"), obj.pop("label"), obj.pop("split", "train"), obj))
            except (json.JSONDecodeError, KeyError, AttributeError) as exc:
                raise InputError(f"{path}:{n}: not a manifest record with file and label ({exc})") from exc
    return records


def natural_key(text: str) -> list[tuple[int, int, str]]:
    """Sort key that orders '2' before '10' and 'class9' before 'class10' (labels are never sorted as text)."""
    return [(0, int(p), "") if p.isdigit() else (1, 0, p.lower()) for p in re.split(r"(\d+)", text) if p]


def _class_folders(folder: Path) -> list[Path]:
    return sorted((p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")),
                  key=lambda p: natural_key(p.name))


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def scan_image_set(root: Path, seed: int = 0, val_fraction: float = 0.15,
                   test_fraction: float = 0.15) -> tuple[list[ImageRecord], list[str]]:
    """List the images of a set and its labels in output-index order.

    With a manifest, labels come from dataset.json (else sorted label names);
    with split folders, from their class folders; a plain folder-per-class set
    gets a seeded, stratified train/val/test split.
    """
    root = Path(root)
    if not root.is_dir():
        raise MissingFileError(f"image set {root} is not a folder")
    if (root / "manifest.jsonl").exists():
        records = read_manifest(root)
        labels: list[str] | None = None
        if (root / "dataset.json").exists():
            labels = json.loads((root / "dataset.json").read_text(encoding="utf-8")).get("labels")
        return records, list(labels) if labels else sorted({r.label for r in records}, key=natural_key)
    split_dirs = [root / s for s in SPLITS if (root / s).is_dir()]
    if split_dirs:
        records = [ImageRecord(str(img.relative_to(root)), cls.name, d.name, {})
                   for d in split_dirs for cls in _class_folders(d) for img in _images_in(cls)]
        labels = sorted({r.label for r in records}, key=natural_key)
    else:
        rng = np.random.default_rng(seed)
        records = []
        labels = [c.name for c in _class_folders(root)]
        for cls in _class_folders(root):
            files = _images_in(cls)
            order = rng.permutation(len(files))
            n_val, n_test = int(round(len(files) * val_fraction)), int(round(len(files) * test_fraction))
            for rank, i in enumerate(order):
                split = "test" if rank < n_test else "val" if rank < n_test + n_val else "train"
                records.append(ImageRecord(str(files[i].relative_to(root)), cls.name, split, {}))
    if not records:
        raise InputError(f"{root} holds no images: expected <label>/*.png folders (or train/<label>/...), "
                         "or a manifest.jsonl")
    return records, labels


def load_image(path: Path, size: int, color: str, raw: bool = False) -> np.ndarray:
    """Read an image file resized to size×size, shape (size, size, 1|3) in RGB order:
    float32 in [0, 1], or uint8 pixels when `raw`."""
    cv2 = require("cv2", needed_for="image data sets")
    flag = cv2.IMREAD_GRAYSCALE if color == "gray" else cv2.IMREAD_COLOR
    img = cv2.imread(str(path), flag)
    if img is None:
        raise InputError(f"cannot read image {path}; is it a PNG/JPEG file?")
    if img.shape[:2] != (size, size):
        img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
    img = img[..., None] if color == "gray" else img[..., ::-1]
    return np.ascontiguousarray(img) if raw else img.astype(np.float32) / 255.0


def to_model_input(rgb: np.ndarray, size: int, color: str) -> np.ndarray:
    """Turn an RGB uint8 frame (e.g. from render_bottle or a camera) into one model input in [0, 1].

    Gray uses OpenCV's luma weights, the same as reading the PNG in gray.
    """
    cv2 = require("cv2", needed_for="image data sets")
    img = cv2.resize(rgb, (size, size), interpolation=cv2.INTER_AREA) if rgb.shape[:2] != (size, size) else rgb
    if color == "gray":
        img = cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2GRAY)[..., None]
    return img.astype(np.float32) / 255.0


def load_image_set(roots: Sequence[Path], size: int, color: str, seed: int = 0,
                   labels: Sequence[str] | None = None, raw: bool = False,
                   values: str | None = None) -> tuple[dict[str, tuple[np.ndarray, ...]], list[str]]:
    """Load one or more image sets into {split: (x, y)} arrays; labels merge in first-seen order.

    x is float32 (N, size, size, C) in [0, 1] (uint8 pixels when `raw`: a
    quarter of the memory); y is int64 class indices. With `values` (a
    manifest field such as "fill"), each split is (x, y, v) where v is that
    field as float64, NaN where a record lacks it or it is null.
    A split no set provides is absent from the result.
    """
    if color not in ("gray", "rgb"):
        raise InputError(f"color must be gray or rgb, not {color!r}")
    all_labels: list[str] = list(labels or [])
    by_split: dict[str, tuple[list[np.ndarray], list[int], list[float]]] = {}
    for root in roots:
        records, set_labels = scan_image_set(Path(root), seed=seed)
        for name in set_labels:
            if name not in all_labels:
                if labels is not None:
                    raise InputError(f"{root} has class {name!r}, which is not among {list(labels)}")
                all_labels.append(name)
        for rec in records:
            xs, ys, vs = by_split.setdefault(rec.split, ([], [], []))
            xs.append(load_image(Path(root) / rec.file, size, color, raw))
            ys.append(all_labels.index(rec.label))
            v = rec.extra.get(values) if values else None
            vs.append(float(v) if isinstance(v, (int, float)) else np.nan)
    out: dict[str, tuple[np.ndarray, ...]] = {}
    for split, (xs, ys, vs) in by_split.items():
        arrays = (np.stack(xs), np.asarray(ys, np.int64))
        out[split] = (*arrays, np.asarray(vs, np.float64)) if values else arrays
    return out, all_labels
