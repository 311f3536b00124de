"""The device's link to its hub beside sync: heartbeats, and noticing that the hub changed something.

``HubLink`` runs one thread that, every ``interval_s``, sends a heartbeat
(``POST /api/v1/heartbeat``) and polls ``GET /api/v1/device/state`` with
``If-None-Match`` (the hub answers 304 until an event for this device, its group or
everyone). With ``mqtt_url`` it also subscribes to ``edgeloop/device/<name>/changed``
on the broker the hub publishes to, and polls at once on a message; polling stays
the fallback (a message lost, a broker down). A new state is logged ("hub state
changed (event N)") and handed to ``on_change`` (the hook an update agent uses).

It has its own connection (the stdlib client of the hub sync target). Nothing it
meets stops it or anything else: a failed heartbeat or poll is counted, logged at
debug level once per outage, and tried again at the next interval.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlparse

from edgeloop.errors import ConfigError
from edgeloop.improve.heartbeat import DeviceFacts, Heartbeats
from edgeloop.improve.sync_targets.base import TargetUnavailable
from edgeloop.improve.sync_targets.http import Client

log = logging.getLogger("edgeloop.improve.hublink")
OnChange = Callable[[int, dict[str, Any]], None]


def check_mqtt_url(url: str) -> tuple[str, int]:
    """(host, port) of ``mqtt://host[:port]``, with paho-mqtt importable.

    Raises:
        ConfigError: another scheme, no host, or paho-mqtt missing.
    """
    parsed = urlparse(url)
    if parsed.scheme not in ("mqtt", "tcp") or not parsed.hostname:
        raise ConfigError(f"--hub-mqtt {url}: use mqtt://host:port (the broker the hub's --mqtt names)")
    try:
        import paho.mqtt.client  # noqa: F401
    except ImportError:
        raise ConfigError("--hub-mqtt needs paho-mqtt: pip install 'edgeloop[stream]'") from None
    return parsed.hostname, parsed.port or 1883


class StateWatch:
    """Polls the device's state with its ETag; ``poll`` says whether it changed."""

    def __init__(self, client: Client, on_change: OnChange, say: Callable[[str], None]) -> None:
        self.client, self.on_change, self.say = client, on_change, say
        self.etag: str | None = None
        self.event: int | None = None
        self.device: str | None = None
        self.polls = self.not_modified = self.changes = 0
        self.last_status = 0

    def poll(self) -> bool:
        """One conditional GET; on a new state, log it and call ``on_change``.

        Raises:
            TargetUnavailable: no answer, or an answer other than 200 / 304.
        """
        headers = [("If-None-Match", self.etag)] if self.etag else []
        response = self.client.request("GET", "/api/v1/device/state", headers=headers)
        self.polls += 1
        self.last_status = response.status
        if response.status == 304:
            self.not_modified += 1
            return False
        body = response.json()
        if response.status != 200 or not isinstance(body, dict):
            raise TargetUnavailable(f"GET /api/v1/device/state: {response.status} {response.error()}")
        first = self.etag is None
        self.etag = response.headers.get("etag") or f'"{body.get("event", 0)}"'
        self.event = int(body.get("event", 0))
        self.device = str(body.get("device") or "") or None
        if not first:
            self.changes += 1
            self.say(f"hub state changed (event {self.event})")
        self.on_change(self.event, body)
        return True


class MqttWake:
    """Subscribes to ``edgeloop/device/<device>/changed`` and calls ``wake`` on each message."""

    def __init__(self, url: str, device: str, wake: Callable[[], None]) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        host, port = check_mqtt_url(url)
        parsed = urlparse(url)
        self.topic = f"edgeloop/device/{device}/changed"
        self.subscribed = threading.Event()
        self.messages = 0
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="", clean_session=True)
        if parsed.username:
            self.client.username_pw_set(parsed.username, parsed.password)
        self.client.on_connect = lambda client, *_: client.subscribe(self.topic, qos=1)
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.on_disconnect = lambda *_: self.subscribed.clear()

        def message(*_: object) -> None:
            self.messages += 1
            wake()

        self.client.on_message = message
        self.client.reconnect_delay_set(1, 30)
        self.client.connect_async(host, port, keepalive=30)
        self.client.loop_start()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class HubLink:
    """Heartbeats and the state watch on one thread, until ``close``.

    Args:
        client: a connection of its own to the hub (``Client(url, token, timeout_s)``).
        heartbeats: builds each heartbeat's body.
        interval_s: seconds between heartbeats (and state polls).
        mqtt_url: the broker the hub publishes to (``mqtt://host:port``), or None to poll only.
        on_change: called with (event id, state body) when the state is new (the first one too).
        say: gets user-facing lines ("hub state changed (event N)").
    """

    def __init__(
        self,
        client: Client,
        heartbeats: Heartbeats,
        interval_s: float = 30.0,
        mqtt_url: str | None = None,
        on_change: OnChange = lambda event, state: None,
        say: Callable[[str], None] = lambda line: None,
    ) -> None:
        self.client, self.heartbeats, self.interval_s = client, heartbeats, interval_s
        self.mqtt_url = mqtt_url
        self.watch = StateWatch(client, on_change, say)
        self.mqtt: MqttWake | None = None
        self.sent = self.failures = self.outages = 0
        self._down = False
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._work, name="hub-link", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        next_beat = 0.0
        while not self._stop.is_set():
            woken = self._wake.is_set()
            self._wake.clear()
            if time.monotonic() >= next_beat:
                next_beat = time.monotonic() + self.interval_s
                self._guard("heartbeat", self.beat)
                self._guard("state poll", self.watch.poll)
            elif woken:
                self._guard("state poll", self.watch.poll)
            self._start_mqtt()
            self._wake.wait(max(0.0, next_beat - time.monotonic()))

    def beat(self) -> None:
        """Send one heartbeat now.

        Raises:
            TargetUnavailable: no answer, or an answer other than 204.
        """
        body = json.dumps(self.heartbeats.next()).encode()
        response = self.client.request(
            "POST", "/api/v1/heartbeat", body, [("Content-Type", "application/json")]
        )
        if response.status != 204:
            raise TargetUnavailable(f"POST /api/v1/heartbeat: {response.status} {response.error()}")
        self.sent += 1

    def _guard(self, what: str, action: Callable[[], object]) -> None:
        try:
            action()
        except Exception as exc:  # the link is a convenience: never stop on anything
            self.failures += 1
            if not self._down:
                self._down = True
                self.outages += 1
                log.debug(
                    "%s to %s failed (%s); trying again every %s s",
                    what,
                    self.client.display,
                    exc,
                    self.interval_s,
                )
            return
        self._down = False

    def _start_mqtt(self) -> None:
        if self.mqtt_url is None or self.mqtt is not None or self.watch.device is None:
            return
        try:
            self.mqtt = MqttWake(self.mqtt_url, self.watch.device, self._wake.set)
        except Exception as exc:  # polling goes on
            log.debug("cannot listen on %s (%s); polling only", self.mqtt_url, exc)
            self.mqtt_url = None

    def close(self) -> None:
        """Stop the thread (after the request in flight) and close the connections."""
        self._stop.set()
        self._wake.set()
        self._thread.join()
        if self.mqtt is not None:
            self.mqtt.close()
        self.client.close()


def open_link(
    hub_url: str,
    token: str,
    spool_dir: str,
    interval_s: float,
    mqtt_url: str | None = None,
    facts: Callable[[], DeviceFacts] = DeviceFacts,
    sync: Callable[[], tuple[Mapping[str, Any], str | None]] = lambda: ({}, None),
    say: Callable[[str], None] = lambda line: None,
    on_change: OnChange = lambda event, state: None,
) -> HubLink:
    """A ``HubLink`` to ``hub_url`` reporting ``spool_dir`` (timeouts capped at 10 s: a stalled hub
    delays a heartbeat, never a stop)."""
    client = Client(hub_url, token, min(10.0, max(1.0, 2 * interval_s)))
    beats = Heartbeats(spool_dir, facts, sync)
    return HubLink(client, beats, interval_s, mqtt_url, on_change, say)
