"""Devices over real HTTP: heartbeats, ETag state, revoke, resumable uploads, the CLI."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edgeloop.testing.hub_server import HubServer
from tests.hub.conftest import jpeg, meta, no_change

# Blobs play no part here: the S3 variant of the fleet set-up is left to the storage tests.
NO_BLOBS = pytest.mark.parametrize("hub_backend", ["sqlite", "postgresql"], indirect=True)


@NO_BLOBS
def test_heartbeat_shows_in_device_list(hub_server: HubServer) -> None:
    token = hub_server.add_device("cam1", group="yard")
    beat = {
        "model_version": "v7",
        "health": "ok",
        "fps": 12.5,
        "backlog": 3,
        "free_disk_bytes": 10**9,
        "x": 1,
    }
    assert hub_server.json("POST", "/api/v1/heartbeat", beat, token=token)[0] == 204
    assert hub_server.json("POST", "/api/v1/heartbeat", {"fps": "fast"}, token=token)[0] == 400
    body = hub_server.json("GET", "/api/v1/devices")[1]
    (device,) = body["devices"]
    assert (device["name"], device["group"], device["model_version"], device["health"]) == (
        "cam1",
        "yard",
        "v7",
        "ok",
    )
    assert (device["fps"], device["backlog"], device["free_disk_bytes"]) == (12.5, 3, 10**9)
    assert device["last_seen"] > 0


@NO_BLOBS
def test_state_etag_and_revoke(hub_server: HubServer) -> None:
    token = hub_server.add_device("cam1")
    other = hub_server.add_device("cam2")
    status, headers, body = hub_server.request("GET", "/api/v1/device/state", token=token)
    assert status == 200
    state = json.loads(body)
    assert (state["device"], state["group"]) == ("cam1", "default")
    assert headers["etag"] == f'"{state["event"]}"'
    status, _, _ = hub_server.request(
        "GET", "/api/v1/device/state", headers={"If-None-Match": headers["etag"]}, token=token
    )
    assert status == 304
    # another device's change is not this device's: still 304
    assert hub_server.request("DELETE", "/api/v1/devices/cam2")[0] == 204
    status, _, _ = hub_server.request(
        "GET", "/api/v1/device/state", headers={"If-None-Match": headers["etag"]}, token=token
    )
    assert status == 304
    # the revoked device is refused everywhere
    status, headers, _ = hub_server.request("GET", "/api/v1/device/state", token=other)
    assert status == 401 and headers["www-authenticate"] == "Bearer"
    assert hub_server.upload(other, jpeg(1), meta())[0] == 401
    assert hub_server.request("DELETE", "/api/v1/devices/nope")[0] == 404
    assert hub_server.json("POST", "/api/v1/devices", {"name": "cam1"})[0] == 409
    assert hub_server.json("POST", "/api/v1/devices", {"name": "../x"})[0] == 400


def _start(server: HubServer, token: str, image: bytes) -> dict[str, object]:
    sha = hashlib.sha256(image).hexdigest()
    status, body = server.json(
        "POST", "/api/v1/uploads", {"sha256": sha, "size": len(image), "meta": meta()}, token=token
    )
    assert status == 201, body
    return body


def _patch(
    server: HubServer, token: str, upload_id: object, offset: int, chunk: bytes
) -> tuple[int, dict[str, str], bytes]:
    headers = {"Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"}
    return server.request("PATCH", f"/api/v1/uploads/{upload_id}", chunk, headers, token)


def test_resumable_upload_interrupted_then_resumed(hub_server: HubServer) -> None:
    token = hub_server.add_device("cam1")
    image = jpeg(11, (640, 480))
    sha = hashlib.sha256(image).hexdigest()
    upload = _start(hub_server, token, image)
    assert upload["offset"] == 0
    third = len(image) // 3
    assert _patch(hub_server, token, upload["id"], 0, image[:third])[0] == 204
    # the device restarts: the same upload comes back with its offset
    again = _start(hub_server, token, image)
    assert (again["id"], again["offset"]) == (upload["id"], third)
    status, headers, _ = hub_server.request("HEAD", f"/api/v1/uploads/{upload['id']}", token=token)
    assert (status, headers["upload-offset"]) == (204, str(third))
    # a wrong offset is a conflict and changes nothing
    assert _patch(hub_server, token, upload["id"], 0, image[:third])[0] == 409
    assert _patch(hub_server, token, upload["id"], third + 5, image[third:])[0] == 409
    # another device cannot see or touch it
    intruder = hub_server.add_device("cam2")
    assert hub_server.request("HEAD", f"/api/v1/uploads/{upload['id']}", token=intruder)[0] == 404
    assert _patch(hub_server, token, upload["id"], third, image[third : 2 * third])[0] == 204
    status, headers, body = _patch(hub_server, token, upload["id"], 2 * third, image[2 * third :])
    assert status == 201, body
    assert json.loads(body) == {"sha256": sha, "status": "stored"}
    status, _, data = hub_server.request("GET", f"/api/v1/samples/{sha}/image")
    assert data == image
    assert hub_server.request("HEAD", f"/api/v1/uploads/{upload['id']}", token=token)[0] == 404
    chunks = list((Path(hub_server.blobs_url or "") / "uploads").rglob("*"))
    assert [c for c in chunks if c.is_file()] == []
    # starting again for a held image answers duplicate
    status, body = hub_server.json(
        "POST", "/api/v1/uploads", {"sha256": sha, "size": len(image), "meta": meta()}, token=token
    )
    assert (status, body["status"]) == (200, "duplicate")


def test_resumable_refusals(hub_server: HubServer) -> None:
    token = hub_server.add_device("cam1")
    with no_change(hub_server):
        sha = "a" * 64
        assert (
            hub_server.json(
                "POST", "/api/v1/uploads", {"sha256": sha, "size": 17 * 2**20, "meta": meta()}, token=token
            )[0]
            == 413
        )
        assert (
            hub_server.json(
                "POST", "/api/v1/uploads", {"sha256": "x", "size": 10, "meta": meta()}, token=token
            )[0]
            == 400
        )
        assert (
            hub_server.json(
                "POST",
                "/api/v1/uploads",
                {"sha256": sha, "size": 10, "meta": {"captured_at": "x"}},
                token=token,
            )[0]
            == 400
        )
        # a completed upload whose bytes are not the declared hash is refused and dropped
        image = jpeg(12)
        upload = _start(hub_server, token, image)
        status, _, body = _patch(hub_server, token, upload["id"], 0, image[:-1] + b"\0")
        assert status == 400, body
        assert hub_server.request("HEAD", f"/api/v1/uploads/{upload['id']}", token=token)[0] == 404
        # a chunk past the declared size
        upload = _start(hub_server, token, image)
        assert _patch(hub_server, token, upload["id"], 0, image + b"extra")[0] == 413
        status, headers, _ = hub_server.request("HEAD", f"/api/v1/uploads/{upload['id']}", token=token)
        assert (status, headers["upload-offset"]) == (204, "0")
        # no Upload-Offset header
        assert hub_server.request("PATCH", f"/api/v1/uploads/{upload['id']}", b"x", {}, token)[0] == 400


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "edgeloop", "hub", *args], capture_output=True, text=True, timeout=120, env=env
    )


def test_cli_device_add_ls_revoke(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    added = _cli("device", "add", "cam1", "--group", "yard", "--data", data)
    assert added.returncode == 0, added.stderr
    token = added.stdout.strip()
    assert len(token) >= 40 and token not in added.stderr
    assert _cli("device", "add", "cam1", "--data", data).returncode == 1
    listed = _cli("device", "ls", "--data", data)
    assert "cam1" in listed.stdout and "yard" in listed.stdout and "active" in listed.stdout
    with HubServer(Path(data)) as server:
        assert server.request("GET", "/api/v1/device/state", token=token)[0] == 200
        assert _cli("device", "revoke", "cam1", "--data", data).returncode == 0
        assert server.request("GET", "/api/v1/device/state", token=token)[0] == 401
    rows = [json.loads(line) for line in _cli("device", "ls", "--json", "--data", data).stdout.splitlines()]
    assert rows[0]["name"] == "cam1" and rows[0]["revoked_at"] is not None
    assert _cli("device", "revoke", "nope", "--data", data).returncode == 1
    where = _cli("token", "admin", "--data", data)
    assert "admin.token" in where.stderr
    assert (Path(data) / "admin.token").stat().st_mode & 0o777 == 0o600
    assert server.admin_token not in where.stdout + where.stderr


def test_non_loopback_needs_a_configured_token(tmp_path: Path) -> None:
    refused = _cli("serve", "--data", str(tmp_path / "d"), "--host", "0.0.0.0", "--port", "1")
    assert refused.returncode == 1
    assert "--admin-token-file" in refused.stderr and "EDGELOOP_HUB_ADMIN_TOKEN" in refused.stderr
    assert not (tmp_path / "d" / "hub.db").exists()
