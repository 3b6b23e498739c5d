"""`edgeloop firmware flash --method openocd` passes the image path as one Tcl word, whatever it contains."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edgeloop.app.commands import firmware as firmware_cmd

# Paths that break an unquoted `program PATH verify reset exit`: spaces split it, brackets run
# commands, dollars substitute variables, braces and quotes unbalance it.
PATHS = ["plain/edgeloop.elf", "with space/edge loop.elf", "br[ack]ets/$HOME{x}/a\"b\\c.elf"]


def _tcl_words(command: str) -> list[str]:
    """Split a Tcl command the way Tcl does for these words: double quotes group, backslash escapes."""
    words, word, quoted, i = [], "", False, 0
    while i < len(command):
        ch = command[i]
        if ch == "\\":
            word += command[i + 1]
            i += 2
            continue
        if ch == '"':
            quoted = not quoted
        elif ch == " " and not quoted:
            words.append(word)
            word = ""
        else:
            assert quoted or ch not in "[]$", f"{ch!r} would be substituted by Tcl in {command!r}"
            word += ch
        i += 1
    return words + [word]


@pytest.mark.parametrize("rel", PATHS)
def test_openocd_gets_the_elf_path_as_one_tcl_word(rel: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    elf = tmp_path / rel
    elf.parent.mkdir(parents=True)
    elf.write_bytes(b"\x7fELF")
    tools = tmp_path / "bin"
    tools.mkdir()
    log = tmp_path / "argv.txt"
    fake = tools / "openocd"
    fake.write_text(f"#!{sys.executable}\nimport sys\nopen({str(log)!r}, 'w').write(sys.argv[-1])\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tools) + os.pathsep + os.environ.get("PATH", ""))
    monkeypatch.setattr(shutil, "which", lambda name: str(fake) if name == "openocd" else None)
    assert "openocd" in firmware_cmd.flash(elf, elf.with_suffix(".bin"), "openocd")
    words = _tcl_words(log.read_text())
    assert words == ["program", elf.as_posix(), "verify", "reset", "exit"]


@pytest.mark.skipif(shutil.which("tclsh") is None, reason="tclsh not installed")
def test_tcl_itself_reads_the_quoted_path_back(tmp_path: Path) -> None:
    for rel in PATHS:
        path = (tmp_path / rel).as_posix()
        out = subprocess.run(["tclsh"], input=f"puts -nonewline {firmware_cmd.tcl_word(path)}\n", capture_output=True,
                             text=True, timeout=30).stdout
        assert out == path
