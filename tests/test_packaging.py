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


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """edgeloop built as a wheel, once for the tests of this module."""
    dist = tmp_path_factory.mktemp("dist")
    build = _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(ROOT))
    assert build.returncode == 0, build.stderr
    (built,) = dist.glob("edgeloop-*.whl")
    return built


@pytest.mark.slow
def test_wheel_installs_and_imports(wheel: Path, tmp_path: Path) -> None:
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


CORE_DEPENDENCIES = ("numpy", "serial", "tqdm")
"""Import names of the core install's requirements (numpy, pyserial, tqdm in pyproject)."""


def _core_venv(wheel: Path, root: Path) -> Path:
    """A fresh venv holding edgeloop and its core requirements only; returns its bin folder.

    The requirements are linked from this interpreter's site-packages (offline, and the same
    versions the tests use); no extra's package is reachable from the venv.
    """
    import importlib

    venv = root / "venv"
    made = _run(sys.executable, "-m", "venv", "--without-pip", str(venv))
    assert made.returncode == 0, made.stderr
    (site,) = venv.glob("lib/python*/site-packages")
    for name in CORE_DEPENDENCIES:
        package = Path(importlib.import_module(name).__path__[0])
        for entry in package.parent.glob(f"{package.name}*"):  # the package, its .libs and its dist-info
            (site / entry.name).symlink_to(entry)
    install = _run(sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--no-deps",
                   "--no-index", "-q", str(wheel))
    assert install.returncode == 0, install.stderr
    return venv / "bin"


@pytest.mark.slow
def test_core_install_runs_core_commands_and_names_the_missing_extras(wheel: Path, tmp_path: Path) -> None:
    bin_dir = _core_venv(wheel, tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DISPLAY", "WAYLAND_DISPLAY")}
    env["QT_QPA_PLATFORM"] = "offscreen"  # a display would be there: only the missing extra may stop the GUI

    def edgeloop(*args: str) -> subprocess.CompletedProcess:
        return _run(str(bin_dir / "edgeloop"), *args, cwd=tmp_path, env=env)

    probe = ("import importlib.util as u, sys; import edgeloop.protocol, edgeloop.app.link.session; "
             "import edgeloop.app.live.pipeline, edgeloop.app.sessions.library; "
             "print([m for m in ('cv2', 'PySide6', 'tensorflow', 'flatbuffers', 'tflite') if u.find_spec(m)]); "
             "print(sorted(m for m in ('numpy', 'serial') if m in sys.modules))")
    imports = _run(str(bin_dir / "python"), "-c", probe, cwd=tmp_path, env=env)
    assert imports.returncode == 0, imports.stderr
    assert imports.stdout.split("\n")[:2] == ["[]", "['numpy', 'serial']"]  # no extra can be found

    assert edgeloop("--help").returncode == 0
    ports = edgeloop("ports")
    assert ports.returncode == 0 and "Traceback" not in ports.stderr
    recorded = edgeloop("record", "--source", "synthetic:imu", "--out", "rec", "--seconds", "0.3",
                        "--labels", "still,walk", "--label", "still", "--no-progress")
    assert recorded.returncode == 0 and "recorded" in recorded.stdout, recorded.stderr
    for argv, extra in ((["gui"], "gui"), (["train", "--task", "imu", "--data", "rec", "--out", "m"], "train"),
                        (["run", "--port", "loop://", "--source", "video:clip.mp4"], "media"),
                        (["compile", "m.tflite", "--out", "c"], "compile"),
                        (["analyze", "m.tflite"], "train"), (["analyze", "m.tflite", "--no-tflm"], "compile"),
                        (["validate", "--port", "loop://", "--tflite", "m.tflite", "--data", "rec"], "train")):
        result = edgeloop(*argv)
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        assert result.stderr.strip().endswith(f"pip install 'edgeloop[{extra}]'"), result.stderr
