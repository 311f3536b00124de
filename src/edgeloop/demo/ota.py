"""The demo's over-the-air step: a published version reaches the device through a rollout.

``roll_out_and_switch`` creates a rollout on the hub (``POST /api/v1/rollouts`` for the device's
group; the one device is its canary, auto-promoted) and runs the device's agent once
(``edgeloop agent --hub URL --models DIR --keys keyring.json --once``, the device token in
``EDGELOOP_DEVICE_TOKEN``): it downloads the bundle, verifies its signature against the device's
key ring, runs the health check, switches ``<models>/current``, watches the window and commits,
reporting each state to the hub. The step ends when the hub says the rollout is done.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeloop.agent.layout import current_bundle
from edgeloop.demo.hubproc import DemoError, Hub, run_cli

AGENT_TIMEOUT_S = 300.0
ROLLOUT_DONE_S = 60.0
WINDOW_S = 3.0  # the agent's watch after the switch (no serving process runs during it here)


@dataclass(frozen=True)
class Switch:
    """Where the device's ``current`` points after the step, and what the hub and agent said."""

    version: str
    bundle: Path
    how: str


def roll_out_and_switch(
    hub: Hub, model: str, version: int, group: str, token: str, models: Path, keyring: Path, log: Path
) -> Switch:
    """Roll ``model@version`` out to ``group`` and let the device's agent switch to it.

    Raises:
        DemoError: the agent did not commit the version, or the rollout did not finish.
    """
    models.mkdir(parents=True, exist_ok=True)
    body = {"model": model, "version": version, "group": group, "canary_share": 0.1, "auto_promote": True}
    rollout = hub.json("POST", "/api/v1/rollouts", body)
    args = ["agent", "--hub", hub.url, "--models", str(models), "--keys", str(keyring), "--once"]
    args += ["--poll-s", "0.5", "--window-s", str(WINDOW_S)]
    run_cli(*args, log=log, timeout_s=AGENT_TIMEOUT_S, env={"EDGELOOP_DEVICE_TOKEN": token})
    state = _read_state(models)
    bundle = current_bundle(models)
    served = json.loads((bundle / "bundle.json").read_text()).get("version") if bundle else None
    if bundle is None or str(served) != str(version):
        raise DemoError(f"the device runs {model}@{served}, not {version}: agent state {state}; log {log}")
    done = _wait_done(hub, int(rollout["id"]))
    how = f"rollout {rollout['id']} {done}; agent {state.get('state')}"
    return Switch(str(version), bundle, how)


def _read_state(models: Path) -> dict[str, Any]:
    path = models / "state.json"
    found: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    return found


def _wait_done(hub: Hub, rollout_id: int) -> str:
    """Wait until the hub has the agent's reports and calls the rollout done; its state."""
    deadline = time.monotonic() + ROLLOUT_DONE_S
    while True:
        shown = hub.json("GET", f"/api/v1/rollouts/{rollout_id}")
        if shown["state"] == "done" or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    if shown["state"] != "done":
        raise DemoError(f"rollout {rollout_id} is {shown['state']} ({shown.get('reason')}), not done")
    return "done"
