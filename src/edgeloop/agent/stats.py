"""What serving processes report about the versions they serve: ``<models>/health/<role>-<pid>.json``.

``StatsFile`` is the ``UsageRecorder`` that ``edgeloop serve --models`` and
``edgeloop run --models`` hold: thread-safe counters per version key (requests,
errors, detections, confidence sum, the most recent latencies), the key that
answers now, and the keys that failed to load. A background thread replaces the
file atomically (temp file, rename) about once a second, at once after a switch
or a load failure, and on ``close``.

``read_stats`` is the reader's side (the agent's window): it sums every live
file. A file whose process is gone (same host, pid not running) or that has not
been rewritten for ``stale_after_s`` is ignored, so a crashed server does not
count as a consumer. A new ``StatsFile`` deletes the files of gone processes older than a day.
"""

from __future__ import annotations

import json
import math
import os
import re
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeloop.agent.layout import HEALTH

FORMAT = 1
LATENCY_KEEP = 1024  # recent latencies kept per version and process
WRITE_EVERY_S = 1.0
STALE_AFTER_S = 10.0
KEEP_DEAD_S = 86400.0  # a gone process's file stays this long for a person to read
_ROLE_RE = re.compile(r"[^A-Za-z0-9_.-]+")


class _Counters:
    def __init__(self, now: float) -> None:
        self.requests = 0
        self.errors = 0
        self.detections = 0
        self.confidence_sum = 0.0
        self.latencies: deque[float] = deque(maxlen=LATENCY_KEEP)
        self.since = now
        self.updated = now

    def to_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "errors": self.errors,
            "detections": self.detections,
            "confidence_sum": self.confidence_sum,
            "latencies_ms": [round(v, 3) for v in self.latencies],
            "since": self.since,
            "updated": self.updated,
        }


class StatsFile:
    """A ``UsageRecorder`` writing ``<models_dir>/health/<role>-<pid>.json`` about once a second."""

    def __init__(self, models_dir: Path, role: str) -> None:
        self.role = _ROLE_RE.sub("_", role) or "process"
        self.pid = os.getpid()
        self.folder = Path(models_dir) / HEALTH
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / f"{self.role}-{self.pid}.json"
        self._tmp = self.folder / f".{self.role}-{self.pid}.json.tmp"
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._versions: dict[str, _Counters] = {}
        self._serving: str | None = None
        self._serving_since: float | None = None
        self._failures: dict[str, dict[str, Any]] = {}
        self._started = time.time()
        self._wake = threading.Event()
        self._closed = threading.Event()
        prune(models_dir)
        self._write()
        self._thread = threading.Thread(target=self._run, name=f"stats-{self.role}", daemon=True)
        self._thread.start()

    # -- UsageRecorder -------------------------------------------------------------------------
    def serving(self, key: str) -> None:
        """``key`` is now the version that answers."""
        with self._lock:
            if key != self._serving:
                self._serving = key
                self._serving_since = time.time()
            self._counters(key)
        self._wake.set()

    def load_failed(self, key: str, error: str) -> None:
        """Loading ``key`` failed; the previous version keeps answering."""
        with self._lock:
            entry = self._failures.setdefault(key, {"error": "", "at": 0.0, "count": 0})
            entry["error"] = " ".join(str(error).split())[:500]
            entry["at"] = time.time()
            entry["count"] += 1
        self._wake.set()

    def record(self, key: str, latency_ms: float, ok: bool, detections: int, confidence_sum: float) -> None:
        """One request or frame served by ``key``."""
        with self._lock:
            c = self._counters(key)
            c.requests += 1
            if not ok:
                c.errors += 1
            c.detections += int(detections)
            if math.isfinite(confidence_sum):
                c.confidence_sum += float(confidence_sum)
            if math.isfinite(latency_ms):
                c.latencies.append(float(latency_ms))
            c.updated = time.time()

    def close(self) -> None:
        """Stop the writer and write the file one last time (it stays until its pid is gone)."""
        if self._closed.is_set():
            return
        self._closed.set()
        self._wake.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)
        self._write()

    def flush(self) -> None:
        """Write the file now (the writer thread does it about once a second anyway)."""
        self._write()

    def __enter__(self) -> StatsFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals -----------------------------------------------------------------------------
    def _counters(self, key: str) -> _Counters:
        c = self._versions.get(key)
        if c is None:
            c = self._versions[key] = _Counters(time.time())
        return c

    def snapshot(self) -> dict[str, Any]:
        """The JSON document this process writes."""
        with self._lock:
            return {
                "format": FORMAT,
                "role": self.role,
                "pid": self.pid,
                "host": socket.gethostname(),
                "started": self._started,
                "updated": time.time(),
                "closed": self._closed.is_set(),
                "serving": self._serving,
                "serving_since": self._serving_since,
                "load_failures": {k: dict(v) for k, v in self._failures.items()},
                "versions": {k: c.to_json() for k, c in self._versions.items()},
            }

    def _write(self) -> None:
        data = json.dumps(self.snapshot(), separators=(",", ":")).encode("utf-8")
        with self._write_lock:  # the writer thread and flush/close share the temp file
            try:
                with open(self._tmp, "wb") as f:
                    f.write(data)
                os.replace(self._tmp, self.path)
            except OSError:  # a full or vanished folder must never disturb serving; the next write retries
                pass

    def _run(self) -> None:
        while not self._closed.is_set():
            self._wake.wait(WRITE_EVERY_S)
            self._wake.clear()
            if self._closed.is_set():
                return
            self._write()


# ---------------------------------------------------------------------------------------------
# Reading


@dataclass
class VersionStats:
    """One version's counters summed over processes (``latencies_ms``: their recent latencies)."""

    requests: int = 0
    errors: int = 0
    detections: int = 0
    confidence_sum: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    @property
    def detection_rate(self) -> float:
        """Detections per request or frame."""
        return self.detections / self.requests if self.requests else 0.0

    @property
    def mean_confidence(self) -> float | None:
        return self.confidence_sum / self.detections if self.detections else None

    def p95_ms(self) -> float | None:
        return percentile(self.latencies_ms, 95.0)

    def add(self, other: VersionStats) -> None:
        self.requests += other.requests
        self.errors += other.errors
        self.detections += other.detections
        self.confidence_sum += other.confidence_sum
        self.latencies_ms.extend(other.latencies_ms)

    def minus(self, base: VersionStats | None) -> VersionStats:
        """What happened since ``base`` (counters; latencies are the recent ones as they are)."""
        if base is None:
            return VersionStats(
                self.requests, self.errors, self.detections, self.confidence_sum, list(self.latencies_ms)
            )
        return VersionStats(
            max(0, self.requests - base.requests),
            max(0, self.errors - base.errors),
            max(0, self.detections - base.detections),
            max(0.0, self.confidence_sum - base.confidence_sum),
            list(self.latencies_ms),
        )


@dataclass
class ProcessStats:
    """One live serving process as its file describes it."""

    role: str
    pid: int
    path: Path
    updated: float
    serving: str | None
    load_failures: dict[str, str]
    versions: dict[str, VersionStats]


@dataclass
class HealthSnapshot:
    """Every live serving process of a models folder."""

    processes: list[ProcessStats]
    # "<role>-<pid>" of processes of this host that died without closing their file in the last
    # ``stale_after_s``: a crash (a model that kills its process, say), not a process that stopped.
    crashed: list[str] = field(default_factory=list)

    @property
    def consumers(self) -> int:
        return len(self.processes)

    def serving_keys(self) -> dict[str, str | None]:
        """``"<role>-<pid>"`` -> the key it serves."""
        return {f"{p.role}-{p.pid}": p.serving for p in self.processes}

    def load_failure(self, key: str) -> str | None:
        """The error of a process that failed to load ``key``, if any did."""
        for p in self.processes:
            if key in p.load_failures:
                return f"{p.role}-{p.pid}: {p.load_failures[key]}"
        return None

    def version(self, key: str) -> VersionStats:
        total = VersionStats()
        for p in self.processes:
            if key in p.versions:
                total.add(p.versions[key])
        return total

    def per_process(self, key: str) -> dict[str, VersionStats]:
        return {f"{p.role}-{p.pid}": p.versions[key] for p in self.processes if key in p.versions}


def percentile(values: list[float], q: float) -> float | None:
    """The ``q``-th percentile (nearest rank) of ``values``, or None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    except OSError:
        return False
    return True


def _parse(path: Path, doc: dict[str, Any]) -> ProcessStats:
    versions: dict[str, VersionStats] = {}
    for key, v in dict(doc.get("versions") or {}).items():
        versions[str(key)] = VersionStats(
            int(v.get("requests", 0)),
            int(v.get("errors", 0)),
            int(v.get("detections", 0)),
            float(v.get("confidence_sum", 0.0)),
            [float(x) for x in v.get("latencies_ms", [])],
        )
    failures = {str(k): str(v.get("error", "")) for k, v in dict(doc.get("load_failures") or {}).items()}
    serving = doc.get("serving")
    return ProcessStats(
        role=str(doc.get("role", "")),
        pid=int(doc.get("pid", 0)),
        path=path,
        updated=float(doc.get("updated", 0.0)),
        serving=None if serving is None else str(serving),
        load_failures=failures,
        versions=versions,
    )


def prune(models_dir: Path, older_than_s: float = KEEP_DEAD_S) -> int:
    """Delete the files of processes that are gone (this host) and were last written long ago."""
    folder = Path(models_dir) / HEALTH
    host, now, removed = socket.gethostname(), time.time(), 0
    try:
        paths = [p for p in folder.iterdir() if p.suffix == ".json" and not p.name.startswith(".")]
    except OSError:
        return 0
    for path in paths:
        try:
            if now - path.stat().st_mtime < older_than_s:
                continue
            doc = json.loads(path.read_bytes())
            if doc.get("host") == host and not _pid_alive(int(doc.get("pid", 0))):
                path.unlink()
                removed += 1
        except (OSError, ValueError, TypeError, AttributeError):
            continue
    return removed


def read_stats(models_dir: Path, stale_after_s: float = STALE_AFTER_S) -> HealthSnapshot:
    """Every live ``health/*.json`` of ``models_dir``; dead pids, stale or unreadable files are skipped."""
    folder = Path(models_dir) / HEALTH
    processes: list[ProcessStats] = []
    crashed: list[str] = []
    try:
        paths = sorted(p for p in folder.iterdir() if p.suffix == ".json" and not p.name.startswith("."))
    except OSError:
        return HealthSnapshot([])
    host = socket.gethostname()
    now = time.time()
    for path in paths:
        try:
            doc = json.loads(path.read_bytes())
            if not isinstance(doc, dict):
                continue
            proc = _parse(path, doc)
        except (OSError, ValueError, TypeError, AttributeError):
            continue  # being replaced, or not ours
        fresh = now - proc.updated <= stale_after_s
        if doc.get("host") == host and not _pid_alive(proc.pid):
            if fresh and not doc.get("closed"):
                crashed.append(f"{proc.role}-{proc.pid}")
            continue
        if bool(doc.get("closed")) or not fresh:
            continue
        processes.append(proc)
    return HealthSnapshot(processes, crashed)
