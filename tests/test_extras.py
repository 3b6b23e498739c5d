"""Optional packages are imported through edgeloop.require, which names the extra and its pip line."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import edgeloop
from edgeloop import EXTRA_OF, EdgeloopError, MissingExtraError, pip_line, require

ROOT = edgeloop.PACKAGE_ROOT


def test_missing_module_names_the_extra_and_the_pip_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(EXTRA_OF, "edgeloop_absent_pkg", ("gui", "The absent package"))
    with pytest.raises(MissingExtraError) as caught:
        require("edgeloop_absent_pkg.sub", needed_for="the live GUI")
    assert str(caught.value) == ("The absent package, needed for the live GUI, is not installed; it comes with "
                                 "the [gui] extra: pip install 'edgeloop[gui]'")
    assert isinstance(caught.value, EdgeloopError) and isinstance(caught.value, ImportError)
    assert pip_line("train") == "pip install 'edgeloop[train]'"


def test_a_broken_dependency_of_an_installed_package_is_not_a_missing_extra(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "edgeloop_broken_pkg.py").write_text("import edgeloop_not_there_either\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(EXTRA_OF, "edgeloop_broken_pkg", ("gui", "broken"))
    with pytest.raises(ModuleNotFoundError) as caught:
        require("edgeloop_broken_pkg")
    assert not isinstance(caught.value, MissingExtraError) and caught.value.name == "edgeloop_not_there_either"
    sys.modules.pop("edgeloop_broken_pkg", None)


def test_installed_module_is_returned() -> None:
    assert require("cv2") is sys.modules["cv2"]
    with pytest.raises(KeyError, match="not an optional module"):
        require("json")


def _plain_optional_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                 else [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
        found += [f"{path.relative_to(ROOT)}:{node.lineno}: {n}" for n in names if n.partition(".")[0] in EXTRA_OF]
    return found


def test_optional_packages_are_imported_only_through_require() -> None:
    """Outside the Qt package, a plain `import cv2` (or tensorflow, keras...) would bypass the pip-line message."""
    files = [p for top in ("app", "models", "protocol") for p in (ROOT / top).rglob("*.py")
             if not p.is_relative_to(ROOT / "app" / "gui")]
    offenders = [hit for p in files for hit in _plain_optional_imports(p)]
    assert offenders == []
