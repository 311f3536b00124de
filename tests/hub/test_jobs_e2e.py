"""Retrain end to end through a real queue: a better candidate is published (signed), a candidate
trained on shuffled labels is refused with a report naming why.

SQLite: the hub's own worker thread (``hub serve`` in a subprocess). PostgreSQL: procrastinate,
with ``edgeloop hub worker`` as a separate process and a hub that runs no jobs itself.
"""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edgeloop.signing import Keyring, generate_key, verify_bundle
from edgeloop.testing.hub_server import HubServer
from tests.hub.jobs_setup import TRAIN, dataset, samples, upload, weak_run

pytest.importorskip("torch")
# Three trainings (the first model, a better and a shuffled candidate) on a shared 2-core machine.
pytestmark = pytest.mark.timeout(900)
JOB_TIMEOUT_S = 600.0


@pytest.fixture(scope="session")
def seed_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The weak first model, trained once for every test of the session."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return weak_run(tmp_path_factory.mktemp("seed"))
    finally:
        torch.set_num_threads(threads)


@pytest.fixture()
def keys(tmp_path: Path) -> Path:
    generate_key(tmp_path / "keys", note="hub")
    return tmp_path / "keys"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edgeloop", *args], capture_output=True, text=True, timeout=300
    )


def run_job(server: HubServer, body: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """POST a job and poll it to its end: (final job, the snapshots seen while it ran)."""
    status, job = server.json("POST", "/api/v1/jobs", body)
    assert status == 201, job
    running: list[dict[str, Any]] = []
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while time.monotonic() < deadline:
        status, job = server.json("GET", f"/api/v1/jobs/{job['id']}")
        assert status == 200, job
        if job["status"] == "running":
            running.append(job)
        if job["status"] in ("done", "failed", "cancelled"):
            return job, running
        time.sleep(0.3)
    raise AssertionError(f"job {job['id']} did not end in {JOB_TIMEOUT_S} s: {job}")


def _overall(gate: dict[str, Any], role: str) -> tuple[float, float]:
    found = next(d for d in gate["datasets"] if d["role"] == role)
    return found["candidate"]["overall"]["map50_95"], found["current"]["overall"]["map50_95"]


def retrain_flow(server: HubServer, keys: Path, seed: Path, where: list[str]) -> dict[str, Any]:
    """Samples -> dataset versions -> first model -> a better and a shuffled retrain; checks each."""
    upload(server, "cam-good", samples(128, seed=1))
    upload(server, "cam-bad", samples(128, seed=2, shuffle=True))
    assert dataset(server, "shapes", "cam-good")["counts"]["test"] > 0
    assert dataset(server, "shuffled", "cam-bad")["counts"]["test"] > 0
    added = cli("hub", "model", "add", str(seed), "--name", "shapes", "--keys", str(keys), *where)
    assert added.returncode == 0, added.stderr
    assert "shapes@1 published" in added.stderr

    better, running = run_job(
        server, {"kind": "retrain", "dataset": "shapes@1", "model": "shapes", "train": {**TRAIN, "epochs": 6}}
    )
    assert better["status"] == "done", better["error"]
    result = better["result"]
    assert (result["version"], result["status"], result["parent_version"]) == (2, "published", 1)
    assert result["counter"] is not None and result["init"] is not None
    # Progress and log were visible while it ran.
    assert any(0 < j["progress"] < 1 for j in running), [j["progress"] for j in running]
    assert any("training on shapes@1" in j["log"] for j in running)
    status, gate = server.json("GET", "/api/v1/models/shapes/2/gate")
    assert status == 200 and gate["gate"]["passed"] is True
    candidate, current = _overall(gate["gate"], "test")
    assert candidate > current, (candidate, current)

    worse, _ = run_job(
        server,
        {
            "kind": "retrain",
            "dataset": "shuffled@1",
            "model": "shapes",
            "field": "shapes",
            "train": {**TRAIN, "epochs": 2},
        },
    )
    assert worse["status"] == "done", worse["error"]
    refused = worse["result"]
    assert (refused["version"], refused["status"], refused["parent_version"]) == (3, "refused", 2)
    assert refused["counter"] is None  # never signed
    assert any("mAP50-95" in r and "points" in r for r in refused["reasons"]), refused["reasons"]
    status, shown = server.json("GET", "/api/v1/models/shapes/3")
    assert status == 200 and shown["status"] == "refused" and shown["gate"]["reasons"] == refused["reasons"]
    assert shown["dataset_name"] == "shuffled" and shown["dataset_version"] == 1
    status, _, report = server.request("GET", "/api/v1/models/shapes/3/gate/gate.md")
    assert status == 200 and b"refused" in report.lower()

    # The current model is still the better one, and its bundle verifies against the key ring.
    status, current_model = server.json("GET", "/api/v1/models/shapes/current")
    assert status == 200 and current_model["version"] == 2
    status, headers, tar = server.request("GET", "/api/v1/models/shapes/2/bundle")
    assert status == 200 and headers["content-type"] == "application/x-tar"
    folder = server.data_dir.parent / "downloaded"
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        archive.extractall(folder, filter="data")
    manifest = verify_bundle(folder, Keyring.load(keys / "keyring.json"))
    assert manifest.counter == result["counter"] and manifest.version == "2"
    assert manifest.provenance.parent_version == "1"
    return {"better": better, "worse": worse}


def test_retrain_sqlite_in_process_worker(tmp_path: Path, keys: Path, seed_run: Path) -> None:
    data = tmp_path / "data"
    with HubServer(data, extra_args=("--keys", str(keys))) as server:
        flow = retrain_flow(server, keys, seed_run, ["--data", str(data)])
    assert flow["better"]["worker"].startswith("hub@")


@pytest.fixture()
def hub_worker(pg_url: str, tmp_path: Path, keys: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``edgeloop hub worker`` in its own process, on the test's database and blob folder."""
    log = open(tmp_path / "worker.log", "wb")  # noqa: SIM115 - the child writes to it until it exits
    args = ["hub", "worker", "--db", pg_url, "--blobs", str(tmp_path / "blobs"), "--keys", str(keys)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgeloop", *args, "--data", str(tmp_path / "worker")],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def test_retrain_postgresql_procrastinate_worker(
    tmp_path: Path, keys: Path, seed_run: Path, pg_url: str, hub_worker: subprocess.Popen[bytes]
) -> None:
    blobs = str(tmp_path / "blobs")
    with HubServer(tmp_path / "data", db_url=pg_url, blobs_url=blobs) as server:
        flow = retrain_flow(server, keys, seed_run, ["--db", pg_url, "--blobs", blobs])
    assert hub_worker.poll() is None, (tmp_path / "worker.log").read_text()
    assert flow["better"]["worker"].startswith("worker@")
