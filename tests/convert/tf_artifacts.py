"""The TensorFlow test models, built once per test session, and runs of this checkout's code in
the reference environment (TensorFlow and tf2onnx live only there)."""

from __future__ import annotations

import atexit
import functools
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from edgeloop.testing.hostile_imports import ImportOutcome
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
    """``python -m edgeloop import ARGS`` (this checkout) in the reference environment, measured
    like ``edgeloop.testing.hostile_imports.run_import``."""
    start = time.monotonic()
    env = {**refs_env(SRC), "COLUMNS": "400"}
    with subprocess.Popen(
        [str(refs_python()), "-m", "edgeloop", "import", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    ) as proc:
        assert proc.stderr is not None
        timer = threading.Timer(timeout_s, proc.kill)
        timer.start()
        try:
            stderr = proc.stderr.read()
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
    lines = [line for line in stderr.splitlines() if line.strip()]
    return ImportOutcome(proc.returncode, lines, usage.ru_maxrss / 1024, time.monotonic() - start)
