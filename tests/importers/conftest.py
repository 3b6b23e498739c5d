"""Fixtures of the importer tests: one folder with a model file of every source format (built once)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# appended, not prepended: tests/compiler imports its own `conftest` by name from the front of sys.path
sys.path.append(str(Path(__file__).resolve().parent))

from source_models import build_sources  # noqa: E402


@pytest.fixture(scope="session")
def sources(tmp_path_factory) -> dict[str, Path]:
    """{format: path} of the source models, and 'calib' / 'calib_nchw' .npz files."""
    return build_sources(tmp_path_factory.mktemp("import-sources"))
