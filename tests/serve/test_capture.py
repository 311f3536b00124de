"""`edgeloop serve --capture POLICY --spool DIR`: requests feed the capture; `flag=true` marks frames."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import cv2
import httpx
import numpy as np

from edgeloop.bundle import Bundle
from edgeloop.improve import Spool
from tests.conftest import scene_640x480
from tests.serve.conftest import Server, start_server

DET = "colour-yolo"
FLAGGED_ONLY = "samplers: [{type: flagged, min_score: 1.0, tags: [operator]}]\n"


def png(shift: int) -> bytes:
    """The test scene moved right by ``shift`` px: a different image (and JPEG) per request."""
    image = np.roll(scene_640x480(), shift, axis=1)
    return cv2.imencode(".png", image)[1].tobytes()


def wait_offered(server: Server, count: int) -> dict[str, int]:
    """Capture runs after the response: wait until it has seen ``count`` images."""
    deadline = time.monotonic() + 20
    while True:
        counters: dict[str, int] = httpx.get(f"{server.url}/v1/capture").json()["counters"]
        if counters["offered"] + counters["skipped:busy"] >= count or time.monotonic() > deadline:
            return counters
        time.sleep(0.02)


def test_serve_captures_flagged_requests(yolo_bundle: Bundle, tmp_path: Path) -> None:
    policy, spool = tmp_path / "policy.yaml", tmp_path / "spool"
    policy.write_text(FLAGGED_ONLY)
    server = start_server(
        [yolo_bundle.root], tmp_path / "log", "--capture", str(policy), "--spool", str(spool),
        "--device-id", "gate-1",
    )  # fmt: skip
    url = f"{server.url}/v1/models/{DET}/predict"
    try:
        plain = httpx.post(url, content=png(0), headers={"Content-Type": "image/png"})
        assert plain.status_code == 200 and len(plain.json()["predictions"]) == 2
        requests = [
            lambda i: httpx.post(f"{url}?flag=true", content=png(i), headers={"Content-Type": "image/png"}),
            lambda i: httpx.post(url, files={"file": ("s.png", png(i), "image/png")}, data={"flag": "1"}),
            lambda i: httpx.post(url, json={"image": base64.b64encode(png(i)).decode(), "flagged": True}),
            lambda i: httpx.post(url, content=png(i), headers={"Content-Type": "image/png"}),  # not flagged
            lambda i: httpx.post(
                f"{server.url}/infer/object_detection",
                json={
                    "model_id": DET,
                    "image": {"type": "base64", "value": base64.b64encode(png(i)).decode()},
                    "flag": True,
                },
            ),
        ]
        for i, send in enumerate(requests, start=1):
            response = send(i * 32)
            assert response.status_code == 200, response.text
            assert len(response.json()["predictions"]) == 2  # the answer is the same with capture on
            counters = wait_offered(server, i + 1)
        assert counters["offered"] == 6 and counters["skipped:busy"] == 0 and counters["errors"] == 0
        assert counters["kept"] == 4 and counters["dropped:not_selected"] == 2
        bad = httpx.post(f"{url}?flag=maybe", content=png(0), headers={"Content-Type": "image/png"})
        assert bad.status_code == 400 and "'flag' must be true or false" in bad.text
    finally:
        server.stop()
    assert "capture into" in server.log.read_text() and "offered 6, kept 4" in server.log.read_text()
    with Spool(spool) as reopened:
        samples = reopened.samples()
        assert reopened.verify() == []
    assert len(samples) == 4
    for sample in samples:
        record = sample.record
        assert (record.device_id, record.model_name, record.sampler, record.tags) == (
            "gate-1",
            DET,
            "flagged",
            ("operator",),
        )
        assert sorted(p["class"] for p in record.predictions["predictions"]) == ["green", "red"]
        assert (record.width, record.height) == (640, 480)


def test_capture_is_off_unless_configured(server: Server) -> None:
    assert httpx.get(f"{server.url}/v1/capture").json() == {"enabled": False}
