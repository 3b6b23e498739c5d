"""edgeloop imports from the editable install and from a plain wheel, and its CLI entry points work."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import edgeloop

ROOT = edgeloop.PACKAGE_ROOT
SUBPACKAGES = ("edgeloop.app", "edgeloop.app.cli", "edgeloop.protocol", "edgeloop.protocol.vectors",
               "edgeloop.models")


def _run(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=300, **kwargs)


def test_editable_install_maps_the_repository_root() -> None:
    assert (ROOT / "protocol" / "SPEC.md").is_file()
    assert edgeloop.FIRMWARE_DIR == ROOT / "firmware"


@pytest.mark.parametrize("argv", [["edgeloop"], [sys.executable, "-m", "edgeloop"]], ids=["script", "module"])
def test_version_from_both_entry_points(argv: list[str], tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("edgeloop")
    cmd = [str(script)] if argv == ["edgeloop"] else argv
    result = _run(*cmd, "--version", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"edgeloop {edgeloop.__version__}"


def test_cli_without_command_prints_help_and_fails() -> None:
    result = _run(sys.executable, "-m", "edgeloop")
    assert result.returncode == 2 and "usage: edgeloop" in result.stdout


def test_every_python_package_directory_is_packaged() -> None:
    from setuptools import find_packages

    found = set(find_packages(str(ROOT), include=["app*", "protocol*", "models*"]))
    dirs = {
        str(p.parent.relative_to(ROOT)).replace(os.sep, ".")
        for top in ("app", "protocol", "models") for p in (ROOT / top).rglob("__init__.py")
    }
    assert dirs == found, "a directory with Python modules lacks __init__.py (it would be left out of the wheel)"


@pytest.mark.slow
def test_wheel_installs_and_imports(tmp_path: Path) -> None:
    build = _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"), str(ROOT))
    assert build.returncode == 0, build.stderr
    (wheel,) = (tmp_path / "dist").glob("edgeloop-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "edgeloop/protocol/SPEC.md" in names and "edgeloop/protocol/vectors/vectors.json" in names
    assert "edgeloop/firmware/core/port.h" in names and "edgeloop/firmware/nn/nn_model.h" in names
    assert not any(n.startswith(("edgeloop/tests/", "edgeloop/bench/", "edgeloop/.venv")) for n in names)

    target = tmp_path / "site"
    install = _run(sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel))
    assert install.returncode == 0, install.stderr
    env = {**os.environ, "PYTHONPATH": str(target)}
    probe = ("import edgeloop, importlib; [importlib.import_module(m) for m in %r]; "
             "print(edgeloop.__file__); print((edgeloop.FIRMWARE_DIR / 'core' / 'port.h').is_file())") % (SUBPACKAGES,)
    result = _run(sys.executable, "-c", probe, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    location, has_firmware = result.stdout.split()
    assert Path(location).is_relative_to(target) and has_firmware == "True"
    cli = _run(sys.executable, "-m", "edgeloop", "--version", cwd=tmp_path, env=env)
    assert cli.returncode == 0 and cli.stdout.startswith("edgeloop ")
