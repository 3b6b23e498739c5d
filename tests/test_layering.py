"""Layer rules: protocol and models stay independent, Qt lives only in edgeloop.app.gui,
and the firmware core and kernels include no board headers."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import edgeloop

ROOT = edgeloop.PACKAGE_ROOT
QT_MODULES = {"PySide6", "pyqtgraph", "shiboken6", "PyQt5", "PyQt6"}
PYTHON_LAYERS = ("app", "protocol", "models")


def _imported_top_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _python_modules() -> list[Path]:
    return [p for layer in PYTHON_LAYERS for p in (ROOT / layer).rglob("*.py")]


def test_qt_is_imported_only_by_gui_modules() -> None:
    gui = ROOT / "app" / "gui"
    offenders = [
        str(p.relative_to(ROOT))
        for p in _python_modules()
        if gui not in p.parents and _imported_top_modules(p) & QT_MODULES
    ]
    assert not offenders, f"Qt imported outside edgeloop.app.gui: {offenders}"


def test_layer_scan_sees_a_planted_qt_import(tmp_path: Path) -> None:
    planted = tmp_path / "bad.py"
    planted.write_text("def f():\n    from PySide6 import QtCore\n", encoding="utf-8")
    assert _imported_top_modules(planted) & QT_MODULES


def test_import_linter_contracts_hold() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" in result.stdout and "0 broken" in result.stdout, result.stdout


BOARD_INCLUDE = re.compile(r'#\s*include\s*[<"]([^>"]+)[>"]')
BOARD_HEADER_HINTS = ("stm32", "cmsis", "core_cm", "mps2", "nucleo", "ports/", "hal_")


def test_firmware_core_and_nn_include_no_board_headers() -> None:
    offenders = []
    for layer in ("core", "nn"):
        for src in (ROOT / "firmware" / layer).rglob("*.[ch]"):
            for header in BOARD_INCLUDE.findall(src.read_text(encoding="utf-8", errors="replace")):
                if any(hint in header.lower() for hint in BOARD_HEADER_HINTS):
                    offenders.append(f"{src.relative_to(ROOT)} includes {header}")
    assert not offenders, offenders
