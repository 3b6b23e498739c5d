"""Train / val / test splits of recordings that never leak: whole recordings (or subjects), stratified.

The rules (docs/formats.md, "Splits"), shared by `edgeloop dataset import`
and `edgeloop train`:

- A recording's split comes from its `split` metadata (written by import from
  folder names, a split column, `*_TRAIN`/`*_TEST` file names or `--test`).
- Partial split metadata (some recordings with, some without) is refused,
  listing the recordings without, unless `ignore_split` (then every split
  given is ignored and a seeded split is made).
- A missing val split is carved from train, a missing test split from train
  too, never from test: whole groups (the subject when known, else the
  recording or case), stratified by each group's majority class, seeded.
- With fewer than three groups nothing can be held out whole: each recording
  is cut in time 70/15/15 (a window never spans two pieces).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Sequence

import numpy as np

from edgeloop.models.data.recording import Recording, RecordingError

SPLITS = ("train", "val", "test")
SPLIT_ALIASES = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val",
                 "dev": "val", "test": "test", "testing": "test", "eval": "test"}
VAL_FRACTION = 0.15
TEST_FRACTION = 0.2


def normalise_split(value: str | None, source: str) -> str | None:
    """'Train', 'validation', ... → train/val/test; '' or None → None; anything else is refused."""
    if value is None or not str(value).strip():
        return None
    key = str(value).strip().lower()
    if key not in SPLIT_ALIASES:
        raise RecordingError(f"{source}: split {value!r} is not one of train, val, test")
    return SPLIT_ALIASES[key]


def _listing(names: Sequence[str], limit: int = 8) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def group_key(rec: Recording) -> str:
    """What must stay in one split: the subject when known, else the recording (or case) itself."""
    subject = rec.meta.get("subject")
    return f"subject:{subject}" if subject else f"recording:{rec.name}"


def majority_class(rec: Recording, mapper: Callable[[str], str | None] = lambda s: s or None) -> str | None:
    """The most frequent (mapped) label of a recording's samples, None when none is labelled."""
    votes = Counter(m for m in (mapper(str(s)) for s in rec.labels) if m is not None)
    return votes.most_common(1)[0][0] if votes else None


def _carve(groups: dict[str, list[int]], strata: dict[str, str | None], fraction: float,
           rng: np.random.Generator) -> set[str]:
    """Pick about `fraction` of the groups of each stratum (never a stratum's last group)."""
    by_stratum: dict[str | None, list[str]] = defaultdict(list)
    for g in sorted(groups):
        by_stratum[strata[g]].append(g)
    taken: set[str] = set()
    for stratum in sorted(by_stratum, key=str):
        members = by_stratum[stratum]
        if len(members) < 2:
            continue
        order = rng.permutation(len(members))
        n = min(len(members) - 1, max(1, int(round(len(members) * fraction))))
        taken.update(members[i] for i in order[:n])
    return taken


def assign_splits(recs: Sequence[Recording], seed: int, *, ignore_split: bool = False,
                  mapper: Callable[[str], str | None] = lambda s: s or None,
                  notes: list[str] | None = None) -> list[tuple[Recording, str]]:
    """Pair each recording (or a time piece of one) with train, val or test by the module's rules.

    `mapper` turns sample labels into class names for stratification; `notes`
    (if given) collects one line per decision made (what was carved, from what).
    """
    notes = notes if notes is not None else []
    declared = [None if ignore_split else normalise_split(r.meta.get("split"), r.name) for r in recs]
    with_split = [d is not None for d in declared]
    if any(with_split) and not all(with_split):
        missing = [r.name for r, d in zip(recs, declared) if d is None]
        raise RecordingError(f"{len(missing)} of {len(recs)} recordings have no split while the others do: "
                             f"{_listing(missing)}; give every file a split (folder train/ or test/, a split "
                             "column, '# split:'), pass the test files with --test, or --ignore-split to ignore "
                             "every split given")
    if ignore_split and any(r.meta.get("split") for r in recs):
        notes.append("split metadata ignored (--ignore-split): a seeded split is made")
    groups: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(recs):
        groups[group_key(r)].append(i)
    if not any(with_split) and len(groups) < 3:
        notes.append(f"only {len(groups)} recording group(s): each recording is cut in time 70/15/15 "
                     "(train/val/test); record more sessions for a held-out test")
        pieces = []
        for r in recs:
            cuts = [0, int(len(r) * 0.7), int(len(r) * 0.85), len(r)]
            pieces += [(r.slice(a, b, source=f"{r.name} samples {a}..{b}"), s) for s, a, b in zip(SPLITS, cuts, cuts[1:])]
        return pieces
    split_of = {g: declared[idx[0]] for g, idx in groups.items()}
    mixed = sorted(g for g, idx in groups.items() if len({declared[i] for i in idx}) > 1)
    if mixed:
        raise RecordingError(f"{_listing(mixed)} appear(s) in more than one split; a subject's or recording's "
                             "data must stay in one split (fix the split metadata or pass --ignore-split)")
    strata = {g: majority_class(recs[idx[0]], mapper) for g, idx in groups.items()}
    rng = np.random.default_rng(seed)
    for split, fraction in (("test", TEST_FRACTION), ("val", VAL_FRACTION)):
        if split in split_of.values():
            continue
        train_groups = {g: idx for g, idx in groups.items() if split_of[g] in (None, "train")}
        taken = _carve(train_groups, strata, fraction, rng)
        for g in taken:
            split_of[g] = split
        source = "train" if any(with_split) else "all recordings"
        if not taken and split == "val":
            notes.append("val split: too few recordings per class to hold any out whole; the last 15 % of each "
                         "train recording is val instead (a window never spans the cut; test stays untouched)")
            pairs = []
            for r in recs:
                s = split_of[group_key(r)] or "train"
                if s != "train":
                    pairs.append((r, s))
                    continue
                cut = int(round(len(r) * (1 - VAL_FRACTION)))
                pairs += [(r.slice(a, b, source=f"{r.name} samples {a}..{b}"), s2)
                          for a, b, s2 in ((0, cut, "train"), (cut, len(r), "val"))]
            return pairs
        unit = "subjects" if any(g.startswith("subject:") for g in train_groups) else "recordings"
        notes.append(f"{split} split carved from {source}: {len(taken)} of {len(train_groups)} {unit} "
                     "(whole, stratified by class, seeded)")
    return [(r, split_of[group_key(r)] or "train") for r in recs]


def check_classes(pairs: Sequence[tuple[Recording, str]], mapper: Callable[[str], str | None]) -> None:
    """Refuse fewer than 2 classes, or a class found in fewer than 2 recordings (naming them)."""
    per_class: dict[str, set[str]] = defaultdict(set)
    for rec, _ in pairs:
        for name in {mapper(str(s)) for s in set(rec.labels.tolist())} - {None}:
            per_class[name].add(rec.name)
    if len(per_class) < 2:
        raise RecordingError(f"need at least 2 classes to train a classifier, found {sorted(per_class) or 'none'}; "
                             "check the label column")
    lonely = sorted(c for c, r in per_class.items() if len(r) < 2)
    if lonely and len({rec.name for rec, _ in pairs}) >= 3:
        detail = "; ".join(f"{c!r} only in {next(iter(per_class[c]))}" for c in lonely[:6])
        raise RecordingError(f"class(es) with fewer than 2 recordings: {detail}; a class needs recordings in "
                             "train and test: record more, or merge/drop the class")
