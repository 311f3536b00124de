"""Events: what changed, for ETag polling and (optionally) MQTT pushes after commit.

``Events.publish`` inserts the row inside the caller's transaction and remembers the devices
to notify on the connection; the engine's commit hook then publishes
``edgeloop/device/<name>/changed`` (QoS 1). A rollback forgets them. A broker outage is logged
and never fails a request: devices poll with ETag anyway.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any
from urllib.parse import urlparse

import sqlalchemy as sa

from edgeloop.errors import ConfigError
from edgeloop.hub import schema

log = logging.getLogger("edgeloop.hub.events")
_PENDING = "edgeloop_events"


def device_scopes(device: str, group: str | None) -> list[str]:
    """The scopes a device belongs to: everyone, its group, itself."""
    return ["*", f"group:{group or 'default'}", f"device:{device}"]


def latest_event(conn: sa.Connection, scopes: list[str]) -> int:
    """The newest event id among ``scopes`` (0 when none)."""
    e = schema.events
    value = conn.execute(sa.select(sa.func.max(e.c.id)).where(e.c.scope.in_(scopes))).scalar()
    return int(value or 0)


class MqttNotifier:
    """Publishes to an MQTT broker from a background network loop (paho-mqtt)."""

    def __init__(self, url: str) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        parsed = urlparse(url)
        if parsed.scheme not in ("mqtt", "tcp") or not parsed.hostname:
            raise ConfigError(f"unsupported MQTT URL {url!r}: use mqtt://host:port")
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="", clean_session=True)
        if parsed.username:
            self.client.username_pw_set(parsed.username, parsed.password)
        self.client.reconnect_delay_set(1, 30)
        self.client.connect_async(parsed.hostname, parsed.port or 1883, keepalive=30)
        self.client.loop_start()

    def publish(self, topic: str, payload: dict[str, Any]) -> None:
        try:
            info = self.client.publish(topic, json.dumps(payload), qos=1)
            if info.rc != 0:
                log.warning("MQTT publish to %s not queued (code %s); devices will poll", topic, info.rc)
        except Exception as exc:  # the broker is a convenience: never fail the request
            log.warning("MQTT publish to %s failed (%s); devices will poll", topic, exc)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


class Events:
    """Inserts events and notifies devices after the transaction commits."""

    def __init__(self, engine: sa.Engine, mqtt_url: str | None = None) -> None:
        self.notifier = MqttNotifier(mqtt_url) if mqtt_url else None
        if self.notifier is not None:
            sa.event.listen(engine, "commit", self._after_commit)
            sa.event.listen(engine, "rollback", self._forget)

    def publish(self, conn: sa.Connection, scope: str, kind: str, body: dict[str, Any] | None = None) -> int:
        """Insert an event for ``scope`` ("*", "group:G", "device:D") in ``conn``'s transaction."""
        result = conn.execute(
            sa.insert(schema.events).values(scope=scope, kind=kind, created_at=time.time(), body=body)
        )
        key = result.inserted_primary_key
        assert key is not None
        event_id = int(key[0])
        if self.notifier is not None:
            pending: list[tuple[str, int]] = conn.info.setdefault(_PENDING, [])
            pending.extend((name, event_id) for name in self._devices_in(conn, scope))
        return event_id

    @staticmethod
    def _devices_in(conn: sa.Connection, scope: str) -> list[str]:
        d = schema.devices
        query = sa.select(d.c.name).where(d.c.revoked_at.is_(None))
        if scope.startswith("device:"):
            return [scope[7:]]
        if scope.startswith("group:"):
            query = query.where(d.c.group == scope[6:])
        return list(conn.execute(query).scalars())

    def _after_commit(self, conn: sa.Connection) -> None:
        pending = conn.info.pop(_PENDING, [])
        if self.notifier is None:
            return
        for name, event_id in pending:
            self.notifier.publish(f"edgeloop/device/{name}/changed", {"event": event_id})

    def _forget(self, conn: sa.Connection) -> None:
        conn.info.pop(_PENDING, None)

    def close(self) -> None:
        if self.notifier is not None:
            self.notifier.close()
            self.notifier = None
