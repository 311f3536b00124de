"""Push: MQTT notifications after commit through a real Mosquitto broker; a dead broker fails nothing."""

from __future__ import annotations

import json
import os
import queue
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgeloop.testing.hub_server import HubServer, free_port
from tests.hub.conftest import CI, jpeg, meta


@pytest.fixture()
def mosquitto(tmp_path: Path) -> Iterator[int]:
    """A Mosquitto broker on a loopback port (anonymous; the infra fixtures test auth and ACLs)."""
    binary = shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None
    )
    if binary is None:
        if CI:
            pytest.fail("mosquitto is not installed (apt-get install mosquitto)")
        pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
    port = free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nuser root\n")
    proc = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10

        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def _subscribe(port: int, topic: str) -> tuple[object, queue.Queue[tuple[str, dict[str, int]]]]:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    received: queue.Queue[tuple[str, dict[str, int]]] = queue.Queue()
    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    subscribed = queue.Queue[int]()
    client.on_message = lambda c, u, m: received.put((m.topic, json.loads(m.payload)))
    client.on_subscribe = lambda *a: subscribed.put(1)
    client.on_connect = lambda c, *a: c.subscribe(topic, qos=1)
    client.connect("127.0.0.1", port)
    client.loop_start()
    subscribed.get(timeout=10)
    return client, received


def test_mqtt_notifies_the_device_after_commit(mosquitto: int, tmp_path: Path) -> None:
    with HubServer(tmp_path / "data", extra_args=("--mqtt", f"mqtt://127.0.0.1:{mosquitto}")) as hub:
        token = hub.add_device("cam1")
        client, received = _subscribe(mosquitto, "edgeloop/device/+/changed")
        try:
            _, _, body = hub.request("GET", "/api/v1/device/state", token=token)
            before = json.loads(body)["event"]
            assert hub.request("DELETE", "/api/v1/devices/cam1")[0] == 204
            topic, payload = received.get(timeout=10)
            assert topic == "edgeloop/device/cam1/changed"
            assert payload["event"] > before
        finally:
            client.loop_stop()  # type: ignore[attr-defined]
        assert hub.leaked_tokens() == []


def test_dead_broker_fails_no_request(tmp_path: Path) -> None:
    dead = free_port()
    with HubServer(tmp_path / "data", extra_args=("--mqtt", f"mqtt://127.0.0.1:{dead}")) as hub:
        token = hub.add_device("cam1")
        assert hub.upload(token, jpeg(1), meta())[0] == 201
        assert hub.request("DELETE", "/api/v1/devices/cam1")[0] == 204
        assert hub.json("POST", "/api/v1/devices", {"name": "cam2"})[0] == 201
        assert hub.alive()
