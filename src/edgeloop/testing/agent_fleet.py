"""A fleet of simulated update agents against a real hub, for rollout tests and benchmarks.

Each agent is a thread with its own device token and its own ``HubSource`` (real HTTP: the
assignment polled with ETag, the bundle tar downloaded in ranges and checked against sha256, every
state reported). It walks ``downloading -> ... -> committed`` for an offer, or ends in
``rolled_back`` for the versions it is told to fail, and writes ``state.json`` as the agent does.
Model versions are published straight into the hub's registry (a small bundle folder, unsigned:
the hub only serves its tar).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from edgeloop.agent.contract import Offer
from edgeloop.agent.hubclient import HubSource
from edgeloop.errors import BundleError

STEPS = ("downloading", "verifying", "staged", "health_check", "switched", "window")
FAIL_REASON = "window: error rate 0.40 > 0.05 against the previous version"


def publish_version(engine: sa.Engine, blobs: Any, name: str, payload_bytes: int = 64 * 1024) -> int:
    """A new published version of ``name`` with a small bundle tar; its number."""
    import tempfile

    from edgeloop.hub import registry

    version = registry.reserve(engine, name, trigger="agent fleet")
    with tempfile.TemporaryDirectory(prefix="edgeloop-fleet-") as tmp:
        bundle = Path(tmp)
        (bundle / "bundle.json").write_text(
            json.dumps({"name": name, "version": str(version), "counter": version})
        )
        (bundle / "model.bin").write_bytes(os.urandom(payload_bytes))
        publish_folder(engine, blobs, name, version, bundle, counter=version, key_id="fleet")
    return version


def publish_folder(
    engine: sa.Engine, blobs: Any, name: str, version: int, bundle: Path, counter: int | None, key_id: str
) -> None:
    """Complete the reserved ``version`` as published with ``bundle`` exactly as it is (no gate, no
    signing by the hub): how tests put a fleet's or a hostile release into the registry."""
    from edgeloop.hub import registry

    registry.complete(
        engine,
        blobs,
        name,
        version,
        status="published",
        bundle_dir=bundle,
        checkpoint=None,
        metrics={},
        gate={"passed": True, "reasons": []},
        counter=counter,
        key_id=key_id,
    )


@dataclass
class AgentStats:
    """What one simulated agent saw."""

    offered: list[tuple[int | None, str]] = field(default_factory=list)  # (rollout, version)
    committed: list[str] = field(default_factory=list)
    rolled_back: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    failed_requests: int = 0


class SimAgent:
    """One simulated device: a thread polling, downloading and reporting until ``stop``."""

    def __init__(
        self,
        name: str,
        hub_url: str,
        token: str,
        work_dir: Path,
        fails: Callable[[str, Offer], bool],
        poll_s: float = 0.5,
    ) -> None:
        self.name = name
        self.models_dir = work_dir / name
        self.models_dir.mkdir(parents=True, exist_ok=True)
        self.source = HubSource(hub_url, token, self.models_dir, poll_s=poll_s, jitter=0.2, timeout_s=60.0)
        self.fails = fails
        self.stats = AgentStats()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"agent-{name}", daemon=True)

    def start(self) -> SimAgent:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                offer = self.source.next_offer(0.2)
                if offer is not None:
                    self._update(offer)
            except Exception:
                self.stats.failed_requests += 1
                self._stop.wait(0.2)

    def _update(self, offer: Offer) -> None:
        self.stats.offered.append((offer.rollout, offer.version))
        report = self.source.report
        report(offer, "downloading", f"{offer.size_bytes} bytes")
        try:
            path = self.source.fetch(
                offer, self.models_dir / "downloads" / f"{offer.name}-{offer.version}.tar"
            )
        except BundleError as exc:  # e.g. the rollout halted meanwhile: the hub no longer serves it
            report(offer, "rejected", str(exc))
            self.stats.rejected.append(offer.version)
            return
        path.unlink()
        for state in STEPS[1:]:
            report(offer, state, "")
        if self.fails(self.name, offer):
            report(offer, "rolled_back", FAIL_REASON, {"error_rate": 0.4})
            self.stats.rolled_back.append(offer.version)
            return
        key = f"{(offer.counter or 0):08d}-{offer.sha256[:12]}"
        installed = {"state": "committed", "name": offer.name, "version": offer.version, "key": key}
        (self.models_dir / "state.json").write_text(json.dumps(installed))
        report(offer, "committed", "window passed")
        self.stats.committed.append(offer.version)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)
        self.stats.failed_requests += self.source.failed_polls + self.source.dropped
        self.source.close()
        self.stats.failed_requests += self.source.pending()


class Fleet:
    """Many ``SimAgent``s; ``failing`` maps device -> versions it rolls back."""

    def __init__(self, hub_url: str, work_dir: Path, poll_s: float = 0.5) -> None:
        self.hub_url, self.work_dir, self.poll_s = hub_url, work_dir, poll_s
        self.agents: dict[str, SimAgent] = {}
        self.failing: dict[str, set[str]] = {}

    def _fails(self, name: str, offer: Offer) -> bool:
        return offer.version in self.failing.get(name, set())

    def start(self, name: str, token: str) -> SimAgent:
        agent = SimAgent(name, self.hub_url, token, self.work_dir, self._fails, self.poll_s)
        self.agents[name] = agent
        return agent.start()

    def stop(self) -> None:
        for agent in self.agents.values():
            agent._stop.set()
        for agent in self.agents.values():
            agent.stop()

    def failed_requests(self) -> int:
        return sum(a.stats.failed_requests for a in self.agents.values())

    def offered(self, version: str) -> list[str]:
        """Devices that were offered ``version``."""
        return sorted(n for n, a in self.agents.items() if any(v == version for _, v in a.stats.offered))


def wait_for(check: Callable[[], bool], timeout_s: float, what: str, every_s: float = 0.2) -> None:
    """Poll ``check`` until it holds (AssertionError naming ``what`` after ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(every_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
