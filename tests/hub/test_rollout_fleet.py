"""Rollouts end to end: simulated agents (real HTTP, own tokens) against the real hub on SQLite and
PostgreSQL. A 10% canary reaches all; a pinned device keeps its pin; an offline device catches up;
failing canaries halt the rollout and no other device is offered the version."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edgeloop.hub.blobs import open_blobs
from edgeloop.hub.db import create_engine
from edgeloop.hub.rollouts import choose_canaries
from edgeloop.testing.agent_fleet import FAIL_REASON, Fleet, publish_version, wait_for
from edgeloop.testing.hub_server import HubServer

DEVICES = 40
GROUP = "fleet"


@pytest.fixture()
def hub(hub_db: str, tmp_path: Path) -> Iterator[tuple[HubServer, Any, Any]]:
    with HubServer(tmp_path / "data", db_url=hub_db, extra_args=("--no-worker",)) as server:
        engine = create_engine(hub_db)
        blobs = open_blobs(str(tmp_path / "data" / "blobs"))
        try:
            yield server, engine, blobs
        finally:
            blobs.close()
            engine.dispose()
    assert server.leaked_tokens() == []


def _rollout(server: HubServer, rollout_id: int) -> dict[str, Any]:
    status, body = server.json("GET", f"/api/v1/rollouts/{rollout_id}")
    assert status == 200, body
    return dict(body)


def test_fleet_rollout_reaches_all_then_halts_at_failing_canaries(
    hub: tuple[HubServer, Any, Any], tmp_path: Path
) -> None:
    server, engine, blobs = hub
    v1, v2, v3 = (publish_version(engine, blobs, "det", 16 * 1024) for _ in range(3))
    names = [f"cam-{i:03d}" for i in range(DEVICES)]
    tokens = {name: server.add_device(name, GROUP) for name in [*names, "pinned"]}
    status, body = server.json("PUT", "/api/v1/devices/pinned/pin", {"model": "det", "version": v1})
    assert status == 200, body
    canaries = choose_canaries(names, "det", v2, 0.1)
    assert len(canaries) == 4
    offline = next(n for n in names if n not in canaries)

    fleet = Fleet(server.url, tmp_path / "agents", poll_s=0.5)
    try:
        for name in [*names, "pinned"]:
            if name != offline:
                fleet.start(name, tokens[name])
        status, created = server.json(
            "POST", "/api/v1/rollouts", {"model": "det", "version": v2, "group": GROUP, "canary_share": 0.1}
        )
        assert status == 201, created
        assert created["state"] == "canary" and created["canaries"] == canaries
        rid = created["id"]
        wait_for(lambda: _rollout(server, rid)["state"] == "rolling", 30, "the canaries to commit")
        wait_for(
            lambda: _rollout(server, rid)["counts"].get("committed") == DEVICES - 1, 30, "the group to commit"
        )
        assert _rollout(server, rid)["state"] == "rolling"  # the offline device is still pending
        fleet.start(offline, tokens[offline])
        wait_for(lambda: _rollout(server, rid)["state"] == "done", 30, "the offline device to catch up")
        assert fleet.offered(str(v2)) == names  # everyone, the pinned device not
        assert fleet.agents["pinned"].stats.committed == [str(v1)]

        bad = choose_canaries(names, "det", v3, 0.1)
        fleet.failing = {name: {str(v3)} for name in bad}
        status, second = server.json(
            "POST", "/api/v1/rollouts", {"model": "det", "version": v3, "group": GROUP, "canary_share": 0.1}
        )
        assert status == 201, second
        wait_for(lambda: _rollout(server, second["id"])["state"] == "halted", 30, "the rollout to halt")
        shown = _rollout(server, second["id"])
        assert shown["reason"].startswith("canary cam-") and FAIL_REASON in shown["reason"], shown["reason"]
        polls = {name: a.source.polls for name, a in fleet.agents.items()}
        wait_for(lambda: all(a.source.polls >= polls[n] + 2 for n, a in fleet.agents.items()), 15, "polls")
        offered = fleet.offered(str(v3))
        assert offered and set(offered) <= set(bad)  # canaries only (some halted before their turn)
        rows = {d["device"]: d for d in _rollout(server, second["id"])["devices"]}
        assert next(rows[n]["reason"] for n in offered if rows[n]["state"] == "rolled_back") == FAIL_REASON
        assert {rows[n]["state"] for n in names if n not in bad} == {"waiting"}
        status, assigned = server.json("GET", "/api/v1/device/assignment", token=tokens[offline])
        assert status == 200 and assigned["version"] == v2 and assigned["rollout"] == rid  # the last done
    finally:
        fleet.stop()
    assert fleet.failed_requests() == 0
