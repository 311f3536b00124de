"""Rollouts: a published model version sent to a device group, canaries first.

States: ``canary`` (only the canaries get it) -> ``rolling`` (the whole group) -> ``done`` (every
targeted device committed), or ``paused`` (devices that started keep it, no one else gets it),
``halted`` (a canary was rejected or rolled back: the reason names it) and ``aborted`` (by an
admin). In halted and aborted rollouts the devices that committed keep the version; the others
fall back to the group's last completed rollout (see ``hub/assignments.py``).

Canaries are ``ceil(canary_share * N)`` of the group's N devices (pinned and revoked ones left
out), the first by sha256("<model>@<version>/<device>"): the same devices for the same version.
Every change of state publishes an event for the group, so devices' ETags change and MQTT wakes
them. Writers lock the rollout row (``FOR UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite),
so several hub processes settle each rollout once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from edgeloop.agent.contract import STATES
from edgeloop.errors import Conflict, NotFound, RequestError
from edgeloop.hub import registry, schema
from edgeloop.hub.blobs import BlobStore
from edgeloop.hub.db import writing
from edgeloop.hub.devices import check_name
from edgeloop.hub.events import Events

ROLLOUT_STATES = ("canary", "rolling", "paused", "halted", "aborted", "done")
ACTIVE = ("canary", "rolling", "paused")
FAILED = ("rejected", "rolled_back")


class RolloutNotFound(NotFound):
    """No rollout with that id."""


@dataclass(frozen=True)
class Rollout:
    """One row of the rollouts table."""

    id: int
    model: str
    version: int
    counter: int | None
    group: str
    canary_share: float
    auto_promote: bool
    state: str
    resumes_to: str | None
    reason: str
    canaries: list[str]
    bundle_sha256: str
    bundle_size: int
    created_at: float
    updated_at: float

    def as_dict(self) -> dict[str, Any]:
        body = dataclasses.asdict(self)
        body["ref"] = f"{self.model}@{self.version}"
        return body


def _row(row: Any) -> Rollout:
    values = {c.name: getattr(row, c.name) for c in schema.rollouts.c}
    values["canaries"] = list(values["canaries"] or [])
    values["auto_promote"] = bool(values["auto_promote"])
    return Rollout(**values)


def bundle_facts(blobs: BlobStore, model: registry.ModelVersion) -> tuple[str, int]:
    """(sha256, size) of the version's bundle tar."""
    data = registry.bundle_bytes(blobs, model)
    return hashlib.sha256(data).hexdigest(), len(data)


def published(engine: sa.Engine, model: str, version: int) -> registry.ModelVersion:
    """The registry's version, which must be published with a bundle.

    Raises:
        ModelNotFound: no such model or version.
        Conflict: the version is a candidate or was refused.
    """
    found = registry.show(engine, registry.check_name(model), version)
    if found.status != "published" or found.bundle_key is None:
        raise Conflict(
            f"model {model}@{version} is {found.status}, not published; send a published version "
            "(edgeloop hub model ls)"
        )
    return found


def group_devices(conn: sa.Connection, group: str) -> list[str]:
    """The group's devices that may receive a rollout: not revoked, not pinned, by name."""
    d, p = schema.devices, schema.pins
    query = (
        sa.select(d.c.name)
        .where(d.c.group == group, d.c.revoked_at.is_(None), d.c.name.not_in(sa.select(p.c.device)))
        .order_by(d.c.name)
    )
    return list(conn.execute(query).scalars())


def choose_canaries(devices: list[str], model: str, version: int, share: float) -> list[str]:
    """``ceil(share * N)`` of ``devices``, the first by sha256 of "<model>@<version>/<device>"."""
    count = math.ceil(share * len(devices) - 1e-9) if share > 0 else 0
    key = lambda name: hashlib.sha256(f"{model}@{version}/{name}".encode()).hexdigest()  # noqa: E731
    return sorted(sorted(devices, key=key)[:count])


def _group_lock(conn: sa.Connection, group: str) -> None:
    """Creates in one group take turns (PostgreSQL; SQLite's BEGIN IMMEDIATE already does)."""
    if conn.dialect.name == "postgresql":
        key = int.from_bytes(hashlib.sha256(f"rollout:{group}".encode()).digest()[:8], "big", signed=True)
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def create(
    engine: sa.Engine,
    blobs: BlobStore,
    events: Events,
    model: str,
    version: int,
    group: str,
    canary_share: float = 0.1,
    auto_promote: bool = True,
) -> Rollout:
    """Start sending ``model@version`` to ``group``: the canaries first (none: the whole group).

    Raises:
        RequestError: a share outside 0..1 or an invalid group name.
        ModelNotFound: no such version.
        Conflict: the version is not published, the group has no devices, or has an active rollout.
    """
    check_name(group, "group name")
    if not 0.0 <= canary_share <= 1.0:
        raise RequestError(f"canary_share {canary_share}: give a share from 0 to 1, e.g. 0.1 for 10%")
    found = published(engine, model, version)
    sha256, size = bundle_facts(blobs, found)
    r = schema.rollouts
    with writing(engine) as conn:
        _group_lock(conn, group)
        active = conn.execute(
            sa.select(r.c.id, r.c.state).where(r.c.group == group, r.c.state.in_(ACTIVE)).limit(1)
        ).first()
        if active is not None:
            raise Conflict(
                f"group {group} has rollout {active.id} {active.state}; finish it or stop it first: "
                f"edgeloop hub rollout abort {active.id}"
            )
        members = group_devices(conn, group)
        if not members:
            raise Conflict(
                f"group {group} has no devices to update; add one with: edgeloop hub device add NAME "
                f"--group {group}"
            )
        canaries = choose_canaries(members, model, version, canary_share)
        now = time.time()
        state = "canary" if canaries else "rolling"
        reason = f"{len(canaries)} of {len(members)} devices first" if canaries else "no canaries"
        row = conn.execute(
            sa.insert(r)
            .values(
                model=model,
                version=version,
                counter=found.counter,
                group=group,
                canary_share=canary_share,
                auto_promote=auto_promote,
                state=state,
                reason=reason,
                canaries=canaries,
                bundle_sha256=sha256,
                bundle_size=size,
                created_at=now,
                updated_at=now,
            )
            .returning(*r.c)
        ).one()
        rollout = _row(row)
        events.publish(conn, f"group:{group}", "rollout.created", {"rollout": rollout.id, "state": state})
        return _settle(conn, events, rollout)


def _lock(conn: sa.Connection, rollout_id: int) -> Rollout:
    r = schema.rollouts
    row = conn.execute(sa.select(r).where(r.c.id == rollout_id).with_for_update()).first()
    if row is None:
        raise RolloutNotFound(f"no rollout {rollout_id}; see edgeloop hub rollout ls")
    return _row(row)


def get(engine: sa.Engine, rollout_id: int) -> Rollout:
    """One rollout.

    Raises:
        RolloutNotFound: no such id.
    """
    with engine.connect() as conn:
        row = conn.execute(sa.select(schema.rollouts).where(schema.rollouts.c.id == rollout_id)).first()
    if row is None:
        raise RolloutNotFound(f"no rollout {rollout_id}; see edgeloop hub rollout ls")
    return _row(row)


def list_all(engine: sa.Engine, group: str | None = None) -> list[Rollout]:
    """Every rollout (of ``group``), newest first."""
    r = schema.rollouts
    query = sa.select(r).order_by(r.c.id.desc())
    if group is not None:
        query = query.where(r.c.group == group)
    with engine.connect() as conn:
        return [_row(row) for row in conn.execute(query)]


def _set(conn: sa.Connection, events: Events, rollout: Rollout, state: str, reason: str) -> Rollout:
    r = schema.rollouts
    resumes_to = rollout.state if state == "paused" else None
    now = time.time()
    conn.execute(
        sa.update(r)
        .where(r.c.id == rollout.id)
        .values(state=state, reason=reason, resumes_to=resumes_to, updated_at=now)
    )
    if state != rollout.state:
        body = {"rollout": rollout.id, "state": state, "reason": reason}
        events.publish(conn, f"group:{rollout.group}", f"rollout.{state}", body)
    return dataclasses.replace(rollout, state=state, reason=reason, resumes_to=resumes_to, updated_at=now)


def _committed(conn: sa.Connection, rollout_id: int, devices: list[str]) -> int:
    u = schema.device_updates
    query = sa.select(sa.func.count()).where(
        u.c.rollout == rollout_id, u.c.state == "committed", u.c.device.in_(devices)
    )
    return int(conn.execute(query).scalar() or 0)


def _settle(conn: sa.Connection, events: Events, rollout: Rollout) -> Rollout:
    """Auto-promote when every canary committed; done when every targeted device did."""
    if rollout.state == "canary":
        members = set(group_devices(conn, rollout.group))
        canaries = [c for c in rollout.canaries if c in members]
        if _committed(conn, rollout.id, canaries) == len(canaries):
            if not rollout.auto_promote:
                waiting = f"canaries committed; promote with: edgeloop hub rollout promote {rollout.id}"
                return (
                    rollout if rollout.reason == waiting else _set(conn, events, rollout, "canary", waiting)
                )
            rollout = _set(conn, events, rollout, "rolling", f"{len(canaries)} canaries committed")
    if rollout.state == "rolling":
        members_list = group_devices(conn, rollout.group)
        if _committed(conn, rollout.id, members_list) == len(members_list):
            rollout = _set(conn, events, rollout, "done", f"{len(members_list)} devices committed")
    return rollout


def promote(engine: sa.Engine, events: Events, rollout_id: int) -> Rollout:
    """Send a rollout in canary to the whole group.

    Raises:
        Conflict: the rollout is not in canary (or paused in canary).
    """
    with writing(engine) as conn:
        rollout = _lock(conn, rollout_id)
        phase = rollout.resumes_to if rollout.state == "paused" else rollout.state
        if phase != "canary":
            raise Conflict(
                f"rollout {rollout_id} is {rollout.state}; only a rollout in canary can be promoted"
            )
        rollout = _set(conn, events, rollout, "rolling", "promoted by an admin")
        return _settle(conn, events, rollout)


def pause(engine: sa.Engine, events: Events, rollout_id: int) -> Rollout:
    """Stop giving the version to devices that have not started (those that did go on)."""
    with writing(engine) as conn:
        rollout = _lock(conn, rollout_id)
        if rollout.state not in ("canary", "rolling"):
            raise Conflict(f"rollout {rollout_id} is {rollout.state}; only canary or rolling can be paused")
        return _set(conn, events, rollout, "paused", "paused by an admin")


def resume(engine: sa.Engine, events: Events, rollout_id: int) -> Rollout:
    """Go on where a paused rollout stopped."""
    with writing(engine) as conn:
        rollout = _lock(conn, rollout_id)
        if rollout.state != "paused":
            raise Conflict(f"rollout {rollout_id} is {rollout.state}, not paused; nothing to resume")
        rollout = _set(conn, events, rollout, rollout.resumes_to or "canary", "resumed by an admin")
        return _settle(conn, events, rollout)


def abort(engine: sa.Engine, events: Events, rollout_id: int) -> Rollout:
    """Stop distribution for good; devices that committed keep the version."""
    with writing(engine) as conn:
        rollout = _lock(conn, rollout_id)
        if rollout.state not in ACTIVE:
            raise Conflict(f"rollout {rollout_id} is already {rollout.state}; nothing to abort")
        return _set(conn, events, rollout, "aborted", "aborted by an admin")


def check_report_state(state: str) -> str:
    if state not in STATES:
        raise RequestError(f"state {state!r}: use one of {', '.join(STATES)}")
    return state


def apply_report(
    engine: sa.Engine,
    events: Events,
    device: str,
    rollout_id: int,
    model: str,
    version: int,
    state: str,
    reason: str = "",
    detail: dict[str, Any] | None = None,
) -> Rollout:
    """Store ``device``'s report for the rollout and settle it (halt on a failed canary).

    Raises:
        RolloutNotFound: no such rollout.
        Conflict: the rollout is another version, or another group's.
    """
    check_report_state(state)
    u = schema.device_updates
    with writing(engine) as conn:
        rollout = _lock(conn, rollout_id)
        if (rollout.model, rollout.version) != (model, version):
            raise Conflict(
                f"rollout {rollout_id} sends {rollout.model}@{rollout.version}, not {model}@{version}; "
                "report the assignment's model, version and rollout"
            )
        group = conn.execute(
            sa.select(schema.devices.c.group).where(schema.devices.c.name == device)
        ).scalar()
        if group != rollout.group:
            raise Conflict(
                f"rollout {rollout_id} is for group {rollout.group}; device {device} is in {group}"
            )
        values = {"state": state, "reason": reason[:2000], "detail": detail, "updated_at": time.time()}
        changed = conn.execute(
            sa.update(u).where(u.c.device == device, u.c.rollout == rollout_id).values(**values)
        ).rowcount
        if not changed:
            conn.execute(
                sa.insert(u).values(device=device, rollout=rollout_id, model=model, version=version, **values)
            )
        if rollout.state in ACTIVE and state in FAILED and device in rollout.canaries:
            why = f"canary {device}: {state}: {reason or 'no reason given'}"
            return _set(conn, events, rollout, "halted", why[:2000])
        return _settle(conn, events, rollout)
