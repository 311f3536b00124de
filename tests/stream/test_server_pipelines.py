"""`edgeloop serve` starts and stops video pipelines over HTTP (/v1/pipelines), in a real server process."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from edgeloop.bundle import Bundle
from tests.serve.conftest import Server, start_server
from tests.stream.conftest import RtspServer
from tests.stream.test_sinks import probe_frames


@pytest.fixture(scope="module")
def pipeline_server(
    yolo_bundle: Bundle, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Server, Path]]:
    base = tmp_path_factory.mktemp("pipelines")
    out = base / "out"
    out.mkdir()
    srv = start_server(
        [yolo_bundle.root], base / "server.log", "--output-dir", str(out), "--max-pipelines", "2"
    )
    yield srv, out
    srv.stop()


def wait_for(url: str, states: set[str], timeout_s: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = httpx.get(url, timeout=5).json()
        if status["state"] in states:
            return status
        time.sleep(0.2)
    raise AssertionError(f"pipeline never reached {states}: {status}")


def test_pipeline_runs_a_file_to_the_end(pipeline_server: tuple[Server, Path], clip: Path) -> None:
    srv, out = pipeline_server
    body = {"model": "colour-yolo", "sources": [str(clip)], "sinks": ["jsonl:run1/out.jsonl"], "workers": 2}
    created = httpx.post(f"{srv.url}/v1/pipelines", json=body, timeout=30)
    assert created.status_code == 201, created.text
    status = created.json()
    assert status["state"] in ("running", "ended") and status["sources"] == {"cam0": str(clip)}
    final = wait_for(f"{srv.url}/v1/pipelines/{status['id']}", {"ended", "failed"})
    assert final["state"] == "ended", final
    assert final["summary"]["frames"] == 100 and final["error"] is None
    frames = [json.loads(line) for line in (out / "run1" / "out.jsonl").read_text().splitlines()]
    frames = [f for f in frames if "frame" in f]
    assert [f["frame"] for f in frames] == list(range(100))
    assert all(len(f["predictions"]) == 1 for f in frames)
    listed = httpx.get(f"{srv.url}/v1/pipelines", timeout=5).json()["pipelines"]
    assert status["id"] in [p["id"] for p in listed]
    assert httpx.delete(f"{srv.url}/v1/pipelines/{status['id']}", timeout=10).status_code == 200
    assert httpx.get(f"{srv.url}/v1/pipelines/{status['id']}", timeout=5).status_code == 404


@pytest.mark.alone  # asserts a latency of seconds: not beside another test
def test_delete_stops_a_live_pipeline_quickly_with_complete_files(
    pipeline_server: tuple[Server, Path], rtsp_server: RtspServer
) -> None:
    srv, out = pipeline_server
    body = {
        "model": "colour-yolo",
        "sources": [rtsp_server.url],
        "sinks": ["jsonl:run2.jsonl", "video:run2.mp4"],
    }
    created = httpx.post(f"{srv.url}/v1/pipelines", json=body, timeout=30)
    assert created.status_code == 201, created.text
    url = f"{srv.url}/v1/pipelines/{created.json()['id']}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and httpx.get(url, timeout=5).json()["stats"]["cam0"]["frames"] < 15:
        time.sleep(0.1)
    running = httpx.get(url, timeout=5).json()
    assert running["state"] == "running", running
    t0 = time.monotonic()
    stopped = httpx.delete(url, timeout=10).json()
    assert time.monotonic() - t0 < 2.0
    assert stopped["state"] == "stopped" and stopped["summary"]["stopped"] is True
    text = (out / "run2.jsonl").read_text()
    assert text.endswith("\n")
    frames = [r for r in map(json.loads, text.splitlines()) if "frame" in r]
    assert len(frames) >= 15
    assert probe_frames(out / "run2.mp4") == len(frames), "the mp4 is finalised and holds every frame"


@pytest.mark.parametrize(
    ("change", "code", "message"),
    [
        ({"model": "nope"}, 404, "unknown model 'nope'"),
        ({"sinks": ["jsonl:../escape.jsonl"]}, 400, "without '..'"),
        ({"sinks": ["video:/etc/x.mp4"]}, 400, "relative path"),
        ({"sinks": ["jsonl:-"]}, 400, "relative path"),
        ({"sources": []}, 400, "sources"),
        ({"sources": ["/no/such/video.mp4"]}, 400, "no/such/video.mp4"),
        ({"zones": {"zones": "not a list"}}, 400, "zones"),
        ({"surprise": 1}, 400, "surprise"),
    ],
)
def test_bad_specs_are_refused_clearly(
    pipeline_server: tuple[Server, Path], clip: Path, change: dict[str, Any], code: int, message: str
) -> None:
    srv, _ = pipeline_server
    body = {"model": "colour-yolo", "sources": [str(clip)], "sinks": [], **change}
    response = httpx.post(f"{srv.url}/v1/pipelines", json=body, timeout=30)
    assert response.status_code == code, response.text
    assert message in response.json()["error"]
    assert httpx.get(f"{srv.url}/healthz", timeout=5).status_code == 200


def test_pipeline_limit_and_unknown_ids(
    pipeline_server: tuple[Server, Path], rtsp_server: RtspServer
) -> None:
    srv, _ = pipeline_server
    body = {"model": "colour-yolo", "sources": [rtsp_server.url]}
    ids = [httpx.post(f"{srv.url}/v1/pipelines", json=body, timeout=30).json()["id"] for _ in range(2)]
    third = httpx.post(f"{srv.url}/v1/pipelines", json=body, timeout=30)
    assert third.status_code == 429 and "limit" in third.json()["error"]
    for pipeline_id in ids:
        assert httpx.delete(f"{srv.url}/v1/pipelines/{pipeline_id}", timeout=10).status_code == 200
    assert httpx.delete(f"{srv.url}/v1/pipelines/{ids[0]}", timeout=10).status_code == 404


def test_file_sinks_need_an_output_dir(yolo_bundle: Bundle, clip: Path, tmp_path: Path) -> None:
    srv = start_server([yolo_bundle.root], tmp_path / "server.log")
    try:
        body = {"model": "colour-yolo", "sources": [str(clip)], "sinks": ["jsonl:x.jsonl"]}
        response = httpx.post(f"{srv.url}/v1/pipelines", json=body, timeout=30)
        assert response.status_code == 400 and "--output-dir" in response.json()["error"]
    finally:
        srv.stop()
