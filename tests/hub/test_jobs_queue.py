"""The jobs table as a queue, on SQLite and PostgreSQL: one claim per job, plans deduplicated,
stale jobs of dead workers failed, progress and log written by the runner."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa

from edgeloop.hub import schema
from edgeloop.hub.blobs import open_blobs
from edgeloop.hub.db import create_engine, writing
from edgeloop.hub.jobs import queue
from edgeloop.hub.jobs.runner import HANDLERS, JobEnv, run_job
from edgeloop.hub.migrations import upgrade


@pytest.fixture()
def engine(hub_db: str):  # type: ignore[no-untyped-def]
    engine = create_engine(hub_db)
    upgrade(engine)
    yield engine
    engine.dispose()


def test_concurrent_claims_take_each_job_once(engine: sa.Engine) -> None:
    made = [queue.create(engine, "retrain", {"dataset": f"d{i}"}).id for i in range(12)]
    claimed: list[int] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        while (job := queue.claim_next(engine, f"w{n}")) is not None:
            with lock:
                claimed.append(job.id)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == made
    assert {j.status for j in queue.list_jobs(engine)} == {"running"}
    assert queue.claim(engine, made[0], "late") is None  # running already: no second claim


def test_one_active_job_per_plan(engine: sa.Engine) -> None:
    first = queue.create_for_plan(engine, "retrain", {}, "every 10 labels", "shapes")
    assert first is not None
    assert queue.create_for_plan(engine, "retrain", {}, "schedule", "shapes") is None
    assert queue.create_for_plan(engine, "retrain", {}, "schedule", "other") is not None
    job = queue.claim(engine, first.id, "w")
    assert job is not None
    assert queue.create_for_plan(engine, "retrain", {}, "schedule", "shapes") is None  # running
    queue.finish(engine, first.id, {"ok": True})
    assert queue.create_for_plan(engine, "retrain", {}, "schedule", "shapes") is not None


def test_stale_running_job_is_failed_with_a_clear_error(engine: sa.Engine) -> None:
    job = queue.create(engine, "retrain", {})
    assert queue.claim(engine, job.id, "hub@box:123") is not None
    assert queue.fail_stale(engine) == []  # heartbeat is fresh
    with writing(engine) as conn:
        conn.execute(sa.update(schema.jobs).values(heartbeat_at=time.time() - 600))
    assert queue.fail_stale(engine) == [job.id]
    failed = queue.get(engine, job.id)
    assert failed.status == "failed"
    assert failed.error is not None and "hub@box:123 stopped while the job ran" in failed.error


def test_runner_writes_progress_log_and_result(engine: sa.Engine, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setitem(HANDLERS, "retrain", "tests.hub.job_handlers:count_up")
    env = JobEnv(engine, open_blobs(str(tmp_path / "blobs")), None, "test-worker")
    job = queue.claim(engine, queue.create(engine, "retrain", {"steps": 3}).id, env.worker)
    assert job is not None
    run_job(env, job)
    done = queue.get(engine, job.id)
    assert done.status == "done", done.error
    assert done.progress == 1.0
    assert done.result == {"counted": 3}
    assert "step 3 of 3" in done.log

    monkeypatch.setitem(HANDLERS, "retrain", "tests.hub.job_handlers:refuse")
    job = queue.claim(engine, queue.create(engine, "retrain", {}).id, env.worker)
    assert job is not None
    run_job(env, job)
    failed = queue.get(engine, job.id)
    assert failed.status == "failed"
    assert failed.error == "dataset shapes@9 does not exist; list them with edgeloop hub dataset ls"
    assert "failed: dataset shapes@9" in failed.log


def test_procrastinate_schema_once_and_outside_the_hubs_tables(pg_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from edgeloop.hub.jobs.pgqueue import apply_schema

    engine = create_engine(pg_url)
    try:
        upgrade(engine)
        assert apply_schema(pg_url) is True
        assert apply_schema(pg_url) is False  # idempotent: every hub and worker start calls it
        with engine.connect() as conn:
            found = conn.execute(sa.text("SELECT to_regclass('procrastinate.procrastinate_jobs')")).scalar()
            assert found is not None
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, schema.metadata) == []  # public holds the hub's tables only
    finally:
        engine.dispose()
