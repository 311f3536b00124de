"""Heartbeats: what a device tells its hub every ``--heartbeat-s`` (``POST /api/v1/heartbeat``).

``heartbeat_body`` is pure: it turns what the device knows (``DeviceFacts`` from the
process that runs the model, ``SpoolFacts`` read from the spool, the sync counters)
into the JSON the hub stores. ``Heartbeats`` keeps what one interval needs to measure
frames/s and new capture drops. ``spool_facts`` reads the spool through its own
read-only SQLite connection, so any thread or process can call it beside capture and sync.

Health: ``error`` when something that should work has stopped (capture off, sync
stopped), ``degraded`` when work goes on but loses something (capture dropped frames in
the interval, free disk under ``LOW_DISK_BYTES``, spool files that fail their hash),
else ``ok``; ``reason`` says why.
"""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import edgeloop

LOW_DISK_BYTES = 256 * 2**20
DROP_COUNTERS = ("skipped:busy", "errors")  # capture counters that mean a frame was lost


@dataclass(frozen=True)
class DeviceFacts:
    """What the process that runs the model knows now (cumulative numbers).

    Attributes:
        model_name, model_version: of the bundle in use ("" when this process runs none).
        frames: frames seen so far (None: this process sees no frames, e.g. ``edgeloop sync``).
        capture_drops: frames capture lost so far (queue full, errors).
        problem: why something that should run has stopped (health ``error``), else None.
    """

    model_name: str = ""
    model_version: str = ""
    frames: int | None = None
    capture_drops: int = 0
    problem: str | None = None


@dataclass(frozen=True)
class SpoolFacts:
    """What the spool holds: live rows (not acked) and the free space of its filesystem."""

    backlog: int = 0
    backlog_bytes: int = 0
    free_disk_bytes: int | None = None
    model_name: str = ""  # of the newest sample: the model a separate sync process reports
    model_version: str = ""


def spool_facts(spool_dir: str | Path) -> SpoolFacts:
    """Read ``spool_dir`` (read-only; zeros for a spool that is not there yet)."""
    root = Path(spool_dir)
    free: int | None = None
    with contextlib.suppress(OSError):
        free = shutil.disk_usage(root).free
    db = root / "spool.db"
    if not db.is_file():
        return SpoolFacts(free_disk_bytes=free)
    uri = f"file:{quote(str(db.resolve()))}?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=5.0, check_same_thread=False)
        try:
            count, size = conn.execute(
                "SELECT count(*), coalesce(sum(bytes), 0) FROM samples WHERE state != 'acked'"
            ).fetchone()
            newest = conn.execute(
                "SELECT model_name, model_version FROM samples ORDER BY seq DESC LIMIT 1"
            ).fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return SpoolFacts(free_disk_bytes=free)
    name, version = newest if newest else ("", "")
    return SpoolFacts(int(count), int(size), free, str(name), str(version))


def capture_drops(counters: Mapping[str, int]) -> int:
    """Frames a capture's counters say were lost (``skipped:busy`` + ``errors``)."""
    return sum(int(counters.get(name, 0)) for name in DROP_COUNTERS)


def heartbeat_body(
    facts: DeviceFacts,
    spool: SpoolFacts,
    *,
    fps: float | None,
    new_drops: int,
    sync: Mapping[str, Any],
    uptime_s: float,
) -> dict[str, Any]:
    """The JSON body of ``POST /api/v1/heartbeat`` (the hub's named fields first, then the rest)."""
    health, reason = health_of(facts, spool, new_drops, int(sync.get("corrupt", 0)))
    return {
        "model_version": facts.model_version or spool.model_version,
        "health": health,
        "fps": None if fps is None else round(fps, 2),
        "backlog": spool.backlog,
        "free_disk_bytes": spool.free_disk_bytes,
        "model_name": facts.model_name or spool.model_name,
        "reason": reason,
        "backlog_bytes": spool.backlog_bytes,
        "capture_drops": facts.capture_drops,
        "sync": dict(sync),
        "edgeloop_version": edgeloop.__version__,
        "uptime_s": round(uptime_s, 1),
    }


def health_of(facts: DeviceFacts, spool: SpoolFacts, new_drops: int, corrupt: int) -> tuple[str, str]:
    """("ok" | "degraded" | "error", why)."""
    if facts.problem:
        return "error", facts.problem
    reasons = []
    if new_drops:
        reasons.append(f"capture dropped {new_drops} frame(s) since the last heartbeat")
    if spool.free_disk_bytes is not None and spool.free_disk_bytes < LOW_DISK_BYTES:
        reasons.append(f"{spool.free_disk_bytes / 2**20:.0f} MiB free on the spool's disk")
    if corrupt:
        reasons.append(f"{corrupt} spool file(s) do not match their sha256")
    return ("degraded", "; ".join(reasons)) if reasons else ("ok", "")


class Heartbeats:
    """Builds one heartbeat per interval: frames/s and new drops since the previous one.

    Args:
        spool_dir: the spool whose backlog and disk are reported.
        facts: what the model's process knows (default: nothing, e.g. ``edgeloop sync``).
        sync: the sync counters (``SyncStats.as_dict``) and a stop reason, if sync stopped.
        clock: monotonic seconds (a fake one in tests).
    """

    def __init__(
        self,
        spool_dir: str | Path,
        facts: Callable[[], DeviceFacts] = DeviceFacts,
        sync: Callable[[], tuple[Mapping[str, Any], str | None]] = lambda: ({}, None),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.spool_dir, self.facts, self.sync, self.clock = Path(spool_dir), facts, sync, clock
        self.started_s = clock()
        self._frames: tuple[int, float] | None = None
        self._drops = 0

    def next(self) -> dict[str, Any]:
        """The body to send now."""
        facts, now = self.facts(), self.clock()
        counters, stopped = self.sync()
        if stopped and not facts.problem:
            facts = DeviceFacts(
                facts.model_name, facts.model_version, facts.frames, facts.capture_drops, f"sync: {stopped}"
            )
        fps = None
        if facts.frames is not None:
            last_frames, last_s = self._frames or (0, self.started_s)  # frames count from the start
            if now > last_s:
                fps = max(0, facts.frames - last_frames) / (now - last_s)
            self._frames = (facts.frames, now)
        new_drops = max(0, facts.capture_drops - self._drops)
        self._drops = facts.capture_drops
        spool = spool_facts(self.spool_dir)
        return heartbeat_body(
            facts, spool, fps=fps, new_drops=new_drops, sync=counters, uptime_s=now - self.started_s
        )
