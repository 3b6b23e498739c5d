"""Output folders of the data set generators."""

from __future__ import annotations

from pathlib import Path

from edgeloop import ExistingFileError, os_errors_explained


def require_empty_folder(root: Path) -> None:
    """Create `root`, refusing a non-empty folder: stale files from another run would mix into the set."""
    if root.exists() and any(root.iterdir()):
        raise ExistingFileError(f"{root} is not empty; write a data set into a new or empty folder")
    with os_errors_explained(f"create the data set folder {root}"):
        root.mkdir(parents=True, exist_ok=True)
