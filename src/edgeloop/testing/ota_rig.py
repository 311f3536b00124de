"""The whole OTA path with the real processes, for the end-to-end test and benchmark.

``OtaRig(work).start()`` runs:

- the hub (``edgeloop hub serve`` on SQLite, over HTTP) with one device ``cam`` in group ``line``;
- a key folder for the hub (``ota_bundles.make_keys``: its ring, with one revoked key, is the
  device's ``--keys``);
- ``edgeloop agent --hub URL --models DIR --keys keyring.json`` as a subprocess (the real
  ``ProcessHealthCheck`` and ``StatsWindow``, a short ``--window-s``);
- once the first version is committed (:meth:`serve`): ``edgeloop serve --models DIR`` and the
  16-client ``LoadGen`` posting a frame the colour detector finds red and blue squares in (so the
  window's detection-rate drift sees the ``worse_live`` kind lose its blue ones).

:meth:`update` publishes a bundle in the hub's registry, rolls it out to the group and waits for
the device's final state on that rollout as the hub shows it (``GET /api/v1/rollouts/{id}``).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edgeloop.agent.contract import FINAL_STATES
from edgeloop.hub.blobs import open_blobs
from edgeloop.hub.db import create_engine
from edgeloop.testing.bad_models import BGR, SIZE, good_bundle
from edgeloop.testing.hub_server import HubServer, free_port
from edgeloop.testing.loadgen import LoadGen, Report
from edgeloop.testing.ota_bundles import RigKeys, make_keys, publish_signed, publish_unverified

MODEL, GROUP, DEVICE = "colour", "line", "cam"


def live_frame() -> bytes:
    """A JPEG the colour detector finds three squares in: one red, two blue."""
    image = np.full((SIZE, SIZE, 3), 128, np.uint8)
    image[32:128, 32:128] = BGR["red"]
    image[32:128, 192:288] = BGR["blue"]
    image[192:288, 96:192] = BGR["blue"]
    ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    return bytes(jpeg.tobytes())


@dataclass(frozen=True)
class Update:
    """One rollout as the hub showed it for the device: its final state and reason, and when."""

    rollout: int
    version: int
    state: str
    reason: str
    started: float  # time.monotonic() when the rollout was created
    ended: float  # when the hub first showed the final state
    shown: dict[str, Any]  # GET /api/v1/rollouts/{id}


class OtaRig:
    """The hub, the device's agent and its ``serve --models`` under load (see the module docstring)."""

    def __init__(
        self,
        work: Path,
        window_s: float = 2.0,
        clients: int = 16,
        poll_s: float = 0.2,
        check_timeout_s: float = 20.0,
        check_cpu_s: float | None = 4.0,
    ) -> None:
        self.work = work
        self.check_timeout_s, self.check_cpu_s = check_timeout_s, check_cpu_s
        self.window_s, self.clients, self.poll_s = window_s, clients, poll_s
        self.models = work / "models"
        self.hub = HubServer(work / "data")
        self.keys: RigKeys | None = None
        self.good: Path | None = None
        self.agent: subprocess.Popen[bytes] | None = None
        self.server: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.load: LoadGen | None = None
        self.token = ""

    # -- processes -----------------------------------------------------------------------------

    def start(self) -> OtaRig:
        """The hub, keys, the good bundle, the device ``cam`` and its agent."""
        self.work.mkdir(parents=True, exist_ok=True)
        self.keys = make_keys(self.work)
        self.good = good_bundle(self.work / "corpus")
        self.hub.start()
        self.token = self.hub.add_device(DEVICE, GROUP)
        args = [
            "agent",
            "--hub",
            self.hub.url,
            "--models",
            str(self.models),
            "--keys",
            str(self.keys.keyring),
        ]
        args += ["--poll-s", str(self.poll_s), "--window-s", str(self.window_s)]
        args += ["--check-timeout-s", str(self.check_timeout_s)]
        args += ["--check-cpu-s", str(self.check_cpu_s)] if self.check_cpu_s is not None else []
        self.agent = self._spawn(args, "agent", {"EDGELOOP_DEVICE_TOKEN": self.token})
        return self

    def _spawn(
        self, args: list[str], name: str, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        log = open(self.work / f"{name}.log", "ab")  # noqa: SIM115 - the child writes to it until it exits
        full = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        proc = subprocess.Popen([sys.executable, "-m", "edgeloop", *args], stdout=log, stderr=log, env=full)
        log.close()
        return proc

    def log(self, name: str) -> str:
        path = self.work / f"{name}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def serve(self, timeout_s: float = 60.0) -> LoadGen:
        """``edgeloop serve --models`` on the device's folder and the load generator against it."""
        self.port = free_port()
        self.server = self._spawn(["serve", "--models", str(self.models), "--port", str(self.port)], "serve")
        deadline = time.monotonic() + timeout_s
        while not self.serve_ready():
            if self.server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"serve did not start:\n{self.log('serve')}")
            time.sleep(0.2)
        url = f"http://127.0.0.1:{self.port}"
        self.load = LoadGen(url, MODEL, live_frame(), clients=self.clients).start()
        return self.load

    def serve_ready(self) -> bool:
        """Whether the serve process answers /healthz."""
        import http.client

        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
        try:
            conn.request("GET", "/healthz")
            return conn.getresponse().status == 200
        except OSError:
            return False
        finally:
            conn.close()

    def stop(self) -> Report | None:
        """Stop the load generator, serve, the agent and the hub; the load report (None: no load ran)."""
        report = self.load.stop() if self.load is not None else None
        for proc in (self.server, self.agent):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
        self.hub.stop()
        return report

    def __enter__(self) -> OtaRig:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the hub's registry and rollouts -------------------------------------------------------

    @contextlib.contextmanager
    def _registry(self) -> Any:
        engine = create_engine(f"sqlite:///{self.hub.data_dir / 'hub.db'}")
        blobs = open_blobs(str(self.hub.data_dir / "blobs"))
        try:
            yield engine, blobs
        finally:
            blobs.close()
            engine.dispose()

    def publish(self, bundle: Path) -> int:
        """``bundle`` signed with the hub's key and published (as ``hub model add`` does); its version."""
        assert self.keys is not None
        with self._registry() as (engine, blobs):
            return publish_signed(engine, blobs, bundle, MODEL, self.keys)

    def publish_unverified(self, kind: str) -> int:
        """A bundle of ``kind`` (``ota_bundles.UNVERIFIED``) published as it is; its version."""
        assert self.keys is not None and self.good is not None
        with self._registry() as (engine, blobs):
            return publish_unverified(engine, blobs, kind, self.good, MODEL, self.keys)

    def roll_out(self, version: int, canary_share: float = 1.0) -> int:
        """A rollout of ``version`` to the group (auto-promoted); its id."""
        body = {"model": MODEL, "version": version, "group": GROUP, "canary_share": canary_share}
        status, shown = self.hub.json("POST", "/api/v1/rollouts", {**body, "auto_promote": True})
        if status != 201:
            raise RuntimeError(f"creating the rollout of {MODEL}@{version}: {status} {shown}")
        return int(shown["id"])

    def shown(self, rollout: int) -> dict[str, Any]:
        status, body = self.hub.json("GET", f"/api/v1/rollouts/{rollout}")
        if status != 200:
            raise RuntimeError(f"GET /api/v1/rollouts/{rollout}: {status} {body}")
        found: dict[str, Any] = body
        return found

    def device_row(self, shown: dict[str, Any], device: str = DEVICE) -> dict[str, Any]:
        rows: dict[str, Any] = {row["device"]: row for row in shown["devices"]}
        return dict(rows.get(device) or {"state": "absent", "reason": ""})

    def wait_final(self, rollout: int, device: str = DEVICE, timeout_s: float = 120.0) -> dict[str, Any]:
        """The rollout as the hub shows it once ``device`` reported a final state on it."""
        deadline = time.monotonic() + timeout_s
        while True:
            shown = self.shown(rollout)
            if self.device_row(shown, device)["state"] in FINAL_STATES:
                return shown
            if self.agent is not None and self.agent.poll() is not None:
                raise RuntimeError(f"the agent exited with {self.agent.returncode}:\n{self.log('agent')}")
            if time.monotonic() > deadline:
                row = self.device_row(shown, device)
                raise TimeoutError(
                    f"rollout {rollout}: {device} still {row['state']} after {timeout_s} s "
                    f"({row['reason']}):\n{self.log('agent')}"
                )
            time.sleep(0.1)

    def update(self, version: int, canary_share: float = 1.0, timeout_s: float = 120.0) -> Update:
        """Roll ``version`` out and wait for the device's final state on it."""
        started = time.monotonic()
        rollout = self.roll_out(version, canary_share)
        shown = self.wait_final(rollout, timeout_s=timeout_s)
        row = self.device_row(shown)
        return Update(rollout, version, row["state"], row["reason"], started, time.monotonic(), shown)

    def installed_versions(self) -> list[str]:
        """The versions (bundle.json) of the folders in the device's ``versions/``."""
        import json

        found = [
            json.loads((p / "bundle.json").read_text())["version"] for p in self.models.glob("versions/*")
        ]
        return sorted(str(v) for v in found)

    def current_version(self) -> str:
        """The version ``current`` points at (its bundle.json), as the device's folder says."""
        import json

        return str(json.loads((self.models / "current" / "bundle.json").read_text())["version"])


def switch_times(report: Report) -> list[float]:
    """When the answering version changed (the completion time of the first answer from the new one)."""
    done = sorted((r for r in report.requests if r.ok), key=lambda r: r.start + r.latency_s)
    return [b.start + b.latency_s for a, b in itertools.pairwise(done) if a.version != b.version]


def p99_around(report: Report, moments: list[float], half_s: float = 1.0) -> float:
    """p99 latency (ms) of the requests in flight within ``half_s`` of any of ``moments``."""
    seen = {id(r): r for m in moments for r in report.between(m - half_s, m + half_s) if r.ok}
    latencies = [r.latency_s * 1000 for r in seen.values()]
    return float(np.percentile(latencies, 99)) if latencies else float("nan")
