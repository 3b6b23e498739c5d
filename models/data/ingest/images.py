"""Folder-per-class image sets → `edgeloop-image-set v1`: natural label order, splits, images copied unchanged."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

from edgeloop.models.data.imagesets import IMAGE_SUFFIXES, ImageRecord, natural_key, write_manifest
from edgeloop.models.data.ingest.tables import DataImportError
from edgeloop.models.data.splits import SPLIT_ALIASES, TEST_FRACTION, VAL_FRACTION

LABEL_ORDER_FILE = "labels.txt"


def _classes(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")]


def _images(folder: Path) -> list[Path]:
    return sorted((p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES), key=lambda p: natural_key(
        str(p)))


def is_image_set(root: Path) -> bool:
    """A folder whose class folders (or split/class folders) hold images."""
    return root.is_dir() and any(p.suffix.lower() in IMAGE_SUFFIXES for p in root.rglob("*"))


def read_label_order(path: Path, found: set[str]) -> list[str]:
    """Labels in model output order from a file (one per line); it must list exactly the classes found."""
    order = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    if set(order) != found or len(order) != len(found):
        raise DataImportError(f"{path}: lists {sorted(set(order))} but the class folders are {sorted(found)}; "
                              "list every class exactly once")
    return order


def import_images(roots: list[Path], out: Path, *, test: list[Path], seed: int, ignore_split: bool,
                  label_order: Path | None, notes: list[str]) -> dict[str, object]:
    """Copy folder-per-class images into `out` as an edgeloop-image-set v1 (train/val/test folders)."""
    items: list[tuple[Path, str, str | None]] = []  # (file, label, declared split)
    for root, forced in [*((r, None) for r in roots), *((r, "test") for r in test)]:
        top = _classes(root)
        split_dirs = [d for d in top if d.name.lower() in SPLIT_ALIASES]
        class_dirs = [d for d in top if d not in split_dirs]
        if split_dirs and not ignore_split and any(_images(d) for d in class_dirs):
            raise DataImportError(f"{root}: has split folders ({', '.join(d.name for d in split_dirs)}) and class "
                                  f"folders without a split ({', '.join(sorted(d.name for d in class_dirs)[:6])}); "
                                  "move them into train/ or test/, or pass --ignore-split")
        for d in split_dirs if split_dirs and not ignore_split else []:
            for cls in _classes(d):
                items += [(f, cls.name, forced or SPLIT_ALIASES[d.name.lower()]) for f in _images(cls)]
        groups = [*class_dirs, *(c for d in split_dirs for c in _classes(d))] if ignore_split else class_dirs
        for cls in groups:
            items += [(f, cls.name, forced) for f in _images(cls)]
    if not items:
        raise DataImportError(f"no images under {', '.join(map(str, roots))}: expected <class>/*.png folders "
                              "(or train/<class>/..., test/<class>/...)")
    found = {lab for _, lab, _ in items}
    order_file = label_order or next((r / LABEL_ORDER_FILE for r in roots if (r / LABEL_ORDER_FILE).is_file()), None)
    labels = read_label_order(order_file, found) if order_file else sorted(found, key=natural_key)
    notes.append(f"labels in output order: {labels}" + (f" (from {order_file})" if order_file else
                                                       " (natural sort of the folder names)"))
    if len(labels) < 2:
        raise DataImportError(f"found only the class {labels}; a classifier needs at least 2 class folders")
    declared = [s for _, _, s in items]
    if any(declared) and not all(declared):
        missing = sorted({str(f.parent) for f, _, s in items if s is None})
        raise DataImportError(f"some images have a split folder and others not: {', '.join(missing[:6])}; give "
                              "every image a split, or pass --ignore-split")
    rng = np.random.default_rng(seed)
    splits = list(declared)
    for split, fraction in (("test", TEST_FRACTION), ("val", VAL_FRACTION)):
        if split in splits:
            continue
        for lab in labels:
            idx = [i for i, (_, l2, _) in enumerate(items) if l2 == lab and splits[i] in (None, "train")]
            n = min(len(idx) - 1, max(1, int(round(len(idx) * fraction)))) if len(idx) > 1 else 0
            for i in rng.permutation(idx)[:n]:
                splits[int(i)] = split
        notes.append(f"{split} split carved from {'train' if any(declared) else 'all images'}, stratified, seeded")
    small = [lab for lab in labels if Counter(lab2 for _, lab2, _ in items)[lab] < 2]
    if small:
        raise DataImportError(f"class(es) {small} have fewer than 2 images; add images or drop the class")
    records = []
    sizes: Counter[tuple[int, int]] = Counter()
    for (src, lab, _), split in zip(items, splits):
        split = split or "train"
        img = cv2.imread(str(src), cv2.IMREAD_UNCHANGED)
        if img is None:
            raise DataImportError(f"{src}: not a readable image (PNG, JPEG or BMP); delete or convert it")
        sizes[img.shape[:2]] += 1
        dest = out / split / lab / src.name
        k = 1
        while dest.exists():
            dest = out / split / lab / f"{src.stem}_{k}{src.suffix}"
            k += 1
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest)
        records.append(ImageRecord(dest.relative_to(out).as_posix(), lab, split, {"source": str(src)}))
    (h, w), _ = sizes.most_common(1)[0]
    counts = {s: {lab: n for lab in labels if (n := sum(r.label == lab and r.split == s for r in records))}
              for s in ("train", "val", "test")}
    notes.append(f"{len(records)} images, most {w}×{h} px" + (f" ({len(sizes)} different sizes)" if len(sizes) > 1
                                                              else ""))
    write_manifest(out, records, labels, size=[int(h), int(w)], counts=counts, source=[str(r) for r in roots])
    return {"kind": "images", "labels": labels, "counts": counts, "size": [int(h), int(w)]}
