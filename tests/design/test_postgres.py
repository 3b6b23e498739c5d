"""Two `edgeloop design` workers on one PostgreSQL study; one is killed mid-trial and the study stays whole."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import TINY, design_cmd, run_design

PG_BIN = Path("/usr/lib/postgresql/15/bin")
GRACE_S = 4


def _as_postgres(cmd: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run its tools as the postgres user then."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL 15 cluster on loopback, with database `design`."""
    if not (PG_BIN / "initdb").exists():
        pytest.fail("PostgreSQL 15 is not installed (make test installs Debian's postgresql)")
    tmp = Path(tempfile.mkdtemp(prefix="edgeloop-pg-"))
    if os.geteuid() == 0:
        shutil.chown(tmp, "postgres", "postgres")
    data, port = tmp / "data", _free_port()
    subprocess.run(_as_postgres([str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"]),
                   check=True, capture_output=True, timeout=120)
    subprocess.run(_as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(tmp / "log"), "-w", "-o",
                                 f"-p {port} -c listen_addresses=127.0.0.1 -k {tmp}", "start"]),
                   check=True, capture_output=True, timeout=120)
    try:
        subprocess.run(_as_postgres([str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres",
                                     "design"]), check=True, capture_output=True, timeout=60)
        yield f"postgresql://postgres@127.0.0.1:{port}/design"
    finally:
        subprocess.run(_as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
                       capture_output=True, timeout=60)
        shutil.rmtree(tmp, ignore_errors=True)


def _running_trial_of(url: str, pid: int) -> int | None:
    import psycopg

    with psycopg.connect(url) as con:
        try:
            row = con.execute(
                "select t.number from trials t join trial_user_attributes a on a.trial_id = t.trial_id "
                "where t.state = 'RUNNING' and a.key = 'worker' and a.value_json like %s",
                (f'%:{pid}"',)).fetchone()
        except psycopg.errors.UndefinedTable:  # the first worker has not created Optuna's tables yet
            return None
    return row[0] if row else None


def test_two_workers_one_killed_mid_trial(postgres_url: str, imu_set: Path, tmp_path: Path) -> None:
    import optuna

    worker = lambda name: subprocess.Popen(  # noqa: E731
        design_cmd("--data", imu_set, "--out", tmp_path / name, "--storage", postgres_url, "--study", "shared",
                   "--trials", "5", "--heartbeat", "1", "--grace", str(GRACE_S), *TINY),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    a = worker("a")
    time.sleep(3)
    b = worker("b")
    killed_trial = None
    deadline = time.monotonic() + 300
    while killed_trial is None and time.monotonic() < deadline and a.poll() is None:
        killed_trial = _running_trial_of(postgres_url, a.pid)
        if killed_trial is None:
            time.sleep(0.3)
    assert killed_trial is not None, "worker a never ran a trial"
    a.send_signal(signal.SIGKILL)
    a.wait(timeout=30)
    out, err = b.communicate(timeout=600)
    assert b.returncode == 0, err[-3000:]
    assert "does not finalize" in out
    time.sleep(GRACE_S + 1)  # let the dead worker's heartbeat go stale, then any reader fails it
    status = run_design("--data", imu_set, "--out", tmp_path / "s", "--storage", postgres_url, "--study", "shared",
                        "--status")
    assert status.returncode == 0, status.stderr
    study = optuna.load_study(study_name="shared", storage=postgres_url.replace("postgresql://",
                                                                                 "postgresql+psycopg://"))
    trials = study.get_trials(deepcopy=False)
    by_number = {t.number: t for t in trials}
    assert by_number[killed_trial].state == optuna.trial.TrialState.FAIL
    assert not [t for t in trials if t.state == optuna.trial.TrialState.RUNNING]
    finished = [t for t in trials if t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)]
    assert len(finished) >= 5
    workers = {t.user_attrs["worker"] for t in finished}
    assert len(workers) >= 1
    for t in finished:  # every finished trial is whole: sizes, and values when complete
        assert "deploy" in t.user_attrs and t.user_attrs["status"] in ("trained", "rejected", "stopped")
        if t.state == optuna.trial.TrialState.COMPLETE:
            assert t.values is not None and len(t.values) == 2
    assert "failed" in status.stdout or "1 failed" in status.stdout
