"""The reference environment (``.venv-refs``, made by ``make test``): TensorFlow, tf2onnx and
OpenCV 4's Darknet and Caffe readers, which edgeloop's importers are checked against.

Tests run small scripts there with ``run_refs`` and exchange arrays through ``.npz`` files.
Without it a test skips, with the command that makes it; under ``CI=true`` it fails instead.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from edgeloop.testing.components import skip_missing

REFS_DIR = Path(__file__).resolve().parents[3] / ".venv-refs"


def refs_python() -> Path:
    """The reference environment's interpreter (skips, or fails under CI, when it is missing)."""
    python = REFS_DIR / "bin" / "python"
    if not (REFS_DIR / ".installed").is_file() or not python.is_file():
        skip_missing("the reference environment .venv-refs is missing: run `make .venv-refs/.installed`")
    return python


def refs_bin(name: str) -> Path:
    """A console script of the reference environment (e.g. ``edgeloop`` with TensorFlow beside it)."""
    return refs_python().parent / name


def run_refs(script: str, *args: str, timeout_s: float = 600) -> str:
    """Run Python code in the reference environment; its stdout. Raises with its stderr on failure."""
    result = subprocess.run(
        [str(refs_python()), "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env={"TF_CPP_MIN_LOG_LEVEL": "2", "PATH": "/usr/bin:/bin", "CUDA_VISIBLE_DEVICES": ""},
    )
    if result.returncode != 0:
        raise RuntimeError(f"reference script failed ({result.returncode}): {result.stderr[-2000:]}")
    return result.stdout
