"""Rollout and pin routes on the real hub (SQLite): clear errors, canary -> promote -> pause ->
resume -> abort, the device's assignment (ETag / 304), its bundle (Range / 206, its own only),
reports; and the CLI on a data folder."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from edgeloop.cli.main import app
from edgeloop.hub import registry
from edgeloop.hub.blobs import open_blobs
from edgeloop.hub.db import create_engine
from edgeloop.testing.agent_fleet import publish_version
from edgeloop.testing.hub_server import HubServer


def _assigned(server: HubServer, token: str) -> dict[str, Any]:
    status, body = server.json("GET", "/api/v1/device/assignment", token=token)
    assert status == 200, body
    return dict(body)


def _report(server: HubServer, token: str, body: dict[str, Any]) -> tuple[int, Any]:
    return server.json("POST", "/api/v1/device/update", body, token=token)


def test_rollout_routes(sqlite_hub: HubServer, tmp_path: Path) -> None:
    server = sqlite_hub
    engine = create_engine(f"sqlite:///{server.data_dir / 'hub.db'}")
    blobs = open_blobs(str(server.data_dir / "blobs"))
    try:
        v1, v2 = publish_version(engine, blobs, "det"), publish_version(engine, blobs, "det")
        v3 = registry.reserve(engine, "det")  # a candidate: not for devices
    finally:
        blobs.close()
        engine.dispose()
    tokens = {f"d{i}": server.add_device(f"d{i}", "g") for i in range(10)}
    server.add_device("lonely", "other")

    def post(body: dict[str, Any]) -> tuple[int, Any]:
        return server.json("POST", "/api/v1/rollouts", {"model": "det", "group": "g", **body})

    status, body = post({"version": v3})
    assert status == 409 and "not published" in body["error"] and "edgeloop hub model ls" in body["error"]
    assert post({"model": "nope", "version": 1})[0] == 404
    status, body = post({"version": v2, "canary_share": 2})
    assert status == 400 and "canary_share" in body["error"]
    status, body = post({"version": v2, "group": "empty"})
    assert status == 409 and "edgeloop hub device add NAME --group empty" in body["error"]
    assert server.json("GET", "/api/v1/rollouts", token=tokens["d0"])[0] == 403
    assert server.json("GET", "/api/v1/device/assignment")[0] == 403

    status, rollout = post({"version": v2, "canary_share": 0.2, "auto_promote": False})
    assert status == 201 and rollout["state"] == "canary" and len(rollout["canaries"]) == 2, rollout
    rid, canaries = rollout["id"], rollout["canaries"]
    status, body = post({"version": v1})
    assert status == 409 and f"edgeloop hub rollout abort {rid}" in body["error"]
    others = [n for n in tokens if n not in canaries]

    # The canary's assignment, with a content ETag; the others have none yet.
    status, headers, raw = server.request("GET", "/api/v1/device/assignment", token=tokens[canaries[0]])
    offer = _assigned(server, tokens[canaries[0]])
    assert status == 200 and offer["version"] == v2 and offer["rollout"] == rid
    assert offer["url"] == f"/api/v1/device/bundle/det/{v2}"
    again = {"If-None-Match": headers["etag"]}
    assert server.request("GET", "/api/v1/device/assignment", None, again, tokens[canaries[0]])[0] == 304
    assert _assigned(server, tokens[others[0]]) == {"model": None}

    # The bundle: whole, resumed from a byte, past the end; never another device's version.
    status, _, whole = server.request("GET", offer["url"], token=tokens[canaries[0]])
    assert status == 200 and len(whole) == offer["size"]
    assert hashlib.sha256(whole).hexdigest() == offer["sha256"]
    status, headers, tail = server.request(
        "GET", offer["url"], None, {"Range": "bytes=1000-"}, tokens[canaries[0]]
    )
    assert status == 206 and tail == whole[1000:]
    assert headers["content-range"] == f"bytes 1000-{len(whole) - 1}/{len(whole)}"
    assert (
        server.request("GET", offer["url"], None, {"Range": f"bytes={len(whole)}-"}, tokens[canaries[0]])[0]
        == 416
    )
    status, _, raw = server.request("GET", offer["url"], token=tokens[others[0]])
    assert status == 403 and b"not assigned to this device" in raw

    # Reports: validated; all canaries committed without auto-promote waits for an admin.
    base = {"model": "det", "version": v2, "rollout": rid, "reason": "", "detail": {"p95_ms": 12.5}}
    assert _report(server, tokens[canaries[0]], {**base, "state": "dancing"})[0] == 400
    assert _report(server, tokens[canaries[0]], {**base, "version": v1, "state": "committed"})[0] == 409
    assert _report(server, tokens[canaries[0]], {**base, "rollout": 999, "state": "committed"})[0] == 404
    assert _report(server, server.add_device("x", "other"), {**base, "state": "committed"})[0] == 409
    for name in canaries:
        assert _report(server, tokens[name], {**base, "state": "committed"}) == (204, None)
    status, shown = server.json("GET", f"/api/v1/rollouts/{rid}")
    assert shown["state"] == "canary" and "edgeloop hub rollout promote" in shown["reason"]
    assert shown["counts"] == {"committed": 2, "waiting": 8}
    assert [d["detail"] for d in shown["devices"] if d["device"] == canaries[0]] == [{"p95_ms": 12.5}]

    status, body = server.json("POST", f"/api/v1/rollouts/{rid}/promote")
    assert status == 200 and body["state"] == "rolling"
    assert _assigned(server, tokens[others[0]])["version"] == v2
    assert _report(server, tokens[others[0]], {**base, "state": "downloading"})[0] == 204
    assert server.json("POST", f"/api/v1/rollouts/{rid}/pause")[1]["state"] == "paused"
    assert _assigned(server, tokens[others[0]])["version"] == v2  # started: goes on
    assert _assigned(server, tokens[others[1]]) == {"model": None}  # not started: waits
    assert server.json("POST", f"/api/v1/rollouts/{rid}/promote")[0] == 409  # paused in rolling
    assert server.json("POST", f"/api/v1/rollouts/{rid}/resume")[1]["state"] == "rolling"
    assert server.json("POST", f"/api/v1/rollouts/{rid}/explode")[0] == 400
    assert server.json("POST", f"/api/v1/rollouts/{rid}/abort")[1]["state"] == "aborted"
    status, body = server.json("POST", f"/api/v1/rollouts/{rid}/abort")
    assert status == 409 and "already aborted" in body["error"]
    assert _assigned(server, tokens[canaries[0]])["version"] == v2  # committed: keeps it
    assert _assigned(server, tokens[others[0]]) == {"model": None}

    # Pins win over rollouts; reports on a pin are kept; unpin twice is a 404.
    status, body = server.json("PUT", "/api/v1/devices/d0/pin", {"model": "det", "version": v1})
    assert status == 200, body
    pinned = _assigned(server, tokens["d0"])
    assert (pinned["version"], pinned["rollout"]) == (v1, None)
    assert (
        _report(server, tokens["d0"], {**base, "version": v1, "rollout": None, "state": "committed"})[0]
        == 204
    )
    assert (
        _report(server, tokens["d1"], {**base, "version": v1, "rollout": None, "state": "committed"})[0]
        == 409
    )
    assert server.json("PUT", "/api/v1/devices/ghost/pin", {"model": "det", "version": v1})[0] == 404
    assert server.json("PUT", "/api/v1/devices/d0/pin", {"model": "det", "version": v3})[0] == 409
    assert server.json("DELETE", "/api/v1/devices/d0/pin")[0] == 204
    assert server.json("DELETE", "/api/v1/devices/d0/pin")[0] == 404
    status, listed = server.json("GET", "/api/v1/rollouts")
    assert [r["id"] for r in listed["rollouts"]] == [rid] and listed["rollouts"][0]["counts"][
        "committed"
    ] == 2


def test_rollout_cli(tmp_path: Path) -> None:
    runner = CliRunner()
    data = tmp_path / "hub-data"
    d = ("--data", str(data))

    def run(*args: str) -> tuple[int, str, str]:
        result = runner.invoke(app, ["hub", *args, *d])
        return result.exit_code, result.stdout, result.stderr

    for i in range(4):
        assert run("device", "add", f"cam{i}", "--group", "yard")[0] == 0
    engine = create_engine(f"sqlite:///{data / 'hub.db'}")
    blobs = open_blobs(str(data / "blobs"))
    try:
        v1, v2 = publish_version(engine, blobs, "det"), publish_version(engine, blobs, "det")
    finally:
        blobs.close()
        engine.dispose()
    code, out, err = run(
        "rollout", "create", "det", str(v2), "--group", "yard", "--canary", "0.25", "--no-auto-promote"
    )
    assert code == 0, err
    rid = out.strip()
    assert f"rollout {rid}: det@{v2} to group yard, canary" in err and "canaries: cam" in err
    code, out, _ = run("rollout", "ls")
    assert code == 0 and out.split()[:4] == [rid, f"det@{v2}", "yard", "canary"] and "0/1" in out
    code, out, _ = run("rollout", "show", rid)
    assert code == 0 and out.count("canary") >= 2 and "pending" in out and "waiting" in out
    assert "rolling" in run("rollout", "promote", rid)[2]
    assert "paused" in run("rollout", "pause", rid)[2]
    assert "rolling" in run("rollout", "resume", rid)[2]
    assert "aborted" in run("rollout", "abort", rid)[2]
    code, _, err = run("rollout", "abort", rid)
    assert code != 0 and "already aborted" in err
    code, _, err = run("rollout", "show", "99")
    assert code != 0 and "no rollout 99" in err
    code, _, err = run("device", "pin", "cam1", "det", str(v1))
    assert code == 0 and f"pinned to det@{v1}" in err
    assert run("device", "unpin", "cam1")[0] == 0
    code, _, err = run("device", "unpin", "cam1")
    assert code != 0 and "has no pin" in err
