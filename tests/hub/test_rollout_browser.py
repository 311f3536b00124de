"""The Rollouts tab in a real headless Chromium against the real hub: progress and counts by state,
a halted rollout's reason naming the failed canary, each device's state and reason, and the
promote button."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgeloop.hub.blobs import open_blobs
from edgeloop.hub.db import create_engine
from edgeloop.testing.agent_fleet import publish_version
from edgeloop.testing.hub_server import HubServer
from tests.hub.test_browser import browser, open_page  # noqa: F401 - the shared Chromium fixture

REASON = "window: p95 latency 41 ms > 3x the previous 9 ms"


def test_rollouts_tab(browser: Any, tmp_path: Path) -> None:  # noqa: F811
    with HubServer(tmp_path / "data", extra_args=("--no-worker",)) as server:
        engine = create_engine(f"sqlite:///{tmp_path / 'data' / 'hub.db'}")
        blobs = open_blobs(str(tmp_path / "data" / "blobs"))
        try:
            v1 = publish_version(engine, blobs, "det", 1024)
        finally:
            blobs.close()
            engine.dispose()
        tokens = {f"cam{i}": server.add_device(f"cam{i}", "yard") for i in range(10)}
        tokens |= {f"gate{i}": server.add_device(f"gate{i}", "gates") for i in range(4)}
        status, halted = server.json(
            "POST", "/api/v1/rollouts", {"model": "det", "version": v1, "group": "yard", "canary_share": 0.2}
        )
        assert status == 201, halted
        first, second = halted["canaries"]
        base = {"model": "det", "version": v1, "rollout": halted["id"]}
        assert (
            server.json("POST", "/api/v1/device/update", {**base, "state": "committed"}, tokens[first])[0]
            == 204
        )
        failed = {**base, "state": "rolled_back", "reason": REASON}
        assert server.json("POST", "/api/v1/device/update", failed, tokens[second])[0] == 204
        status, waiting = server.json(
            "POST",
            "/api/v1/rollouts",
            {"model": "det", "version": v1, "group": "gates", "canary_share": 0.25, "auto_promote": False},
        )
        assert status == 201, waiting

        with open_page(browser) as (page, errors):
            page.goto(f"{server.url}/#token={server.admin_token}&tab=rollouts")
            row = f"#rollouts tbody tr[data-id='{halted['id']}']"
            page.wait_for_selector(f"{row}[data-state='halted']")
            assert page.inner_text(f"{row} td.reason") == f"canary {second}: rolled_back: {REASON}"
            assert page.inner_text(f"{row} td.counts") == "committed 1, waiting 8, rolled_back 1"
            assert page.inner_text(f"{row} td.progress").strip() == "1/10"
            page.click(f"{row} button[data-action='devices']")
            device = f"#rollout-devices tbody tr[data-device='{second}']"
            page.wait_for_selector(f"{device}[data-state='rolled_back']")
            assert page.inner_text(f"{device} td.reason") == REASON
            assert page.inner_text(f"{device} td.canary") == "canary"
            assert (
                page.get_attribute(f"#rollout-devices tbody tr[data-device='{first}']", "data-state")
                == "committed"
            )
            assert page.get_attribute("#rollout-devices tbody tr[data-device='cam9']", "data-state") in (
                "waiting",
                "committed",
            )

            other = f"#rollouts tbody tr[data-id='{waiting['id']}']"
            page.click(f"{other} button[data-action='promote']")
            page.wait_for_selector(f"{other}[data-state='rolling']")
            assert server.json("GET", f"/api/v1/rollouts/{waiting['id']}")[1]["state"] == "rolling"
            assert errors == []
