"""`edgeloop serve --models DIR` follows the models folder's `current` link without failing a request.

A real server process, 16 clients posting a JPEG all along, and the link moved by hand as the agent
moves it: between good versions, to one that does not load, and back (a rollback).
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest

from edgeloop.agent.stats import read_stats
from edgeloop.serve.config import ServeConfig
from edgeloop.serve.follow import follow
from edgeloop.serve.manager import ModelManager
from edgeloop.serve.metrics import Metrics
from edgeloop.testing.loadgen import LoadGen
from edgeloop.testing.model_versions import base_bundle, install, switch
from tests.conftest import run_cli, scene_640x480
from tests.serve.conftest import Server, start_server


class ListRecorder:
    """A UsageRecorder that keeps every call (the agent's stats file is another one)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[object, ...]]] = []
        self.lock = threading.Lock()

    def serving(self, key: str) -> None:
        with self.lock:
            self.calls.append(("serving", (key,)))

    def load_failed(self, key: str, error: str) -> None:
        with self.lock:
            self.calls.append(("load_failed", (key, error)))

    def record(self, key: str, latency_ms: float, ok: bool, detections: int, confidence_sum: float) -> None:
        with self.lock:
            self.calls.append(("record", (key, latency_ms, ok, detections, confidence_sum)))

    def close(self) -> None:
        pass


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("follow")
    base = base_bundle(root)
    models = root / "models"
    keys = {v: install(models, base, v, n) for n, v in enumerate(["1", "2", "3"], start=1)}
    keys["bad"] = install(models, base, "4", 4, broken=True)
    switch(models, keys["1"])
    return models, keys


@pytest.fixture(scope="module")
def server(folder: tuple[Path, dict[str, str]], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    models, keys = folder
    switch(models, keys["1"])
    srv = start_server([], tmp_path_factory.mktemp("serve") / "server.log", "--models", str(models))
    yield srv
    srv.stop()


def jpeg() -> bytes:
    ok, data = cv2.imencode(".jpg", scene_640x480(), [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    return data.tobytes()


def served_version(url: str) -> str:
    models = httpx.get(f"{url}/v1/models", timeout=5).json()["models"]
    return str(models[0]["version"])


def wait_version(url: str, version: str, timeout_s: float = 15.0) -> float:
    """Wait until the server answers with ``version``; when it did (monotonic)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if served_version(url) == version:
            return time.monotonic()
        time.sleep(0.05)
    raise AssertionError(f"the server did not switch to version {version} in {timeout_s} s")


@pytest.mark.alone
def test_switches_under_load_fail_no_request(server: Server, folder: tuple[Path, dict[str, str]]) -> None:
    models, keys = folder
    assert served_version(server.url) == "1"
    switches: list[tuple[float, float]] = []  # (link moved, new version answering or refused)

    def to(version: str) -> None:
        moved = time.monotonic()
        switch(models, keys[version])
        if version == "bad":  # does not load: the version before keeps serving
            time.sleep(2.0)
            assert served_version(server.url) == "3"
            switches.append((moved, moved + 1.0))
        else:
            switches.append((moved, wait_version(server.url, version)))
        time.sleep(1.5)

    with LoadGen(server.url, "colour", jpeg(), clients=16) as load:
        began = time.monotonic()
        time.sleep(2.0)
        for version in ["2", "3", "bad", "2"]:  # good updates, a rejection, a rollback
            to(version)
    time.sleep(1.5)  # the stats file is rewritten about once a second
    stats = read_stats(models)
    report = load.report()
    assert report.total > 200, report.total
    assert report.failed == 0, report.failures()
    # what the agent's health window reads: this server, serving version 2, every request counted
    assert stats.serving_keys() == {f"serve-{server.process.pid}": keys["2"]}
    failure = stats.load_failure(keys["bad"])
    assert failure is not None and "sha256 mismatch" in failure, failure
    assert sum(stats.version(keys[v]).requests for v in ["1", "2", "3"]) == report.total
    assert sum(stats.version(keys[v]).errors for v in ["1", "2", "3"]) == 0
    assert stats.version(keys["bad"]).requests == 0
    answered = report.versions()
    assert set(answered) == {"1", "2", "3"}, set(answered)
    assert answered[-1] == "2"
    log = server.log.read_text()
    assert f"version {keys['bad']} did not load, {keys['3']} keeps serving" in log, log
    # p99 of the requests in flight from each switch until 0.5 s after it settled, against the
    # steady state: requests in flight from 0.5 s after one settled until the next switch
    settled = [began + 0.5] + [done + 0.5 for _, done in switches]
    steady_spans = list(zip(settled, [moved for moved, _ in switches], strict=False))
    steady_latencies = [r for a, b in steady_spans for r in report.between(a, b) if r.ok]
    steady = float(np.percentile([r.latency_s * 1000 for r in steady_latencies], 99))
    during = statistics.median(report.percentile(99, moved, done + 0.5) for moved, done in switches)
    print(f"requests {report.total}, p99 steady {steady:.1f} ms, during a switch {during:.1f} ms")
    assert during <= 2 * steady, (during, steady)


def test_follow_records_requests_and_load_failures(folder: tuple[Path, dict[str, str]]) -> None:
    models, keys = folder
    switch(models, keys["1"])
    manager = ModelManager(ServeConfig(), Metrics())
    recorder = ListRecorder()
    first = manager.load(models / "versions" / keys["1"])
    watcher = follow(manager, models, first, keys["1"], recorder, poll_s=3600)  # checked by hand below
    try:
        from edgeloop.serve.inference import run_image

        data = jpeg()
        worker = manager.get("colour")
        run_image(worker, data, worker.predictor.options(), 10)
        switch(models, keys["bad"])
        assert watcher.check() is False
        assert manager.get("colour").version == "1"
        switch(models, keys["1"])  # the agent rolls back: nothing to load
        assert watcher.check() is False and manager.get("colour") is worker
        switch(models, keys["2"])
        assert watcher.check() is True
        worker = manager.get("colour")
        assert worker.version == "2"
        run_image(worker, data, worker.predictor.options(), 10)
    finally:
        watcher.close()
        manager.close()
    kinds = [(kind, args[0]) for kind, args in recorder.calls]
    assert kinds == [
        ("serving", keys["1"]),
        ("record", keys["1"]),
        ("load_failed", keys["bad"]),
        ("serving", keys["2"]),
        ("record", keys["2"]),
    ]
    record = recorder.calls[-1][1]
    ok, detections, confidence_sum = record[2], int(record[3]), float(record[4])  # type: ignore[call-overload]
    assert ok is True and detections >= 2  # the red and the green square (cut by the JPEG's blocks)
    assert 0.5 * detections < confidence_sum <= detections


def test_nothing_to_serve_is_one_error_naming_the_fix(tmp_path: Path) -> None:
    result = run_cli("serve", "--port", "0")
    assert result.returncode == 1 and "nothing to serve: give bundle folders" in result.stderr
    result = run_cli("serve", "--models", str(tmp_path), "--port", "0")
    assert result.returncode == 1, result.stderr
    assert "has no current version" in result.stderr and "edgeloop agent" in result.stderr
    result = run_cli("run", "--models", str(tmp_path), "--source", str(tmp_path))
    assert result.returncode == 1 and "has no current version" in result.stderr
