"""The jobs and models API over real HTTP: admin only, 422 naming what is wrong, cancel; the
hub starts without torch; retrain triggers (every N labels, a schedule), one job per plan."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from edgeloop.errors import ConfigError
from edgeloop.hub import schema
from edgeloop.hub.db import create_engine, writing
from edgeloop.hub.jobs import queue
from edgeloop.hub.jobs.pgqueue import apply_schema
from edgeloop.hub.jobs.triggers import RetrainPlan, fire, load_plan
from edgeloop.hub.migrations import upgrade
from edgeloop.testing.hub_server import HubServer
from tests.hub.conftest import jpeg, meta


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubServer]:
    """One hub for the module's API tests (no worker: jobs stay queued)."""
    with HubServer(tmp_path_factory.mktemp("api") / "data", extra_args=("--no-worker",)) as server:
        token = server.add_device("cam1")
        for seed in range(3):
            status, body = server.upload(token, jpeg(seed), meta())
            assert status == 201, body
        status, body = server.json("POST", "/api/v1/datasets", {"name": "shapes", "include_pending": True})
        assert status == 201, body
        yield server


ROUTES = [
    ("GET", "/api/v1/jobs"),
    ("POST", "/api/v1/jobs"),
    ("GET", "/api/v1/jobs/1"),
    ("POST", "/api/v1/jobs/1/cancel"),
    ("GET", "/api/v1/models"),
    ("GET", "/api/v1/models/shapes/1"),
    ("GET", "/api/v1/models/shapes/1/bundle"),
    ("GET", "/api/v1/models/shapes/1/gate"),
    ("GET", "/api/v1/models/shapes/1/gate/gate.md"),
]


def test_job_and_model_routes_are_admin_only(hub: HubServer) -> None:
    device = hub.tokens[0]
    body = b'{"kind": "retrain", "dataset": "shapes"}'
    for method, path in ROUTES:
        assert hub.request(method, path, body, token=None)[0] == 401, path
        status, _, text = hub.request(method, path, body, token=device)
        assert status == 403, (path, status)
        assert b"admin token" in text
    engine = create_engine(f"sqlite:///{hub.data_dir / 'hub.db'}")
    assert [j for j in queue.list_jobs(engine) if j.status != "cancelled"] == []  # none made
    engine.dispose()


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"kind": "train", "dataset": "shapes"}, 422, "kind 'train': jobs are of kind retrain"),
        ({"kind": "retrain"}, 422, "dataset"),
        ({"dataset": "no such!"}, 422, "is not NAME or NAME@VERSION"),
        ({"dataset": "shapes", "epochs": 3}, 422, "epochs"),
        ({"dataset": "shapes", "train": {"imgsz": 100}}, 422, "multiple of 32"),
        ({"dataset": "shapes", "train": {"model": "huge"}}, 422, "unknown preset 'huge'"),
        ({"dataset": "shapes", "gate": {"max_map_drop": -1}}, 422, "max_map_drop"),
        ({"dataset": "shapes", "gate": {"no_such_rule": 1}}, 422, "no_such_rule"),
        ({"dataset": "shapes@2"}, 404, "dataset shapes has no version 2"),
        ({"dataset": "other"}, 404, "no dataset 'other'"),
        ({"dataset": "shapes@1", "snapshot": True}, 422, "snapshot makes a new version"),
        (["shapes"], 422, "JSON object"),
    ],
)
def test_bad_job_parameters_are_refused_with_a_clear_message(
    hub: HubServer, body: object, status: int, message: str
) -> None:
    got, answer = hub.json("POST", "/api/v1/jobs", body)
    assert got == status, answer
    assert message in answer["error"], answer["error"]


def test_queued_job_shows_and_cancels(hub: HubServer) -> None:
    status, job = hub.json("POST", "/api/v1/jobs", {"kind": "retrain", "dataset": "shapes@1", "model": "det"})
    assert status == 201, job
    assert (job["status"], job["progress"], job["trigger"]) == ("queued", 0.0, "manual (API, admin token)")
    assert job["params"]["dataset"] == "shapes@1" and job["params"]["train"]["imgsz"] == 320
    status, listed = hub.json("GET", "/api/v1/jobs")
    assert status == 200 and job["id"] in [j["id"] for j in listed["jobs"]]
    status, cancelled = hub.json("POST", f"/api/v1/jobs/{job['id']}/cancel")
    assert status == 200 and cancelled["status"] == "cancelled"
    status, again = hub.json("POST", f"/api/v1/jobs/{job['id']}/cancel")
    assert status == 409 and "only a queued job can be cancelled" in again["error"]
    assert hub.json("GET", "/api/v1/jobs/999")[0] == 404
    assert hub.json("GET", "/api/v1/models")[1] == {"models": []}
    status, missing = hub.json("GET", "/api/v1/models/det/current")
    assert status == 404 and "edgeloop hub model add" in missing["error"]


def test_hub_with_its_job_worker_starts_without_torch(tmp_path: Path) -> None:
    code = f"""
import sys
from pathlib import Path
from edgeloop.hub.app import create_app
from edgeloop.hub.config import HubConfig
from edgeloop.hub.jobs.service import start_services
from edgeloop.hub.setup import prepare
config = HubConfig(data_dir=Path({str(tmp_path)!r}))
prepare(config)
app = create_app(config)
services = start_services(config)
assert services.running, "no worker started"
services.close()
assert "torch" not in sys.modules, "hub serve imported torch"
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def _label(engine: sa.Engine, count: int, start: int) -> None:
    now = time.time()
    with writing(engine) as conn:
        if conn.execute(sa.select(schema.devices.c.name)).first() is None:
            conn.execute(sa.insert(schema.devices).values(name="cam", created_at=now))
        for i in range(start, start + count):
            conn.execute(
                sa.insert(schema.samples).values(
                    sha256=f"{i:064x}", device="cam", received_at=now, captured_at=now, bytes=1, width=8,
                    height=8, media_type="image/jpeg", predictions={}, tags=[], status="labelled",
                    labels={}, labelled_at=now + 0.001,
                )
            )  # fmt: skip


def test_triggers_every_n_labels_and_on_a_schedule(hub_db: str) -> None:
    engine = create_engine(hub_db)
    upgrade(engine)
    if hub_db.startswith("postgresql"):  # what hub migrate does there: the queue's own tables
        apply_schema(hub_db)
    try:
        plan = RetrainPlan(model="shapes", dataset="shapes", triggers={"every_labels": 3, "every_s": 3600})
        started = time.time()
        _label(engine, 2, 0)
        assert fire(engine, plan, started) is None  # 2 < 3 labels, schedule not due
        _label(engine, 1, 2)
        first = fire(engine, plan, started)
        assert first is not None
        job = queue.get(engine, first)
        assert (job.plan, job.trigger) == ("shapes", "3 new labelled samples (plan shapes: every 3)")
        assert job.params["snapshot"] is True and job.params["dataset"] == "shapes"
        _label(engine, 5, 3)
        assert fire(engine, plan, started) is None  # one job of the plan is queued: no second
        queue.fail(engine, first, "stopped")
        second = fire(engine, plan, started)  # the 5 labels that came after the first job
        assert second is not None
        assert queue.claim(engine, second, "w") is not None
        queue.finish(engine, second, {})
        assert fire(engine, plan, started) is None  # nothing new, schedule an hour away
        scheduled = plan.model_copy(update={"triggers": plan.triggers.model_copy(update={"every_s": 0.01})})
        time.sleep(0.05)
        third = fire(engine, scheduled, started)
        assert third is not None
        assert queue.get(engine, third).trigger == "schedule (plan shapes: every 0.01 s)"
    finally:
        engine.dispose()


def test_retrain_plan_file_is_validated(tmp_path: Path) -> None:
    good = tmp_path / "retrain.yaml"
    good.write_text(
        "model: shapes\ndataset: shapes\ntrain: {imgsz: 96, time_s: 60}\ngate: {max_map_drop: 0.5}\n"
        "triggers: {every_labels: 50, every_s: 86400}\n"
    )
    plan = load_plan(good)
    assert plan.params().train.imgsz == 96 and plan.triggers.every_labels == 50
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: shapes\ndataset: shapes\ntriggers: {every_labels: 0}\n")
    with pytest.raises(ConfigError, match="every_labels"):
        load_plan(bad)


def test_hub_worker_runs_jobs_and_fails_those_of_a_dead_hub(hub_db: str, tmp_path: Path) -> None:
    """The worker inside ``hub serve`` (the thread on SQLite, procrastinate with --worker on
    PostgreSQL): a job left running by a killed hub is failed at start with a clear error; a new
    job runs, and without --keys fails saying how to fix it (before any training)."""
    engine = create_engine(hub_db)
    upgrade(engine)
    stale = queue.create(engine, "retrain", {"dataset": "shapes"})
    assert queue.claim(engine, stale.id, "hub@old-box:99") is not None
    with writing(engine) as conn:
        conn.execute(sa.update(schema.jobs).values(heartbeat_at=time.time() - 3600))
    engine.dispose()
    db = None if hub_db.startswith("sqlite") else hub_db
    args = ("--worker",) if db else ()
    if db is None:  # the hub's own SQLite file in --data
        (tmp_path / "data").mkdir()
        Path(hub_db.removeprefix("sqlite:///")).rename(tmp_path / "data" / "hub.db")
    with HubServer(tmp_path / "data", db_url=db, extra_args=args) as server:
        token = server.add_device("cam1")
        assert server.upload(token, jpeg(1), meta())[0] == 201
        assert server.json("POST", "/api/v1/datasets", {"name": "shapes", "include_pending": True})[0] == 201
        deadline = time.monotonic() + 30  # the worker looks at start, on its own thread
        while (old := server.json("GET", f"/api/v1/jobs/{stale.id}")[1])["status"] == "running":
            assert time.monotonic() < deadline, old
            time.sleep(0.2)
        assert old["status"] == "failed", old
        assert "the worker hub@old-box:99 stopped while the job ran" in old["error"]
        status, job = server.json("POST", "/api/v1/jobs", {"dataset": "shapes@1"})
        assert status == 201, job
        deadline = time.monotonic() + 60
        while job["status"] in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(0.2)
            job = server.json("GET", f"/api/v1/jobs/{job['id']}")[1]
    assert job["status"] == "failed", job
    assert job["error"].startswith("no signing keys: start the hub (or edgeloop hub worker) with --keys KEYS")
    assert job["worker"].startswith("hub@")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edgeloop", *args], capture_output=True, text=True, timeout=120
    )


def test_retrain_and_model_commands(hub: HubServer) -> None:
    data = ["--data", str(hub.data_dir)]
    queued = _cli("hub", "retrain", "--dataset", "shapes@1", "--model", "det", "--imgsz", "96", *data)
    assert queued.returncode == 0, queued.stderr
    job_id = int(queued.stdout.strip())
    assert f"job {job_id} queued: retrain det on shapes@1" in queued.stderr
    status, job = hub.json("GET", f"/api/v1/jobs/{job_id}")
    assert status == 200 and job["status"] == "queued" and job["trigger"] == "manual (edgeloop hub retrain)"
    assert job["params"]["train"]["imgsz"] == 96
    assert hub.json("POST", f"/api/v1/jobs/{job_id}/cancel")[0] == 200
    missing = _cli("hub", "retrain", "--dataset", "nope", *data)
    assert missing.returncode == 1 and "no dataset 'nope'" in missing.stderr
    bad = _cli("hub", "retrain", "--dataset", "shapes", "--imgsz", "100", *data)
    assert bad.returncode == 1 and "multiple of 32" in bad.stderr
    listed = _cli("hub", "model", "ls", *data)
    assert listed.returncode == 0 and listed.stdout == ""
    shown = _cli("hub", "model", "show", "det", *data)
    assert shown.returncode == 1 and "edgeloop hub model add RUN_OR_BUNDLE --name det" in shown.stderr
    worker = _cli("hub", "worker", *data)
    assert worker.returncode == 1 and "on SQLite, edgeloop hub serve runs jobs itself" in worker.stderr
