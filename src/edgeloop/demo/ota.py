"""The demo's over-the-air step: a published model version reaches the device's models folder.

``roll_out_and_switch`` is written against the OTA contract (issue 16): the hub's rollouts
(``POST /api/v1/rollouts``) and the device's agent (``edgeloop agent --hub URL --token T --models
DIR --keys keyring.json --once``), which verifies the signed bundle, checks it, and switches
``<models>/current``. Where this build has no rollouts or no agent yet, the step installs the
version by hand instead (download from the registry, verify the signature against the device's
key ring, switch ``current`` the way the agent does) and says so: ``Switch.how``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from edgeloop.agent.layout import CURRENT, PREVIOUS, VERSIONS, current_bundle
from edgeloop.demo.hubproc import DemoError, Hub, run_cli

AGENT_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class Switch:
    """Where the device's ``current`` points after the step, and how it got there."""

    version: str
    bundle: Path
    how: str  # "rollout + agent" or "by hand (...)"
    state: str  # the agent's state.json state, or "installed"


def ota_in_this_build(hub: Hub) -> bool:
    """The hub answers ``GET /api/v1/rollouts`` and the agent's hub client is installed."""
    if importlib.util.find_spec("edgeloop.agent.hubclient") is None:
        return False
    status, _ = hub.request("GET", "/api/v1/rollouts")
    return status == 200


def roll_out_and_switch(
    hub: Hub, model: str, version: int, group: str, token: str, models: Path, keyring: Path, log: Path
) -> Switch:
    """Roll ``model@version`` out to ``group`` and let the device's agent switch to it."""
    models.mkdir(parents=True, exist_ok=True)
    if not ota_in_this_build(hub):
        return _install_by_hand(hub, model, version, models, keyring)
    body = {"model": model, "version": version, "group": group, "canary_share": 1.0, "auto_promote": True}
    hub.json("POST", "/api/v1/rollouts", body)
    args = ["agent", "--hub", hub.url, "--token", token, "--models", str(models), "--keys", str(keyring)]
    run_cli(*args, "--once", log=log, timeout_s=AGENT_TIMEOUT_S, env={"EDGELOOP_HUB_TOKEN": token})
    bundle = current_bundle(models)
    state = json.loads((models / "state.json").read_text()) if (models / "state.json").exists() else {}
    if bundle is None:
        raise DemoError(f"the agent did not install {model}@{version}: state {state}; log {log}")
    served = json.loads((bundle / "bundle.json").read_text()).get("version")
    if str(served) != str(version):
        raise DemoError(f"the device runs {model}@{served}, not {version}: agent state {state}; log {log}")
    return Switch(str(version), bundle, "rollout + agent", str(state.get("state", "?")))


def _install_by_hand(hub: Hub, model: str, version: int, models: Path, keyring: Path) -> Switch:
    """Download the registry's bundle, verify it against ``keyring``, and switch ``current``."""
    from edgeloop.archive import extract_tar
    from edgeloop.signing import Keyring, verify_bundle

    status, tar = hub.request("GET", f"/api/v1/models/{model}/{version}/bundle")
    if status != 200:
        raise DemoError(f"GET /api/v1/models/{model}/{version}/bundle: {status}")
    with tempfile.TemporaryDirectory(dir=models) as tmp:
        archive = Path(tmp) / "bundle.tar"
        archive.write_bytes(tar)
        unpacked = Path(tmp) / "bundle"
        extract_tar(archive, unpacked)
        manifest = verify_bundle(unpacked, Keyring.load(keyring))
        digest = hashlib.sha256((unpacked / "bundle.json").read_bytes()).hexdigest()[:12]
        final = models / VERSIONS / f"{manifest.counter or 0:08d}-{digest}"
        if not final.exists():
            final.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(unpacked), final)
    old = current_bundle(models)
    if old is not None and old != final:
        _link(models, PREVIOUS, old)
    _link(models, CURRENT, final)
    why = "by hand: no rollouts/agent in this build; downloaded, signature verified, current switched"
    return Switch(str(version), final, why, "installed")


def _link(models: Path, name: str, target: Path) -> None:
    """Point ``models/name`` at ``target`` (relative) with one ``os.replace``, then fsync the folder."""
    tmp = models / f".{name}.{os.getpid()}.{time.monotonic_ns()}"
    os.symlink(os.path.relpath(target, models), tmp)
    os.replace(tmp, models / name)
    fd = os.open(models, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
