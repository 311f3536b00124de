"""Enqueue a job: insert its row, and on PostgreSQL hand its id to procrastinate.

On SQLite the hub's worker thread finds the queued row itself (``inprocess.py``).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from edgeloop.hub.jobs import queue


def _dispatch(engine: sa.Engine, job: queue.Job) -> None:
    if engine.dialect.name != "postgresql":
        return
    from edgeloop.hub.jobs.pgqueue import defer

    try:
        defer(engine.url.render_as_string(hide_password=False), job.id)
    except Exception as exc:
        queue.fail(engine, job.id, f"could not hand the job to the queue (procrastinate): {exc}")
        raise


def submit(
    engine: sa.Engine, kind: str, params: dict[str, Any], trigger: str = "manual", plan: str | None = None
) -> queue.Job:
    """A new queued job, handed to the queue."""
    job = queue.create(engine, kind, params, trigger, plan)
    _dispatch(engine, job)
    return job


def submit_for_plan(
    engine: sa.Engine, kind: str, params: dict[str, Any], trigger: str, plan: str
) -> queue.Job | None:
    """A new job for ``plan`` unless one is queued or running (then None)."""
    job = queue.create_for_plan(engine, kind, params, trigger, plan)
    if job is not None:
        _dispatch(engine, job)
    return job
