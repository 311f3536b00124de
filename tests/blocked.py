"""Run Python code in a fresh interpreter where some top-level packages cannot be imported."""

from __future__ import annotations

import subprocess
import sys

_BLOCK = """
import sys, importlib.abc
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ImportError(name + " is blocked in this test")
sys.meta_path.insert(0, Block())
"""


def run_without(
    blocked: tuple[str, ...], code: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` with ``import`` of each package in ``blocked`` (and its submodules) failing."""
    prelude = _BLOCK.format(blocked=blocked)
    return subprocess.run(
        [sys.executable, "-c", prelude + code], capture_output=True, text=True, timeout=timeout
    )
