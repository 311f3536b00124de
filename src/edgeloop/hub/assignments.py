"""What each device should run, pins, and the rollout views of the API and web page.

A device's assignment, first that applies:

1. its pin (``edgeloop hub device pin``);
2. the newest rollout of its group that applies to it: a rollout in ``canary`` to its canaries,
   ``rolling`` and ``done`` to every device of the group; ``paused`` to the devices that already
   reported on it; ``halted`` and ``aborted`` to the devices that committed it (they keep it);
3. none: ``{"model": null}``.

So an older ``done`` rollout is what non-canaries keep during a canary phase, and what everyone
falls back to when a rollout halts. A device that was offline reads the same rules when it comes
back, and catches up.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from edgeloop.errors import NotFound
from edgeloop.hub import rollouts, schema
from edgeloop.hub.blobs import BlobStore
from edgeloop.hub.db import writing
from edgeloop.hub.events import Events
from edgeloop.hub.rollouts import Rollout

NONE: dict[str, Any] = {"model": None}


def bundle_url(model: str, version: int) -> str:
    return f"/api/v1/device/bundle/{model}/{version}"


def _offer(
    model: str, version: int, counter: int | None, size: int, sha256: str, rollout: int | None
) -> dict[str, Any]:
    return {
        "model": model,
        "version": version,
        "counter": counter,
        "size": size,
        "sha256": sha256,
        "url": bundle_url(model, version),
        "rollout": rollout,
    }


def applies(rollout: Rollout, device: str, reported: str | None) -> bool:
    """Whether ``rollout`` is what ``device`` (which reported ``reported`` on it, or nothing) runs."""
    if rollout.state == "canary":
        return device in rollout.canaries
    if rollout.state in ("rolling", "done"):
        return True
    if rollout.state == "paused":
        return reported is not None
    return reported == "committed"  # halted, aborted


def assignment(conn: sa.Connection, device: str, group: str) -> dict[str, Any]:
    """The body of ``GET /api/v1/device/assignment`` for ``device`` of ``group``."""
    p, r, u = schema.pins, schema.rollouts, schema.device_updates
    pin = conn.execute(sa.select(p).where(p.c.device == device)).first()
    if pin is not None:
        return _offer(pin.model, pin.version, pin.counter, pin.bundle_size, pin.bundle_sha256, None)
    found = conn.execute(sa.select(r).where(r.c.group == group).order_by(r.c.id.desc()).limit(200)).all()
    if not found:
        return dict(NONE)
    reported = dict(
        conn.execute(
            sa.select(u.c.rollout, u.c.state).where(u.c.device == device, u.c.rollout >= found[-1].id)
        ).all()
    )
    for row in found:
        rollout = rollouts._row(row)
        if applies(rollout, device, reported.get(rollout.id)):
            return _offer(
                rollout.model,
                rollout.version,
                rollout.counter,
                rollout.bundle_size,
                rollout.bundle_sha256,
                rollout.id,
            )
    return dict(NONE)


def etag(body: dict[str, Any]) -> str:
    """A strong ETag of an assignment body (its content: no race with event ids)."""
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:20]
    return f'"{digest}"'


def pin(
    engine: sa.Engine, blobs: BlobStore, events: Events, device: str, model: str, version: int
) -> dict[str, Any]:
    """Pin ``device`` to ``model@version`` (published): it wins over every rollout.

    Raises:
        NotFound: no such device. ModelNotFound / Conflict: the version is not published.
    """
    found = rollouts.published(engine, model, version)
    sha256, size = rollouts.bundle_facts(blobs, found)
    p, d = schema.pins, schema.devices
    now = time.time()
    with writing(engine) as conn:
        if conn.execute(sa.select(d.c.name).where(d.c.name == device)).first() is None:
            raise NotFound(f"no device {device!r}; see edgeloop hub device ls")
        values = {"model": model, "version": version, "counter": found.counter, "state": "", "reason": ""}
        values |= {"bundle_sha256": sha256, "bundle_size": size, "updated_at": now}
        module: Any = postgresql if conn.dialect.name == "postgresql" else sqlite
        statement = module.insert(p).values(device=device, created_at=now, **values)
        conn.execute(statement.on_conflict_do_update(index_elements=[p.c.device], set_=values))
        events.publish(conn, f"device:{device}", "pin.set", {"model": model, "version": version})
    return {"device": device, "model": model, "version": version}


def unpin(engine: sa.Engine, events: Events, device: str) -> None:
    """Remove ``device``'s pin; its group's rollouts apply again.

    Raises:
        NotFound: the device has no pin.
    """
    p = schema.pins
    with writing(engine) as conn:
        if conn.execute(sa.delete(p).where(p.c.device == device)).rowcount == 0:
            raise NotFound(f"device {device!r} has no pin; see edgeloop hub rollout ls")
        events.publish(conn, f"device:{device}", "pin.removed")


def report_pinned(engine: sa.Engine, device: str, model: str, version: int, state: str, reason: str) -> bool:
    """Store a report on a pinned version; whether the device is pinned to it."""
    rollouts.check_report_state(state)
    p = schema.pins
    with writing(engine) as conn:
        changed = conn.execute(
            sa.update(p)
            .where(p.c.device == device, p.c.model == model, p.c.version == version)
            .values(state=state, reason=reason[:2000], updated_at=time.time())
        ).rowcount
    return bool(changed)


def _counts(conn: sa.Connection) -> dict[int, dict[str, int]]:
    u = schema.device_updates
    counts: dict[int, dict[str, int]] = {}
    for rollout_id, state, n in conn.execute(
        sa.select(u.c.rollout, u.c.state, sa.func.count()).group_by(u.c.rollout, u.c.state)
    ):
        counts.setdefault(rollout_id, {})[state] = int(n)
    return counts


def summaries(engine: sa.Engine) -> list[dict[str, Any]]:
    """Every rollout, newest first, with counts by state ("pending": targeted, not reported yet;
    "waiting": not targeted now) and "targets" (the devices it is meant for)."""
    found = rollouts.list_all(engine)
    u = schema.device_updates
    with engine.connect() as conn:
        counts = _counts(conn)
        sizes = {g: len(rollouts.group_devices(conn, g)) for g in {r.group for r in found}}
        canaries_reported = {
            r.id: int(
                conn.execute(
                    sa.select(sa.func.count()).where(u.c.rollout == r.id, u.c.device.in_(r.canaries))
                ).scalar()
                or 0
            )
            for r in found
            if r.state == "canary"
        }
    out = []
    for rollout in found:
        by_state = counts.get(rollout.id, {})
        silent = max(0, sizes[rollout.group] - sum(by_state.values()))
        if rollout.state == "canary":
            pending = len(rollout.canaries) - canaries_reported[rollout.id]
        else:
            pending = silent if rollout.state in ("rolling", "done") else 0
        extra = {"pending": pending, "waiting": silent - pending}
        targets = len(rollout.canaries) if rollout.state == "canary" else sizes[rollout.group]
        out.append({**rollout.as_dict(), "counts": {**by_state, **extra}, "targets": targets})
    return out


def detail(engine: sa.Engine, rollout_id: int) -> dict[str, Any]:
    """One rollout with a row per device (its state, reason, detail) and counts by state."""
    u, r = schema.device_updates, schema.rollouts
    # One snapshot: read apart, a device's report committed in between would show its row failed
    # beside a rollout not yet halted (SQLite: one BEGIN; PostgreSQL: REPEATABLE READ).
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        found = conn.execute(sa.select(r).where(r.c.id == rollout_id)).first()
        if found is None:
            raise rollouts.RolloutNotFound(f"no rollout {rollout_id}; see edgeloop hub rollout ls")
        rollout = rollouts._row(found)
        members = rollouts.group_devices(conn, rollout.group)
        rows = {row.device: row for row in conn.execute(sa.select(u).where(u.c.rollout == rollout_id))}
    devices = []
    counts: dict[str, int] = {}
    for name in sorted(set(members) | set(rows)):
        row = rows.get(name)
        reported = None if row is None else row.state
        state = reported or ("pending" if applies(rollout, name, None) else "waiting")
        counts[state] = counts.get(state, 0) + 1
        devices.append(
            {
                "device": name,
                "canary": name in rollout.canaries,
                "state": state,
                "reason": "" if row is None else row.reason,
                "detail": None if row is None else row.detail,
                "updated_at": None if row is None else row.updated_at,
            }
        )
    targets = len(rollout.canaries) if rollout.state == "canary" else len(members)
    return {**rollout.as_dict(), "counts": counts, "targets": targets, "devices": devices}
