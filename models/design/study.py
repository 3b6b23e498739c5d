"""The design study's storage: an SQLite file in --out by default, or any Optuna RDB URL (PostgreSQL)
shared by workers on many machines.

- Every trial of a study runs with a heartbeat: a worker that dies mid-trial
  stops beating, and the next worker to start a trial marks it FAIL once the
  grace period has passed (Optuna's stale-trial check). Finished trials are
  rows in the database and are never touched again.
- A study remembers what it was run on (data fingerprint, task, budgets);
  opening it for other data is refused unless `resume_anyway`.
- Storage errors become one-line messages: the host that could not be
  reached, the driver package to install, a full disk.
"""

from __future__ import annotations

import os
import socket
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from edgeloop import InputError, require

DIRECTIONS = ("maximize", "minimize")  # cross-validated accuracy, flash bytes
STUDY_FILE = "study.db"
HEARTBEAT_S = 10
GRACE_S = 30


class StudyError(InputError):
    """A study cannot be opened or used as asked; the message says what to do."""


@dataclass(frozen=True)
class StudyIdentity:
    """What a study was started on: a different identity means different data or a different question."""

    task: str
    fingerprint: str
    labels: tuple[str, ...]

    def to_attrs(self) -> dict[str, Any]:
        return {"task": self.task, "data_fingerprint": self.fingerprint, "labels": list(self.labels)}


def storage_url(storage: str | None, out: Path) -> str:
    """The SQLAlchemy URL: --storage as given (postgresql:// is routed to psycopg 3), else SQLite in --out."""
    if not storage:
        return f"sqlite:///{(Path(out) / STUDY_FILE).resolve()}"
    if storage.startswith("postgresql://") or storage.startswith("postgres://"):
        # SQLAlchemy's default PostgreSQL driver is psycopg2; the [design] extra installs psycopg 3.
        return "postgresql+psycopg://" + storage.split("://", 1)[1]
    return storage


def _describe_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme.startswith("sqlite"):
        return url.split("///", 1)[-1]
    host = parts.hostname or "localhost"
    return f"{host}:{parts.port}" if parts.port else host


def _driver_hint(url: str) -> str:
    scheme = urlsplit(url).scheme
    if "postgres" in scheme:
        return "pip install 'edgeloop[design]' (psycopg)"
    if "mysql" in scheme:
        return "pip install pymysql"
    return "the SQLAlchemy driver for this URL"


def open_storage(url: str, heartbeat_s: int = HEARTBEAT_S, grace_s: int = GRACE_S) -> Any:
    """An Optuna RDBStorage with heartbeats; unreachable servers and missing drivers become StudyError."""
    optuna = require("optuna")
    import sqlalchemy.exc

    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        kwargs = {"connect_args": {"timeout": 60}}  # two local workers wait for each other's writes
    else:
        kwargs = {"pool_pre_ping": True, "connect_args": {"connect_timeout": 10}}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # heartbeats are stable enough
            return optuna.storages.RDBStorage(url, engine_kwargs=kwargs, heartbeat_interval=heartbeat_s,
                                              grace_period=grace_s)
    except ModuleNotFoundError as exc:
        raise StudyError(f"no database driver for {urlsplit(url).scheme} ({exc.name} is missing): "
                         f"{_driver_hint(url)}") from None
    except sqlalchemy.exc.OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc).splitlines()[0]
        if "disk" in reason.lower() or "full" in reason.lower():
            raise StudyError(f"the study database {_describe_url(url)} cannot be written: {reason}; "
                             "free disk space and run the same command again (finished trials are kept)") from None
        raise StudyError(f"cannot reach the study database at {_describe_url(url)}: {reason}. Check that the "
                         f"server runs and accepts connections; the driver is {_driver_hint(url)}") from None
    except sqlalchemy.exc.ArgumentError as exc:
        raise StudyError(f"--storage {url!r} is not a database URL ({exc}); e.g. "
                         "postgresql://user:password@host:5432/dbname") from None


def open_study(storage: Any, name: str, identity: StudyIdentity, *, sampler: Any = None,
               resume_anyway: bool = False, create: bool = True) -> Any:
    """Load or create study `name`; refuse one that was run on other data unless `resume_anyway`."""
    optuna = require("optuna")

    existing = {s.study_name for s in optuna.study.get_all_study_summaries(storage, include_best_trial=False)}
    if name not in existing and not create:
        raise StudyError(f"there is no study {name!r} in this storage (studies: {', '.join(sorted(existing)) or 'none'})")
    study = optuna.create_study(storage=storage, study_name=name, directions=list(DIRECTIONS), sampler=sampler,
                                load_if_exists=True)
    attrs = study.user_attrs
    if "data_fingerprint" not in attrs:
        for key, value in identity.to_attrs().items():
            study.set_user_attr(key, value)
        return study
    theirs = (attrs.get("task"), attrs.get("data_fingerprint"), tuple(attrs.get("labels", ())))
    if theirs != (identity.task, identity.fingerprint, identity.labels) and not resume_anyway:
        raise StudyError(f"study {name!r} holds a search on other data (task {theirs[0]}, data {theirs[1]}, "
                         f"classes {list(theirs[2])}; this run: task {identity.task}, data {identity.fingerprint}, "
                         f"classes {list(identity.labels)}): pick another --study name, or pass --resume-anyway "
                         "to add these trials to it")
    return study


def worker_id() -> str:
    """host:pid of this process, recorded on each trial it runs."""
    return f"{socket.gethostname()}:{os.getpid()}"
