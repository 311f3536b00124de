"""Jobs on PostgreSQL through procrastinate (``SELECT ... FOR UPDATE SKIP LOCKED``).

procrastinate only dispatches job ids: the hub's ``jobs`` table stays the source of truth for
status, progress, log and result. Its tables live in their own PostgreSQL schema
(``procrastinate``), so the hub's Alembic-managed ``public`` schema holds only the hub's tables.
The schema is applied once, under an advisory lock, by ``hub migrate``/``hub serve``/``hub worker``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import threading
from collections.abc import Callable
from typing import Any

from edgeloop.hub.jobs import queue
from edgeloop.hub.jobs.runner import JobEnv, run_job

log = logging.getLogger("edgeloop.hub.jobs")

SCHEMA = "procrastinate"
QUEUE = "edgeloop"
TASK = "edgeloop.run_job"
_LOCK_KEY = 0x6564_6765_7175_6575  # "edgequeu": serializes schema set-up across processes
OPTIONS = f"-c search_path={SCHEMA}"


def plain_url(url: str) -> str:
    """``postgresql+psycopg://`` -> ``postgresql://`` (what psycopg reads)."""
    return re.sub(r"^(postgresql|postgres)(\+\w+)?://", "postgresql://", url)


def apply_schema(url: str) -> bool:
    """Create procrastinate's tables in schema ``procrastinate`` unless they exist; whether it did."""
    import psycopg
    from procrastinate.schema import SchemaManager

    with psycopg.connect(plain_url(url), autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
            found = conn.execute("SELECT to_regclass(%s)", (f"{SCHEMA}.procrastinate_jobs",)).fetchone()
            if found is not None and found[0] is not None:
                return False
            conn.execute(f"SET search_path = {SCHEMA}")
            conn.execute(SchemaManager.get_schema().encode())
            return True
        finally:
            conn.execute("RESET search_path")
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))


def defer(url: str, job_id: int) -> int:
    """Hand ``job_id`` to procrastinate's queue; its procrastinate id."""
    import procrastinate

    connector = procrastinate.SyncPsycopgConnector(conninfo=plain_url(url), kwargs={"options": OPTIONS})
    app = procrastinate.App(connector=connector)
    with app.open():
        return app.configure_task(TASK, queue=QUEUE).defer(job_id=job_id)


def make_app(url: str, env: JobEnv) -> Any:
    """A procrastinate App whose one task runs hub job ids against ``env``."""
    import procrastinate

    connector = procrastinate.PsycopgConnector(conninfo=plain_url(url), kwargs={"options": OPTIONS})
    app = procrastinate.App(connector=connector)

    def run(job_id: int) -> None:
        job = queue.claim(env.engine, job_id, env.worker)
        if job is None:  # cancelled, failed as stale, or taken already: nothing to do
            log.info("job %d is no longer queued; skipped", job_id)
            return
        run_job(env, job)

    app.task(name=TASK, queue=QUEUE)(run)
    return app


async def work(url: str, env: JobEnv, concurrency: int = 1, stop: asyncio.Event | None = None) -> None:
    """Run queued jobs until cancelled (or ``stop`` is set); signals stop it when ``stop`` is None."""
    app = make_app(url, env)
    for job_id in queue.fail_stale(env.engine):
        log.warning("job %d was running when its worker stopped: marked failed", job_id)
    async with app.open_async():
        options: dict[str, Any] = {"queues": [QUEUE], "concurrency": concurrency, "name": env.worker}
        if stop is None:
            await app.run_worker_async(**options)
            return
        task = asyncio.create_task(app.run_worker_async(**options, install_signal_handlers=False))
        await stop.wait()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class PgWorkerThread:
    """``work`` on a thread with its own event loop (``hub serve --worker`` on PostgreSQL)."""

    def __init__(self, url: str, env: JobEnv, concurrency: int = 1) -> None:
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self._main: Callable[[], Any] = lambda: work(url, env, concurrency, self._stop)
        self._thread = threading.Thread(target=self._run, name="edgeloop-pg-jobs", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._main())
        except Exception:
            log.exception("job worker stopped")

    def start(self) -> PgWorkerThread:
        self._thread.start()
        return self

    def close(self, timeout_s: float | None = None) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(timeout_s)
