"""Run one claimed job: its progress and log go to the jobs row (throttled), then done or failed.

Progress and log lines are kept in memory and written by a small thread at most once a second
(and a heartbeat every ``HEARTBEAT_S`` even when nothing changed), so a training loop that reports
every step never waits for the database.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from edgeloop.errors import EdgeloopError
from edgeloop.hub.blobs import BlobStore
from edgeloop.hub.jobs import queue

log = logging.getLogger("edgeloop.hub.jobs")

FLUSH_S = 1.0
HEARTBEAT_S = 5.0
# kind -> "module:function(env, job, reporter) -> result dict", imported when a job of it runs
# (the retrain pipeline imports torch; the hub must start without it).
HANDLERS: dict[str, str] = {"retrain": "edgeloop.hub.jobs.retrain_hub:run"}


@dataclass
class JobEnv:
    """What a job runs against: the hub's database and blobs, and the signing keys (if any)."""

    engine: sa.Engine
    blobs: BlobStore
    keys_dir: Path | None
    worker: str


@dataclass
class Reporter:
    """Collects progress and log lines of one job; ``flush`` writes them (called by the flusher)."""

    engine: sa.Engine
    job_id: int
    _progress: float | None = None
    _lines: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _last_write: float = 0.0

    def progress(self, fraction: float) -> None:
        """The job's progress, 0..1."""
        with self._lock:
            self._progress = fraction

    def log(self, line: str) -> None:
        """One line for the job's log (and the hub's own log)."""
        log.info("job %d: %s", self.job_id, line)
        with self._lock:
            self._lines.append(line.rstrip()[:1000])

    def flush(self, force: bool = False) -> None:
        with self._lock:
            progress, lines = self._progress, self._lines
            self._progress, self._lines = None, []
        now = time.monotonic()
        if progress is None and not lines and not force and now - self._last_write < HEARTBEAT_S:
            return
        queue.report(self.engine, self.job_id, progress, lines)
        self._last_write = now


def _flusher(reporter: Reporter, stop: threading.Event) -> None:
    while not stop.wait(FLUSH_S):
        try:
            reporter.flush()
        except Exception:  # a database hiccup must not end the job; the next flush retries
            log.warning("job %d: progress write failed", reporter.job_id, exc_info=True)


def run_job(env: JobEnv, job: queue.Job) -> None:
    """Run ``job`` (claimed already, status running) to done or failed; never raises."""
    reporter = Reporter(env.engine, job.id)
    stop = threading.Event()
    thread = threading.Thread(target=_flusher, args=(reporter, stop), name=f"job-{job.id}-flush", daemon=True)
    thread.start()
    error: str | None = None
    result: dict[str, Any] = {}
    try:
        reporter.log(f"job {job.id} ({job.kind}, trigger: {job.trigger}) started on {env.worker}")
        module, attr = HANDLERS[job.kind].split(":")
        result = getattr(importlib.import_module(module), attr)(env, job, reporter)
    except EdgeloopError as exc:
        error = str(exc)
    except Exception as exc:  # report it on the job; the worker keeps running
        log.exception("job %d failed", job.id)
        error = f"internal error ({type(exc).__name__}: {exc}); the log has the traceback"
        reporter.log(traceback.format_exc(limit=5))
    finally:
        stop.set()
        thread.join()
    if error is not None:
        reporter.log(f"failed: {error}")
    reporter.flush(force=True)
    if error is None:
        queue.finish(env.engine, job.id, result)
    else:
        queue.fail(env.engine, job.id, error)
