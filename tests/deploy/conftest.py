"""Helpers for the deploy tests: reading generated Dockerfiles, finding tools."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest


def tool(name: str, how: str) -> str:
    """A command from the test venv or PATH; skip without it (fail under CI=true)."""
    path = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if path is None:
        message = f"{name} missing: {how}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def stages(dockerfile: str) -> list[list[str]]:
    """The Dockerfile's instructions (continuation lines joined, comments dropped), per stage."""
    out: list[list[str]] = []
    current = ""
    for raw in dockerfile.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        current += " " + line.rstrip("\\").strip() if current else line.rstrip("\\").strip()
        if raw.rstrip().endswith("\\"):
            continue
        if current.startswith("FROM "):
            out.append([])
        out[-1].append(current)
        current = ""
    return out
