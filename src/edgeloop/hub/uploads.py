"""Resumable uploads (tus-like) for large files, kept in DB + blobs so any hub process continues one.

Each chunk is a blob ``uploads/<id>/<offset>-<end>``; the row lists them. A chunk is accepted
only at the row's current offset (a compare-and-set on ``received``), so two processes racing
on one upload cannot both append. When the last byte arrives the chunks are joined, checked
like any sample, stored, and the upload is removed.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from edgeloop.errors import Conflict, NotFound, PayloadTooLarge, RequestError
from edgeloop.hub import schema
from edgeloop.hub.db import insert_ignore, writing
from edgeloop.hub.ingest import SampleMeta, check_sha, is_held, parse_meta, store_sample
from edgeloop.hub.state import Hub


@dataclass(frozen=True)
class Upload:
    """An upload's id, target and progress."""

    id: str
    sha256: str
    size: int
    received: int
    meta: dict[str, Any]
    chunks: list[list[int]]


def _chunk_key(upload_id: str, start: int, end: int) -> str:
    return f"uploads/{upload_id}/{start}-{end}"


def _load(conn: sa.Connection, upload_id: str, device: str) -> Upload:
    u = schema.uploads
    row = conn.execute(sa.select(u).where(u.c.id == upload_id, u.c.device == device)).first()
    if row is None:
        raise NotFound(f"no upload {upload_id[:80]!r} of this device; start one with POST /api/v1/uploads")
    return Upload(row.id, row.sha256, row.size, row.received, row.meta, list(row.chunks or []))


def start_upload(hub: Hub, device: str, body: Any) -> Upload | None:
    """Create (or find this device's existing) upload; None when the hub already holds the sample."""
    if not isinstance(body, dict):
        raise RequestError('expected a JSON object {"sha256", "size", "meta"}')
    sha256 = check_sha(body.get("sha256"), "'sha256'")
    size = body.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise RequestError("'size' must be a positive integer: the image's length in bytes")
    if size > hub.config.max_sample_bytes:
        raise PayloadTooLarge(f"an image of {size} bytes is above the {hub.config.max_sample_bytes} byte cap")
    meta = body.get("meta")
    if not isinstance(meta, dict):
        raise RequestError("'meta' must be the sample's JSON metadata object")
    parsed = parse_meta(json.dumps(meta), hub.config.max_meta_bytes)
    if is_held(hub, sha256):
        return None
    u = schema.uploads
    row = {
        "id": secrets.token_hex(16),
        "device": device,
        "sha256": sha256,
        "size": size,
        "received": 0,
        "meta": parsed.model_dump(mode="json"),
        "created_at": time.time(),
        "chunks": [],
    }
    with writing(hub.engine) as conn:
        insert_ignore(conn, u, row)
        existing = conn.execute(
            sa.select(u.c.id).where(u.c.device == device, u.c.sha256 == sha256)
        ).scalar_one()
        return _load(conn, existing, device)


def upload_offset(hub: Hub, device: str, upload_id: str) -> int:
    """Bytes received so far."""
    with hub.engine.connect() as conn:
        return _load(conn, upload_id, device).received


def max_chunk(hub: Hub, device: str, upload_id: str, offset: int) -> int:
    """How many bytes a chunk at ``offset`` may have (checked before its body is read)."""
    with hub.engine.connect() as conn:
        upload = _load(conn, upload_id, device)
    if offset != upload.received:
        raise Conflict(
            f"Upload-Offset {offset} is not the upload's offset {upload.received}: HEAD it and resume"
        )
    return upload.size - upload.received


def append_chunk(
    hub: Hub, device: str, upload_id: str, offset: int, data: bytes
) -> tuple[Upload, str | None]:
    """Append ``data`` at ``offset``; (the upload now, "stored"/"duplicate" when it completed)."""
    with hub.engine.connect() as conn:
        upload = _load(conn, upload_id, device)
    if offset != upload.received:
        raise Conflict(
            f"Upload-Offset {offset} is not the upload's offset {upload.received}: HEAD it and resume"
        )
    if offset + len(data) > upload.size:
        raise PayloadTooLarge(f"the chunk ends past the declared size of {upload.size} bytes")
    if data:
        end = offset + len(data)
        hub.blobs.put(_chunk_key(upload_id, offset, end), data)  # durable before the row says so
        u = schema.uploads
        with writing(hub.engine) as conn:
            done = conn.execute(
                sa.update(u)
                .where(u.c.id == upload_id, u.c.received == offset)
                .values(received=end, chunks=[*upload.chunks, [offset, end]])
            )
            if done.rowcount != 1:
                raise Conflict("another request appended to this upload first: HEAD it and resume")
        upload = Upload(
            upload.id, upload.sha256, upload.size, end, upload.meta, [*upload.chunks, [offset, end]]
        )
    if upload.received < upload.size:
        return upload, None
    return upload, _complete(hub, device, upload)


def _complete(hub: Hub, device: str, upload: Upload) -> str:
    """Join the chunks, store the sample (checked like any other), drop the upload."""
    data = b"".join(hub.blobs.get(_chunk_key(upload.id, a, b)) for a, b in upload.chunks)
    try:
        status = store_sample(hub, device, upload.sha256, data, SampleMeta.model_validate(upload.meta))
    except RequestError:
        _drop(hub, upload)  # it can never succeed: start over with a new upload
        raise
    _drop(hub, upload)
    return status


def _drop(hub: Hub, upload: Upload) -> None:
    u = schema.uploads
    with writing(hub.engine) as conn:
        conn.execute(sa.delete(u).where(u.c.id == upload.id))
    for a, b in upload.chunks:
        hub.blobs.delete(_chunk_key(upload.id, a, b))
