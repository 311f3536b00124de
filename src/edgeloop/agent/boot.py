"""Crash-at-start protection: a version not yet committed that keeps crashing its process is reverted.

``note_start`` is called once at start by the agent and by ``serve --models`` /
``run --models``. While ``current`` is a version the agent switched to but has
not committed (state ``switched`` or ``window`` naming that key), every start
leaves one fsynced file under ``boots/<key>/``; the start that makes a role's
count exceed ``max_crashes`` points ``current`` back at the previous version,
records ``rolled_back`` with the reason and returns it. A commit deletes the
files.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from edgeloop.agent.models import UNCOMMITTED, ModelsDir
from edgeloop.signing.storage import fsync_dir


def _record_start(folder: Path, role: str) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{role}-{os.getpid()}-{time.time_ns()}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    fsync_dir(folder)
    return sum(1 for p in folder.iterdir() if p.name.startswith(f"{role}-"))


def note_start(models_dir: Path, role: str, max_crashes: int = 3) -> str | None:
    """Count this start of ``role`` against an uncommitted ``current``; revert past ``max_crashes``.

    Returns the reason when it reverted, else None.
    """
    models = ModelsDir(models_dir)
    if not models.root.is_dir():
        return None
    with models.lock():
        record = models.read_state()
        current = models.current_key()
        if current is None or record.get("state") not in UNCOMMITTED or record.get("key") != current:
            return None
        starts = _record_start(models.boots / current, role)
        if starts <= max_crashes:
            return None
        previous = record.get("previous_key") or models.previous_key()
        if not previous or previous == current or not models.version_path(previous).is_dir():
            return None  # nothing complete to go back to: keep the only model there is
        models.revert(previous)
        reason = (
            f"crashed {starts - 1} times at start ({role} started {starts} times without a commit, "
            f"limit {max_crashes}): reverted {current} to {previous}"
        )
        models.finish_state("rolled_back", reason, report_pending=True)  # the agent sends it
        shutil.rmtree(models.boots / current, ignore_errors=True)
        return reason


def clear_starts(models_dir: Path, key: str) -> None:
    """Forget the starts counted for ``key`` (on commit)."""
    shutil.rmtree(ModelsDir(models_dir).boots / key, ignore_errors=True)
