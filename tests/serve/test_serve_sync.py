"""`edgeloop serve --capture ... --hub URL`: flagged request images reach the real hub while serving."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from edgeloop.bundle import Bundle
from edgeloop.improve import Spool
from edgeloop.testing.hub_server import HubServer
from tests.serve.conftest import start_server
from tests.serve.test_capture import DET, FLAGGED_ONLY, png

pytest.importorskip("sqlalchemy", reason="the hub needs edgeloop[hub]")


def test_serve_syncs_captured_images_to_the_hub(
    yolo_bundle: Bundle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy, spool = tmp_path / "policy.yaml", tmp_path / "spool"
    policy.write_text(FLAGGED_ONLY)
    with HubServer(tmp_path / "data") as hub:
        token = hub.add_device("gate-1")
        monkeypatch.setenv("EDGELOOP_HUB_TOKEN", token)
        server = start_server(
            [yolo_bundle.root], tmp_path / "log", "--capture", str(policy), "--spool", str(spool),
            "--hub", hub.url, "--sync-rate", "2M",
        )  # fmt: skip
        try:
            url = f"{server.url}/v1/models/{DET}/predict"
            for i in range(1, 4):
                response = httpx.post(
                    f"{url}?flag=true", content=png(i * 32), headers={"Content-Type": "image/png"}
                )
                assert response.status_code == 200
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                listed = hub.json("GET", "/api/v1/samples?limit=100")[1]["samples"]
                if len(listed) == 3:
                    break
                time.sleep(0.1)
            assert len(listed) == 3 and {s["device"] for s in listed} == {"gate-1"}
            assert {s["sampler"] for s in listed} == {"flagged"}
        finally:
            server.stop()
    log = server.log.read_text()
    assert f"syncing {spool.resolve()} to {hub.url}" in log or f"syncing {spool} to {hub.url}" in log
    assert "sync to " in log and "acked 3" in log and token not in log
    with Spool(spool) as reopened:
        assert reopened.size == (0, 0) and reopened.counters()["acked"] == 3
