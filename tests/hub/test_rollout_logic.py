"""Rollout settling under concurrent reports, on SQLite and PostgreSQL: each transition happens
once (one event), whatever the order the reports commit in."""

from __future__ import annotations

import threading
from pathlib import Path

import sqlalchemy as sa

from edgeloop.hub import rollouts, schema
from edgeloop.hub.blobs import open_blobs
from edgeloop.hub.db import create_engine
from edgeloop.hub.devices import add_device
from edgeloop.hub.events import Events
from edgeloop.hub.migrations import upgrade
from edgeloop.testing.agent_fleet import publish_version


def _kinds(engine: sa.Engine) -> list[str]:
    e = schema.events
    with engine.connect() as conn:
        return list(
            conn.execute(sa.select(e.c.kind).where(e.c.kind.like("rollout.%")).order_by(e.c.id)).scalars()
        )


def test_concurrent_reports_settle_once(hub_db: str, tmp_path: Path) -> None:
    engine = create_engine(hub_db)
    blobs = open_blobs(str(tmp_path / "blobs"))
    events = Events(engine)
    try:
        upgrade(engine)
        version = publish_version(engine, blobs, "det", 1024)
        names = [f"d{i:02d}" for i in range(16)]
        for name in names:
            add_device(engine, events, name, "g")
        first = rollouts.create(engine, blobs, events, "det", version, "g", 0.25)
        assert first.state == "canary" and len(first.canaries) == 4

        def report(name: str, state: str) -> None:
            rollouts.apply_report(engine, events, name, first.id, "det", version, state, "ok")

        threads = [threading.Thread(target=report, args=(n, "committed")) for n in names]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert rollouts.get(engine, first.id).state == "done"
        assert _kinds(engine) == ["rollout.created", "rollout.rolling", "rollout.done"]

        version2 = publish_version(engine, blobs, "det", 1024)
        second = rollouts.create(engine, blobs, events, "det", version2, "g", 0.25)
        bad = [
            threading.Thread(
                target=rollouts.apply_report,
                args=(engine, events, n, second.id, "det", version2, "rejected", f"{n} broke"),
            )
            for n in second.canaries
        ]
        for t in bad:
            t.start()
        for t in bad:
            t.join()
        halted = rollouts.get(engine, second.id)
        assert (
            halted.state == "halted"
            and halted.reason.startswith("canary d")
            and "rejected: d" in halted.reason
        )
        assert _kinds(engine)[3:] == ["rollout.created", "rollout.halted"]
    finally:
        events.close()
        blobs.close()
        engine.dispose()
