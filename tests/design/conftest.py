"""Fixtures of the design tests: a small synthetic IMU set and a runner for the `edgeloop design` CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# Tiny searches: few trials, 2 folds, 2 epochs, narrow nets; enough to exercise every step.
TINY = ["--folds", "2", "--epochs", "2", "--seeds", "2", "--finalists", "2", "--max-width", "12"]


@pytest.fixture(scope="session")
def imu_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6 synthetic activity subjects (train 3, val 1, test 2)."""
    out = tmp_path_factory.mktemp("design-data") / "imu6"
    subprocess.run([sys.executable, "-m", "edgeloop", "dataset", "synth", "imu", "--task", "activity",
                    "--subjects", "6", "--out", str(out), "--no-progress"], check=True, timeout=120)
    return out


@pytest.fixture(scope="session")
def short_imu_set(imu_set: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`imu_set` with each activity cut to its first 6 s (600 samples): the same subjects, splits and classes
    at a fifth of the windows, for tests that train every family."""
    out = tmp_path_factory.mktemp("design-data-short") / "imu6short"
    keep = 600
    for src in imu_set.rglob("*"):
        dst = out / src.relative_to(imu_set)
        if src.is_dir():
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.suffix != ".csv":
            dst.write_bytes(src.read_bytes())
            continue
        lines = src.read_text(encoding="utf-8").splitlines()
        head = [ln for ln in lines if ln.startswith("#")]
        columns, rows = lines[len(head)], lines[len(head) + 1:]
        kept, last, run = [], None, 0
        for row in rows:
            label = row.rsplit(",", 1)[1]
            run = run + 1 if label == last else 1
            last = label
            if run <= keep:
                t = f"{len(kept) / 100:.6f}"  # 100 Hz, renumbered: the cut leaves no gap in time
                kept.append(t + row[row.index(","):])
        dst.write_text("\n".join([*head, columns, *kept]) + "\n", encoding="utf-8")
    return out


@pytest.fixture(scope="session")
def other_imu_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Another synthetic activity set (a different seed): other data for the same study name."""
    out = tmp_path_factory.mktemp("design-data2") / "imu5"
    subprocess.run([sys.executable, "-m", "edgeloop", "dataset", "synth", "imu", "--task", "activity",
                    "--subjects", "5", "--seed", "7", "--out", str(out), "--no-progress"], check=True, timeout=120)
    return out


def design_cmd(*args: str | os.PathLike[str]) -> list[str]:
    return [sys.executable, "-m", "edgeloop", "design", *map(str, args)]


def run_design(*args: str | os.PathLike[str], timeout: float = 400) -> subprocess.CompletedProcess[str]:
    """Run `edgeloop design ARGS` in a child process; returns the completed process (text output)."""
    return subprocess.run(design_cmd(*args), capture_output=True, text=True, timeout=timeout)


def design_tiny_images(data: Path, out: Path, family: str, max_width: int, *extra: str | os.PathLike[str]
                       ) -> tuple[dict, str]:
    """`edgeloop design` of one image family through finalize, 2 trials of 2 folds x 1 epoch on tiny images
    (16 px at most), with `extra` options; returns design.json and what the run printed. Distillation needs a
    larger, more accurate trial than the chosen one, which two trials may not give: it is measured in
    test_distill_export and the time-series tests."""
    proc = run_design("--data", data, "--out", out, "--flash", "64KB", "--trials", "2", "--epochs", "1",
                      "--seeds", "1", "--folds", "2", "--finalists", "1", "--max-side", "16", "--max-width",
                      str(max_width), "--families", family, "--no-distill", *extra)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # TensorFlow's routine native log lines (training, conversion, sizing) are filtered out (app/native_logs.py)
    assert "I0000" not in proc.stderr and "NodeDef mentions" not in proc.stderr, proc.stderr
    return json.loads((out / "design.json").read_text()), proc.stdout


def synth_bottles(out: Path, n: int, size: int) -> Path:
    """`n` synthetic size×size bottle images over whole bins (--margin 0) written to `out`."""
    subprocess.run([sys.executable, "-m", "edgeloop", "dataset", "synth", "bottles", "--n", str(n), "--size",
                    str(size), "--margin", "0", "--out", str(out), "--no-progress"], check=True, timeout=180)
    return out


@pytest.fixture(scope="session")
def tiny_bottles(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """120 synthetic 16×16 bottle images over whole bins: seconds of training per model."""
    return synth_bottles(tmp_path_factory.mktemp("design-images") / "bottles16", 120, 16)


@pytest.fixture(scope="session")
def bottles_1000(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1,000 synthetic 24×24 bottle images over whole bins: enough for a dense net to show it learns."""
    return synth_bottles(tmp_path_factory.mktemp("design-images") / "bottles24", 1000, 24)


# An image candidate that takes every non-default choice of the 2-D CNN space (space._image_cnn's Optuna values).
IMAGE_CHOICES = {"input_size": 16, "color": "gray", "width": 4, "stem_stride": 1, "depth": 2, "cap_growth": 2,
                 "pool": "stride", "head": "gap", "block": "separable"}


@pytest.fixture(scope="session")
def tiny_image_model(tiny_bottles: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple:
    """(task data, candidate params, its `edgeloop train` request, the training report): the IMAGE_CHOICES candidate
    trained by its recipe (1 epoch) into a temp folder."""
    import optuna

    from edgeloop.models.design import adapter
    from edgeloop.models.design.space import SpaceContext, suggest

    td = adapter.load_task([tiny_bottles])
    _, params = suggest(optuna.trial.FixedTrial(IMAGE_CHOICES), ("image_cnn",), SpaceContext("images", max_side=32))
    req = adapter.train_request(td, "image_cnn", params, tmp_path_factory.mktemp("image-model") / "m", seed=0,
                                epochs=1, name="m")
    return td, params, req, adapter.refit(req)


# A small 1-D CNN candidate on the short IMU set (1 s windows).
CNN1D_PARAMS = {"window": 100, "hop": 50, "width": 4, "depth": 2}


@pytest.fixture(scope="session")
def tiny_cnn1d_model(short_imu_set: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple:
    """(task data, candidate params, its `edgeloop train` request, the training report): a CNN1D_PARAMS 1-D CNN
    trained by its recipe (2 epochs) into a temp folder."""
    from edgeloop.models.design import adapter

    td = adapter.load_task([short_imu_set])
    req = adapter.train_request(td, "cnn1d", CNN1D_PARAMS, tmp_path_factory.mktemp("cnn1d-model") / "m", seed=0,
                                epochs=2, name="m")
    return td, dict(CNN1D_PARAMS), req, adapter.refit(req)
