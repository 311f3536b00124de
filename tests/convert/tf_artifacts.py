"""The TensorFlow test models, built once per test session, and runs of this checkout's code in
the reference environment (TensorFlow and tf2onnx live only there)."""

from __future__ import annotations

import atexit
import functools
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

from edgeloop.testing.hostile_imports import ImportOutcome, run_import
from edgeloop.testing.refs import refs_python
from edgeloop.testing.tf_models import build_tf_models, refs_env

SRC = Path(__file__).resolve().parents[2] / "src"


@functools.cache
def tf_models() -> Path:
    """The folder of ``edgeloop.testing.tf_models`` artifacts (built on first use, ~5 s)."""
    folder = Path(tempfile.mkdtemp(prefix="edgeloop-tf-models-"))
    atexit.register(shutil.rmtree, folder, True)
    return build_tf_models(folder)


def refs_run(script: str, *args: str) -> str:
    """Run ``script`` with this checkout's ``edgeloop`` in the reference environment; its stdout."""
    result = subprocess.run(
        [str(refs_python()), "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=600,
        env=refs_env(SRC),
    )
    if result.returncode != 0:
        raise AssertionError(f"reference script failed ({result.returncode}): {result.stderr[-3000:]}")
    return result.stdout


def refs_json(script: str, *args: str) -> dict[str, object]:
    """``refs_run`` of a script whose last stdout line is JSON."""
    data: dict[str, object] = json.loads(refs_run(script, *args).strip().splitlines()[-1])
    return data


def refs_import(args: list[str], timeout_s: float = 300) -> ImportOutcome:
    """``edgeloop import ARGS`` (this checkout) in the reference environment, measured by
    ``edgeloop.testing.hostile_imports.run_import`` (the child's own peak memory)."""
    return run_import(args, timeout_s, python=refs_python(), base_env=refs_env(SRC))
