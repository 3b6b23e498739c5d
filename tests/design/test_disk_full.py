"""A full disk mid-search: one clear line, and the study keeps every finished trial (SQLite stays intact)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import TINY, run_design


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MB tmpfs (mounting needs root, as `make test` runs in CI)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mnt = tmp_path / "disk"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)], check=True, timeout=30)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], timeout=30)


def test_full_disk_keeps_the_study(imu_set: Path, small_disk: Path) -> None:
    out = small_disk / "run"
    # feature MLPs only: every one of them fits 6 KB at width <= 12, so the first trials train whatever the
    # sampler draws (raw-window nets of long windows are over it)
    args = ["--data", imu_set, "--out", out, "--flash", "6KB", "--families", "feature_mlp", "--no-finalize", *TINY]
    first = run_design(*args, "--trials", "2")
    assert first.returncode == 0, first.stderr
    filler = small_disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    for chunk in (65536, 1):  # take every free byte
        try:
            while True:
                os.write(fd, b"\0" * chunk)
        except OSError:
            pass
    os.close(fd)
    second = run_design(*args, "--trials", "4")
    assert second.returncode == 2, second.stdout + second.stderr
    errors = [ln for ln in second.stderr.splitlines() if ln.startswith("edgeloop: error:")]
    assert len(errors) == 1 and "disk is full" in errors[0] and "Traceback" not in second.stderr, second.stderr
    filler.unlink()
    with sqlite3.connect(out / "study.db") as db:
        assert db.execute("pragma integrity_check").fetchone()[0] == "ok"
        done = db.execute("select count(*) from trials where state in ('COMPLETE', 'PRUNED')").fetchone()[0]
    assert done >= 2
    resumed = run_design(*args, "--status")
    assert resumed.returncode == 0 and "trials" in resumed.stdout, resumed.stderr
