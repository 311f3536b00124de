"""MQTT sink: detections to ``PREFIX/SOURCE``, events to ``PREFIX/SOURCE/events``, QoS 1."""

from __future__ import annotations

import json
import time
from collections import deque
from typing import Any
from urllib.parse import urlparse

from edgeloop.errors import SinkError
from edgeloop.stream.frames import Event, FrameResult
from edgeloop.stream.sinks.base import Sink


class MqttSink(Sink):
    """Publishes with paho-mqtt; paho queues (up to ``max_queued``) and resends while the broker is away.

    Args:
        url: ``mqtt://HOST[:PORT]/PREFIX`` (user and password may be in the URL).
        frames: publish every frame's detections (events are always published).
        flush_timeout_s: at close, wait at most this long for unacknowledged messages.
    """

    def __init__(
        self, url: str, frames: bool = True, max_queued: int = 10_000, flush_timeout_s: float = 0.5
    ) -> None:
        parsed = urlparse(url)
        if parsed.scheme != "mqtt" or not parsed.hostname:
            raise SinkError(f"mqtt sink: {url!r} is not mqtt://HOST[:PORT]/PREFIX")
        self.host, self.port = parsed.hostname, parsed.port or 1883
        self.username, self.password = parsed.username, parsed.password
        self.prefix = parsed.path.strip("/") or "edgeloop"
        self.frames = frames
        self.max_queued = max_queued
        self.flush_timeout_s = flush_timeout_s
        self._client: Any = None
        self._pending: deque[Any] = deque(maxlen=max_queued)

    def open(self) -> None:
        if self._client is not None:
            return
        from paho.mqtt.client import Client
        from paho.mqtt.enums import CallbackAPIVersion

        client = Client(CallbackAPIVersion.VERSION2, client_id=f"edgeloop-{self.prefix}-{time.time_ns()}")
        if self.username:
            client.username_pw_set(self.username, self.password)
        client.max_queued_messages_set(self.max_queued)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        try:
            client.connect(self.host, self.port, keepalive=30)
        except OSError as exc:
            raise SinkError(
                f"mqtt sink: cannot connect to {self.host}:{self.port} ({exc}); is the broker running?"
            ) from None
        client.loop_start()
        self._client = client

    def _publish(self, topic: str, record: dict[str, Any]) -> None:
        if self._client is None:
            raise SinkError("mqtt sink: publish before open; use it as a context manager")
        info = self._client.publish(topic, json.dumps(record), qos=1)
        while self._pending and self._pending[0].is_published():
            self._pending.popleft()
        self._pending.append(info)  # bounded: while the broker is away the oldest stop being awaited

    def write(self, result: FrameResult) -> None:
        if self.frames:
            self._publish(f"{self.prefix}/{result.frame.source}", result.to_json())

    def event(self, event: Event) -> None:
        self._publish(f"{self.prefix}/{event.source}/events", event.to_json())

    def close(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        deadline = time.monotonic() + self.flush_timeout_s
        for info in self._pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                info.wait_for_publish(timeout=remaining)
            except (RuntimeError, ValueError):
                break  # not connected or queue overflow: nothing more to wait for
        self._pending.clear()
        client.disconnect()
        client.loop_stop()
