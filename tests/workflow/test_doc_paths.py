"""Every repository path the docs name exists (a reader copies them into a shell)."""

from __future__ import annotations

import re

import edgeloop

ROOT = edgeloop.PACKAGE_ROOT
# Paths into what the repository ships (not folders a command creates, such as models/bottles_v2).
PATH = re.compile(r"(?<![\w/.-])(?:\$PWD/)?((?:models/zoo|firmware|protocol|bench|docs)/[\w./-]*\w)")


def test_repository_paths_in_the_docs_exist() -> None:
    missing = []
    for doc in [*(ROOT / "docs").glob("*.md"), ROOT / "README.md"]:
        for number, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), 1):
            for path in PATH.findall(line):
                if any(ch in path for ch in "*<>{}") or "NAME" in path or "build/" in path:
                    continue  # patterns and placeholders, and build outputs that do not exist before a build
                if not (ROOT / path).exists():
                    missing.append(f"{doc.name}:{number}: {path}")
    assert not missing, "docs name paths that do not exist:\n" + "\n".join(missing)
