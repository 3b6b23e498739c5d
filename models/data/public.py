"""Real public time-series sets that ship inside an installed PyPI package (nothing is downloaded).

sktime's wheel carries a few UEA/UCR archives as `.ts` files (the `test`
extra installs it). `bundled_uea()` finds them without importing sktime, so
`edgeloop dataset import` reads them like any user's files. The sets used in
edgeloop's tests, benchmark and docs/byod.md:

| name | channels | rate | cases (train/test) | classes | what |
|---|---|---|---|---|---|
| JapaneseVowels | 12 | 156.25 Hz | 270 / 370, 7-29 frames | 9 speakers | LPC cepstra of /ae/ (frame shift 6.4 ms) |
| BasicMotions | 6 | 10 Hz | 40 / 40, 100 samples | 4 | smartwatch accelerometer + gyroscope |
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from edgeloop import MissingExtraError, MissingFileError

PACKAGE = "sktime"
RATES_HZ = {"JapaneseVowels": 156.25, "BasicMotions": 10.0}
"""Sample rates from the sets' descriptions (the .ts format holds none)."""
RECIPES = {"JapaneseVowels": ["--family", "feature-mlp", "--features", "min,max,mean,rms", "--width", "16",
                               "--kernels", "small"]}
"""`edgeloop train --task timeseries` options of the real sets' models (bench/models.py, docs/byod.md)."""


def bundled_uea(name: str) -> tuple[Path, Path]:
    """(NAME_TRAIN.ts, NAME_TEST.ts) of a UEA/UCR set bundled with sktime; a clear error when absent."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise MissingExtraError(f"the {PACKAGE} package is not installed; `pip install edgeloop[test]` installs it "
                                f"(its wheel carries the {name} set)")
    folder = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / name
    train, test = folder / f"{name}_TRAIN.ts", folder / f"{name}_TEST.ts"
    if not (train.is_file() and test.is_file()):
        raise MissingFileError(f"{folder} holds no {name}_TRAIN.ts / {name}_TEST.ts; is {PACKAGE} too old?")
    return train, test
