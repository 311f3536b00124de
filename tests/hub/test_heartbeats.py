"""Device heartbeats and the hub's "something changed", against the real hub over HTTP and a real
Mosquitto: ``edgeloop sync`` (loop) heartbeats, a dead hub breaks nothing, a change reaches the
device by MQTT at once and by ETag polling without it."""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from edgeloop.improve.heartbeat import Heartbeats
from edgeloop.improve.hublink import HubLink, open_link
from edgeloop.improve.sync_targets.http import Client
from edgeloop.testing.components import ComponentMissing, skip_missing
from edgeloop.testing.hub_server import HubServer, free_port
from edgeloop.testing.mqtt import Broker, mosquitto_server
from edgeloop.testing.sync_faults import fill_spool

pytest.importorskip("sqlalchemy", reason="the hub needs edgeloop[hub]")


@pytest.fixture()
def broker() -> Iterator[Broker]:
    try:
        with mosquitto_server() as running:
            yield running
    except ComponentMissing as exc:
        skip_missing(exc)


def _wait(check: Callable[[], Any], timeout_s: float = 20.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout_s} s: {what}")


def _device(hub: HubServer, name: str) -> dict[str, Any]:
    devices: list[dict[str, Any]] = hub.json("GET", "/api/v1/devices")[1]["devices"]
    return next(d for d in devices if d["name"] == name)


def _sync_loop(spool: Path, url: str, token: str, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "EDGELOOP_HUB_TOKEN": token}
    args = [sys.executable, "-m", "edgeloop.cli", "sync", "--spool", str(spool), "--hub", url, *extra]
    return subprocess.Popen(args, env=env, stderr=subprocess.PIPE, text=True)


def _stop(proc: subprocess.Popen[str]) -> tuple[int, str]:
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err


def _publish_change(hub: HubServer, device: str, mqtt_url: str | None = None) -> tuple[int, float]:
    """An event for ``device`` the way a second hub process on the same database adds one (the
    hub's own ``Events``; with ``mqtt_url`` it is pushed to the broker after commit): its id and
    the monotonic time of the commit."""
    from edgeloop.hub.db import create_engine, writing
    from edgeloop.hub.events import Events

    engine = create_engine(f"sqlite:///{hub.data_dir / 'hub.db'}")
    events = Events(engine, mqtt_url)
    try:
        if events.notifier is not None:
            _wait(events.notifier.client.is_connected, 10, "the hub's MQTT client connected")
        with writing(engine) as conn:
            event = events.publish(conn, f"device:{device}", "test.changed", {"why": "a test"})
        committed = time.monotonic()
        time.sleep(0.2)  # the QoS 1 publish leaves from paho's network thread
        return event, committed
    finally:
        events.close()
        engine.dispose()


def test_sync_loop_sends_heartbeats(sqlite_hub: HubServer, tmp_path: Path) -> None:
    token = sqlite_hub.add_device("cam-7")
    fill_spool(tmp_path / "spool", 5, seed=3)
    proc = _sync_loop(tmp_path / "spool", sqlite_hub.url, token, "--heartbeat-s", "0.3", "--rate", "2k")
    try:
        seen = _wait(lambda: _device(sqlite_hub, "cam-7")["last_seen"], what="a heartbeat")
        first = _device(sqlite_hub, "cam-7")
        assert first["health"] == "ok" and first["model_version"] == "1"  # the spool's newest sample
        assert first["fps"] is None and first["free_disk_bytes"] > 0 and 0 <= first["backlog"] <= 5
        _wait(lambda: _device(sqlite_hub, "cam-7")["backlog"] == 0, 60, "the backlog drained")
        assert _device(sqlite_hub, "cam-7")["last_seen"] > seen
    finally:
        rc, err = _stop(proc)
    assert rc == 0, err
    assert token not in err and "sent 5" in err
    sent = int(re.search(r"heartbeats (\d+) sent, 0 failed", err).group(1))  # type: ignore[union-attr]
    assert sent >= 2


def test_a_dead_hub_breaks_neither_heartbeats_nor_sync(tmp_path: Path) -> None:
    hub = HubServer(tmp_path / "data").start()
    try:
        token = hub.add_device("cam-8")
        hub.kill()  # down before sync starts: heartbeats, polls and uploads all fail
        fill_spool(tmp_path / "spool", 6, seed=4)
        proc = _sync_loop(tmp_path / "spool", hub.url, token, "--heartbeat-s", "0.2")
        try:
            time.sleep(3)
            assert proc.poll() is None, "sync stopped while the hub was down"
            hub.start()
            _wait(lambda: _device(hub, "cam-8")["last_seen"], 60, "a heartbeat after the hub came back")
            _wait(lambda: _device(hub, "cam-8")["backlog"] == 0, 60, "the backlog drained")
        finally:
            rc, err = _stop(proc)
        assert rc == 0, err
        assert "sent 6 (stored 6" in err
        counts = re.search(r"heartbeats (\d+) sent, (\d+) failed", err)
        assert counts is not None and int(counts[1]) >= 1 and int(counts[2]) >= 5, err
    finally:
        hub.stop()


def test_a_link_to_a_dead_hub_counts_its_failures_and_logs_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, "edgeloop.improve.hublink")
    link = open_link(f"http://127.0.0.1:{free_port()}", "t0ken", str(tmp_path), 0.05)
    try:
        _wait(lambda: link.failures >= 10, 10, "ten failed heartbeats")
    finally:
        link.close()
    lines = [r.getMessage() for r in caplog.records if "failed" in r.getMessage()]
    assert link.sent == 0 and link.outages == 1 and len(lines) == 1, lines
    assert "connection refused" in lines[0] and "t0ken" not in lines[0]


def _link(
    hub: HubServer, token: str, interval_s: float, mqtt_url: str | None = None
) -> tuple[HubLink, list[int], list[str]]:
    """A link whose changes (event ids, the first state too) and lines are collected; ``seen_at``
    holds the monotonic time each event reached ``on_change``."""
    changes: list[int] = []
    lines: list[str] = []

    def on_change(event: int, _: object) -> None:
        seen_at[event] = time.monotonic()
        changes.append(event)

    client = Client(hub.url, token, 5.0)
    link = HubLink(client, Heartbeats(hub.data_dir), interval_s, mqtt_url, on_change, lines.append)
    return link, changes, lines


seen_at: dict[int, float] = {}


@pytest.mark.alone  # asserts a latency of seconds: not beside another test
def test_a_change_reaches_the_device_by_etag_polling(sqlite_hub: HubServer) -> None:
    token = sqlite_hub.add_device("cam-9")
    link, changes, lines = _link(sqlite_hub, token, 0.2)
    try:
        _wait(lambda: link.watch.not_modified >= 3, 10, "three polls answered 304")
        assert len(changes) == 1 and lines == []  # the first state, then nothing new
        event, start = _publish_change(sqlite_hub, "cam-9")
        _wait(lambda: event in changes, 5, "the change seen by polling")
        waited = seen_at[event] - start
    finally:
        link.close()
    assert changes[-1] > changes[0] and lines == [f"hub state changed (event {event})"]
    assert waited < 1.0  # one poll interval: 0.2 s
    print(f"change seen by polling {waited:.3f} s after its commit")
    assert link.sent >= 3 and link.failures == 0


@pytest.mark.alone  # asserts a latency of seconds: not beside another test
def test_a_change_reaches_the_device_by_mqtt_at_once(broker: Broker, tmp_path: Path) -> None:
    with HubServer(tmp_path / "data", extra_args=("--mqtt", broker.url)) as hub:
        token = hub.add_device("cam-10")
        link, changes, lines = _link(hub, token, 60.0, broker.url)  # polls only on a message
        try:
            _wait(lambda: link.mqtt is not None and link.mqtt.subscribed.is_set(), 10, "subscribed")
            assert link.watch.polls == 1 and len(changes) == 1
            event, start = _publish_change(hub, "cam-10", broker.url)
            _wait(lambda: event in changes, 2, "the change pushed by MQTT")
            pushed = seen_at[event] - start  # from the commit to the device's on_change
            assert pushed < 2.0
            assert lines == [f"hub state changed (event {event})"]
            # A change made by the hub process itself: revoking this device. The device hears of it
            # at once and its poll is refused (401), which the link counts and survives.
            start = time.monotonic()
            assert hub.request("DELETE", "/api/v1/devices/cam-10")[0] == 204
            _wait(lambda: link.watch.last_status == 401, 2, "the revocation pushed by MQTT")
            revoked = time.monotonic() - start
        finally:
            link.close()
        assert link.mqtt is not None and link.mqtt.messages >= 2
        assert link.failures >= 1 and link.sent == 1  # one heartbeat: the interval is 60 s
        print(f"pushed change seen in {pushed:.3f} s, revocation in {revoked:.3f} s")


def test_a_broker_that_goes_away_fails_no_hub_request(tmp_path: Path) -> None:
    try:
        broker_cm = mosquitto_server()
        broker = broker_cm.__enter__()
    except ComponentMissing as exc:
        skip_missing(exc)
    with HubServer(tmp_path / "data", extra_args=("--mqtt", broker.url)) as hub:
        token = hub.add_device("cam-11")
        broker_cm.__exit__(None, None, None)  # the broker stops while the hub runs
        start = time.monotonic()
        assert hub.json("POST", "/api/v1/devices", {"name": "cam-12"})[0] == 201
        assert hub.request("DELETE", "/api/v1/devices/cam-12")[0] == 204
        assert hub.request("GET", "/api/v1/device/state", token=token)[0] == 200
        assert time.monotonic() - start < 5 and hub.alive()
