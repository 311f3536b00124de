"""Reading samples back: one by hash, or a filtered page, newest first (a device sees its own only)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from edgeloop.errors import NotFound, RequestError
from edgeloop.hub import schema
from edgeloop.hub.auth import Principal
from edgeloop.hub.ingest import sample_key
from edgeloop.hub.state import Hub

_LIST_COLUMNS = [c for c in schema.samples.c if c.name not in ("labels",)]
STATUSES = ("pending", "labelled", "rejected")


@dataclass(frozen=True)
class SampleFilter:
    """Filters of ``GET /api/v1/samples``; ``after`` is the cursor a previous page returned."""

    device: str | None = None
    sampler: str | None = None
    class_name: str | None = None
    status: str | None = None
    since: float | None = None
    until: float | None = None
    limit: int = 100
    after: str | None = None


def _row(row: Any) -> dict[str, Any]:
    return dict(row._mapping)


def _visible(query: sa.Select[Any], who: Principal) -> sa.Select[Any]:
    if who.role != "admin":
        query = query.where(schema.samples.c.device == who.device)
    return query


def get_sample(hub: Hub, sha256: str, who: Principal) -> dict[str, Any]:
    """The sample's row; another device's sample is "not found" for a device token."""
    s = schema.samples
    with hub.engine.connect() as conn:
        row = conn.execute(_visible(sa.select(s).where(s.c.sha256 == sha256), who)).first()
    if row is None:
        raise NotFound(f"no sample {sha256[:80]!r}")
    return _row(row)


def get_image(hub: Hub, sha256: str, who: Principal) -> tuple[bytes, str]:
    """The sample's image bytes and media type."""
    sample = get_sample(hub, sha256, who)
    return hub.blobs.get(sample_key(sample["sha256"])), str(sample["media_type"])


def _cursor(value: str) -> tuple[float, str]:
    try:
        time_s, sha = value.split(",", 1)
        return float(time_s), sha
    except ValueError:
        raise RequestError(
            f"invalid 'after' cursor {value[:80]!r}: pass the 'next' of the previous page"
        ) from None


def list_samples(hub: Hub, who: Principal, flt: SampleFilter) -> dict[str, Any]:
    """A page of samples, newest first: ``{"samples": [...], "next": cursor | None}``."""
    s = schema.samples
    query = _visible(sa.select(*_LIST_COLUMNS), who)
    if flt.device:
        query = query.where(s.c.device == flt.device)
    if flt.sampler:
        query = query.where(s.c.sampler == flt.sampler)
    if flt.class_name:
        query = query.where(s.c.classes.contains(f",{flt.class_name},", autoescape=True))
    if flt.status:
        if flt.status not in STATUSES:
            raise RequestError(f"'status' must be one of {', '.join(STATUSES)}, got {flt.status[:40]!r}")
        query = query.where(s.c.status == flt.status)
    if flt.since is not None:
        query = query.where(s.c.received_at >= flt.since)
    if flt.until is not None:
        query = query.where(s.c.received_at < flt.until)
    if flt.after:
        at, sha = _cursor(flt.after)
        query = query.where(sa.or_(s.c.received_at < at, sa.and_(s.c.received_at == at, s.c.sha256 < sha)))
    query = query.order_by(s.c.received_at.desc(), s.c.sha256.desc()).limit(flt.limit + 1)
    with hub.engine.connect() as conn:
        rows = [_row(r) for r in conn.execute(query)]
    page = rows[: flt.limit]
    more = len(rows) > flt.limit
    return {"samples": page, "next": f"{page[-1]['received_at']!r},{page[-1]['sha256']}" if more else None}
