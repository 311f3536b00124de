"""HubSource against the real hub: an offer only for what the device lacks, a download resumed
from its .part file and checked against sha256, reports queued while the hub is down and sent
when it is back (in order, never raising)."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import pytest

from edgeloop.agent.hubclient import HubSource
from edgeloop.errors import BundleError
from edgeloop.hub.blobs import open_blobs
from edgeloop.hub.db import create_engine
from edgeloop.testing.agent_fleet import publish_version
from edgeloop.testing.hub_server import HubServer
from tests.hub.test_events import mosquitto  # noqa: F401 - the Mosquitto fixture


def test_hub_source(sqlite_hub: HubServer, tmp_path: Path) -> None:
    server = sqlite_hub
    engine = create_engine(f"sqlite:///{server.data_dir / 'hub.db'}")
    blobs = open_blobs(str(server.data_dir / "blobs"))
    try:
        v1 = publish_version(engine, blobs, "det", 300_000)
        v2 = publish_version(engine, blobs, "det", 300_000)
    finally:
        blobs.close()
        engine.dispose()
    token = server.add_device("cam", "g")
    models = tmp_path / "models"
    source = HubSource(server.url, token, models, poll_s=0.1, jitter=0.2, chunk_bytes=64 * 1024)
    try:
        assert source.next_offer(0.3) is None  # nothing assigned
        status, rollout = server.json(
            "POST", "/api/v1/rollouts", {"model": "det", "version": v2, "group": "g", "canary_share": 1.0}
        )
        assert status == 201, rollout
        offer = source.next_offer(5.0)
        assert offer is not None and (offer.name, offer.version, offer.rollout) == (
            "det",
            str(v2),
            rollout["id"],
        )
        assert source.not_modified > 0  # polls with If-None-Match got 304s

        whole = server.request("GET", offer.location, token=token)[2]
        dest = tmp_path / "dl" / "bundle.tar"
        dest.parent.mkdir()
        (dest.parent / "bundle.tar.part").write_bytes(whole[:100_000])
        seen: list[int] = []
        assert source.fetch(offer, dest, lambda done, total: seen.append(done)) == dest
        assert dest.read_bytes() == whole and seen[0] == 100_000 + 64 * 1024 and seen[-1] == len(whole)

        (dest.parent / "bundle.tar.part").write_bytes(b"x" * 1000)  # a corrupt part: downloaded again
        assert source.fetch(offer, dest, None).read_bytes() == whole
        assert not (dest.parent / "bundle.tar.part").exists()
        wrong = dataclasses.replace(offer, sha256="0" * 64)  # bytes that never match: refused
        with pytest.raises(BundleError, match="expected .* sha256"):
            source.fetch(wrong, dest.parent / "other.tar", None)
        assert not (dest.parent / "other.tar.part").exists()

        server.stop()
        source.report(offer, "downloading", "300000 bytes")
        source.report(offer, "committed", "window passed")  # never raises with the hub down
        assert source.pending() == 2
        assert source.next_offer(0.2) is None  # committed: no longer offered
        server.start()
        assert source.flush(30.0), "the queued reports were not sent"
        shown = server.json("GET", f"/api/v1/rollouts/{rollout['id']}")[1]
        assert shown["state"] == "done" and shown["devices"][0]["reason"] == "window passed"
    finally:
        source.close()

    # A new source on the same folder remembers; the folder's state.json counts too.
    again = HubSource(server.url, token, models, poll_s=0.1)
    try:
        assert again.next_offer(0.3) is None
        assert server.json("PUT", "/api/v1/devices/cam/pin", {"model": "det", "version": v1})[0] == 200
        pinned = again.next_offer(3.0)
        assert pinned is not None and pinned.version == str(v1) and pinned.rollout is None
        state = {"state": "committed", "name": "det", "version": "x", "key": f"{v1:08d}-0123456789ab"}
        (models / "state.json").write_text(json.dumps(state))
        assert again.next_offer(0.3) is None
    finally:
        again.close()


def test_hub_source_wakes_on_mqtt(mosquitto: int, tmp_path: Path) -> None:  # noqa: F811
    broker = f"mqtt://127.0.0.1:{mosquitto}"
    with HubServer(tmp_path / "data", extra_args=("--mqtt", broker, "--no-worker")) as server:
        engine = create_engine(f"sqlite:///{server.data_dir / 'hub.db'}")
        blobs = open_blobs(str(server.data_dir / "blobs"))
        try:
            v1 = publish_version(engine, blobs, "det", 1024)
        finally:
            blobs.close()
            engine.dispose()
        token = server.add_device("cam", "g")
        source = HubSource(server.url, token, tmp_path / "models", mqtt_url=broker, poll_s=120.0)
        try:
            assert source.next_offer(0.2) is None  # the first poll; then it listens
            assert source._mqtt is not None and source._mqtt.subscribed.wait(10)
            body = {"model": "det", "version": v1, "group": "g", "canary_share": 1.0}
            assert server.json("POST", "/api/v1/rollouts", body)[0] == 201
            began = time.monotonic()
            offer = source.next_offer(20.0)
            assert offer is not None and offer.version == str(v1)
            assert time.monotonic() - began < 5.0 and source.polls == 2  # woken, not the 120 s poll
        finally:
            source.close()
