"""The jobs table: create, claim (atomically), report progress, finish, fail, list.

The table is the source of truth for a job's status, progress, log and result, whichever queue
dispatches it. A job is claimed by one compare-and-set ``UPDATE ... WHERE status = 'queued'``, so
two workers never run the same job. A running job's worker writes ``heartbeat_at`` every few
seconds; a job whose heartbeat is older than ``STALE_S`` belonged to a worker (or hub) that died:
it is failed with an error that says so (never re-run on its own: a job that killed its worker
would kill the next one too) and can be started again by hand.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from edgeloop.errors import NotFound
from edgeloop.hub import schema
from edgeloop.hub.db import writing

KINDS = ("retrain",)
ACTIVE = ("queued", "running")
STALE_S = 90.0  # no heartbeat for this long: the worker is gone
LOG_LINES = 200  # the log column keeps the newest lines only


class JobNotFound(NotFound):
    """No job with that id."""


@dataclass(frozen=True)
class Job:
    """One row of the jobs table."""

    id: int
    kind: str
    status: str
    params: dict[str, Any]
    plan: str | None
    progress: float
    log: str
    result: dict[str, Any] | None
    error: str | None
    trigger: str
    created_at: float
    started_at: float | None
    finished_at: float | None
    worker: str | None
    heartbeat_at: float | None

    def as_dict(self, log_lines: int | None = None) -> dict[str, Any]:
        """JSON for the API; ``log_lines`` keeps only the newest lines of the log."""
        body = {k: getattr(self, k) for k in self.__dataclass_fields__}
        if log_lines is not None:
            body["log"] = "\n".join(self.log.splitlines()[-log_lines:])
        return body


def worker_name(role: str) -> str:
    """``role@host:pid``: which process runs a job (shown in the API and the page)."""
    return f"{role}@{socket.gethostname()}:{os.getpid()}"


def _job(row: Any) -> Job:
    return Job(**{c.name: getattr(row, c.name) for c in schema.jobs.c})


def create(
    engine: sa.Engine, kind: str, params: dict[str, Any], trigger: str = "manual", plan: str | None = None
) -> Job:
    """Insert a queued job (dispatching it is the caller's: see ``hub.jobs.dispatch``)."""
    if kind not in KINDS:
        raise ValueError(f"unknown job kind {kind!r}")
    with writing(engine) as conn:
        row = conn.execute(
            sa.insert(schema.jobs)
            .values(
                kind=kind, status="queued", params=params, plan=plan, trigger=trigger, created_at=time.time()
            )
            .returning(*schema.jobs.c)
        ).one()
    return _job(row)


def create_for_plan(
    engine: sa.Engine, kind: str, params: dict[str, Any], trigger: str, plan: str
) -> Job | None:
    """A queued job for ``plan``, unless one is queued or running already (then None).

    The check and the insert are one write transaction (``BEGIN IMMEDIATE`` on SQLite; a
    transaction-scoped advisory lock per plan on PostgreSQL), so two hubs never both enqueue.
    """
    j = schema.jobs
    with writing(engine) as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:plan))"), {"plan": f"jobs:{plan}"})
        active = conn.execute(
            sa.select(j.c.id).where(j.c.plan == plan, j.c.status.in_(ACTIVE)).limit(1)
        ).first()
        if active is not None:
            return None
        row = conn.execute(
            sa.insert(j)
            .values(
                kind=kind, status="queued", params=params, plan=plan, trigger=trigger, created_at=time.time()
            )
            .returning(*j.c)
        ).one()
    return _job(row)


def get(engine: sa.Engine, job_id: int) -> Job:
    """One job.

    Raises:
        JobNotFound: no such id.
    """
    with engine.begin() as conn:
        row = conn.execute(sa.select(schema.jobs).where(schema.jobs.c.id == job_id)).first()
    if row is None:
        raise JobNotFound(f"no job {job_id}; list them with GET /api/v1/jobs")
    return _job(row)


def list_jobs(engine: sa.Engine, limit: int = 50, status: str | None = None) -> list[Job]:
    """The newest jobs first."""
    query = sa.select(schema.jobs).order_by(schema.jobs.c.id.desc()).limit(limit)
    if status is not None:
        query = query.where(schema.jobs.c.status == status)
    with engine.begin() as conn:
        return [_job(r) for r in conn.execute(query)]


def claim(engine: sa.Engine, job_id: int, worker: str) -> Job | None:
    """Mark ``job_id`` running for ``worker`` if it is still queued (compare-and-set); None if not."""
    with writing(engine) as conn:
        return _start(conn, job_id, worker)


def _start(conn: sa.Connection, job_id: int, worker: str) -> Job | None:
    """Compare-and-set ``job_id`` from queued to running for ``worker``."""
    j = schema.jobs
    now = time.time()
    row = conn.execute(
        sa.update(j)
        .where(j.c.id == job_id, j.c.status == "queued")
        .values(status="running", started_at=now, heartbeat_at=now, worker=worker)
        .returning(*j.c)
    ).first()
    return None if row is None else _job(row)


def claim_next(engine: sa.Engine, worker: str, kinds: tuple[str, ...] = KINDS) -> Job | None:
    """The oldest queued job, now running for ``worker``; None when none is queued.

    SQLite: the write transaction (``BEGIN IMMEDIATE``) holds the database's write lock from the
    select to the update. PostgreSQL: ``FOR UPDATE SKIP LOCKED`` lets concurrent workers pass
    each other, and the update's ``status = 'queued'`` condition is the compare-and-set.
    """
    j = schema.jobs
    with writing(engine) as conn:
        query = sa.select(j.c.id).where(j.c.status == "queued", j.c.kind.in_(kinds)).order_by(j.c.id).limit(1)
        if conn.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        found = conn.execute(query).scalar()
        if found is None:
            return None
        return _start(conn, found, worker)


def report(
    engine: sa.Engine, job_id: int, progress: float | None = None, lines: list[str] | None = None
) -> None:
    """Heartbeat a running job; set its progress (0..1) and append log lines (keeping the newest)."""
    j = schema.jobs
    with writing(engine) as conn:
        values: dict[str, Any] = {"heartbeat_at": time.time()}
        if progress is not None:
            values["progress"] = max(0.0, min(1.0, progress))
        if lines:
            old = conn.execute(sa.select(j.c.log).where(j.c.id == job_id)).scalar() or ""
            values["log"] = "\n".join([*old.splitlines(), *lines][-LOG_LINES:])
        conn.execute(sa.update(j).where(j.c.id == job_id, j.c.status == "running").values(**values))


def finish(engine: sa.Engine, job_id: int, result: dict[str, Any]) -> None:
    """Mark a running job done with ``result``."""
    j = schema.jobs
    with writing(engine) as conn:
        conn.execute(
            sa.update(j)
            .where(j.c.id == job_id, j.c.status == "running")
            .values(status="done", progress=1.0, result=result, finished_at=time.time())
        )


def fail(engine: sa.Engine, job_id: int, error: str) -> None:
    """Mark a queued or running job failed with ``error`` (the message a person reads)."""
    j = schema.jobs
    with writing(engine) as conn:
        conn.execute(
            sa.update(j)
            .where(j.c.id == job_id, j.c.status.in_(ACTIVE))
            .values(status="failed", error=error[:4000], finished_at=time.time())
        )


def fail_stale(engine: sa.Engine, stale_s: float = STALE_S) -> list[int]:
    """Fail running jobs whose worker stopped heartbeating ``stale_s`` ago (a crashed hub or worker)."""
    j = schema.jobs
    now = time.time()
    failed: list[int] = []
    with writing(engine) as conn:
        rows = conn.execute(
            sa.select(j.c.id, j.c.worker, j.c.heartbeat_at).where(
                j.c.status == "running", sa.func.coalesce(j.c.heartbeat_at, 0.0) < now - stale_s
            )
        ).all()
        for row in rows:
            silent = now - (row.heartbeat_at or now)
            error = (
                f"the worker {row.worker} stopped while the job ran (no heartbeat for {silent:.0f} s: "
                "the hub or worker process died); start it again: edgeloop hub retrain (or POST /api/v1/jobs)"
            )
            done = conn.execute(
                sa.update(j)
                .where(j.c.id == row.id, j.c.status == "running")
                .values(status="failed", error=error, finished_at=now)
            )
            if done.rowcount:
                failed.append(row.id)
    return failed


def cancel(engine: sa.Engine, job_id: int) -> bool:
    """Cancel a queued job; whether it was queued (a running job is not stopped)."""
    j = schema.jobs
    with writing(engine) as conn:
        done = conn.execute(
            sa.update(j)
            .where(j.c.id == job_id, j.c.status == "queued")
            .values(status="cancelled", finished_at=time.time())
            .returning(j.c.id)
        ).first()
    return done is not None
