"""Ingest: validate a sample (key, size, image, meta) and store it exactly once.

Order matters: nothing is written until every check passed; the blob is durable before the
row commits; a key already held is answered "duplicate" and nothing is rewritten.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edgeloop.errors import ImageError, ImageTooLarge, PayloadTooLarge, RequestError, UnsupportedMediaType
from edgeloop.hub import schema
from edgeloop.hub.config import HubConfig
from edgeloop.hub.db import insert_ignore, writing
from edgeloop.hub.state import Hub
from edgeloop.imaging import decode_image, oriented_size, read_header
from edgeloop.validation import format_validation_error

_SHA = re.compile(r"[0-9a-f]{64}")
MEDIA_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
STORED, DUPLICATE = "stored", "duplicate"


class SampleMeta(BaseModel):
    """What a device sends with an image (a spool record without the device: that is the token's)."""

    model_config = ConfigDict(extra="ignore")

    captured_at: float = Field(ge=0, allow_inf_nan=False)
    width: int = Field(0, ge=0, le=1_000_000)
    height: int = Field(0, ge=0, le=1_000_000)
    model_name: str = Field("", max_length=200)
    model_version: str = Field("", max_length=200)
    predictions: dict[str, Any] = Field(default_factory=lambda: {"predictions": []})
    sampler: str = Field("", max_length=64)
    score: float = Field(0.0, allow_inf_nan=False)
    reason: str = Field("", max_length=2000)
    tags: list[str] = Field(default_factory=list, max_length=64)
    sha256: str | None = None  # batch items may name their hash; it must match the bytes


def sample_key(sha256: str) -> str:
    """The blob key of a sample image."""
    return f"samples/{sha256}"


def check_sha(value: str | None, what: str = "Idempotency-Key") -> str:
    """A lower-case sha256 hex string, or a RequestError naming ``what``."""
    if not value:
        raise RequestError(f"missing {what}: send the sha256 (hex) of the image bytes")
    value = value.strip().lower()
    if not _SHA.fullmatch(value):
        raise RequestError(f"invalid {what} {value[:80]!r}: expected the sha256 of the image, 64 hex digits")
    return value


def parse_meta(raw: str | bytes | None, limit: int) -> SampleMeta:
    """The ``meta`` part as a SampleMeta, or a RequestError naming the field that is wrong."""
    if raw is None or raw in ("", b""):
        raise RequestError("missing 'meta' part: send the sample's JSON metadata")
    if len(raw) > limit:
        raise PayloadTooLarge(f"'meta' is {len(raw)} bytes, above the {limit} byte limit")
    if isinstance(raw, bytes):
        try:
            raw = raw.decode()
        except UnicodeDecodeError:
            raise RequestError("'meta' is not valid UTF-8 JSON") from None
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RequestError(f"'meta' is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise RequestError("'meta' must be a JSON object")
    try:
        meta = SampleMeta.model_validate(data)
    except ValidationError as exc:
        raise RequestError(f"invalid meta: {format_validation_error(exc, 'key')}") from None
    if not all(isinstance(p, dict) for p in meta.predictions.get("predictions", [])):
        raise RequestError("invalid meta: predictions.predictions must be a list of objects")
    return meta


def check_image(data: bytes, config: HubConfig) -> tuple[str, int, int]:
    """(media type, width, height) of an image the safe decoder accepts.

    Raises:
        PayloadTooLarge / ImageTooLarge (413), UnsupportedMediaType (415).
    """
    if len(data) > config.max_sample_bytes:
        raise PayloadTooLarge(f"image of {len(data)} bytes is above the {config.max_sample_bytes} byte cap")
    try:
        header = read_header(data)
        if header.format not in MEDIA_TYPES:
            raise UnsupportedMediaType(f"{header.format.upper()} is not accepted: send JPEG, PNG or WebP")
        width, height = oriented_size(header)
        if width * height > config.max_pixels:
            raise ImageTooLarge(
                f"image of {width}x{height} pixels is above the {config.max_pixels} pixel cap"
            )
        decode_image(data, max_pixels=config.max_pixels)
    except (ImageTooLarge, UnsupportedMediaType):
        raise
    except ImageError as exc:
        raise UnsupportedMediaType(f"not an image the hub accepts: {exc}") from None
    return MEDIA_TYPES[header.format], width, height


def _classes(predictions: dict[str, Any]) -> str:
    names = sorted({str(p.get("class", "")) for p in predictions.get("predictions", []) if p.get("class")})
    return "," + "".join(f"{n.replace(',', '_')}," for n in names)


def is_held(hub: Hub, sha256: str) -> bool:
    """Whether the hub already holds the sample ``sha256`` (from any device)."""
    s = schema.samples
    with hub.engine.connect() as conn:
        return conn.execute(sa.select(s.c.sha256).where(s.c.sha256 == sha256)).first() is not None


def store_sample(hub: Hub, device: str, sha256: str, data: bytes, meta: SampleMeta) -> str:
    """Validate and store one sample; "stored" or "duplicate" (the key was already held).

    Raises:
        RequestError (400) and its subclasses 413 / 415 for anything that must not be stored.
    """
    if hashlib.sha256(data).hexdigest() != sha256:
        raise RequestError("Idempotency-Key does not match the sha256 of the image bytes")
    if meta.sha256 is not None and meta.sha256.lower() != sha256:
        raise RequestError("meta.sha256 does not match the sha256 of the image bytes")
    if is_held(hub, sha256):
        return DUPLICATE
    media_type, width, height = check_image(data, hub.config)
    hub.blobs.put(sample_key(sha256), data)  # durable before the row commits
    row = {
        "sha256": sha256,
        "device": device,
        "received_at": time.time(),
        "captured_at": meta.captured_at,
        "bytes": len(data),
        "width": width,
        "height": height,
        "media_type": media_type,
        "model_name": meta.model_name,
        "model_version": meta.model_version,
        "predictions": meta.predictions,
        "classes": _classes(meta.predictions),
        "sampler": meta.sampler,
        "score": meta.score,
        "reason": meta.reason,
        "tags": meta.tags,
    }
    with writing(hub.engine) as conn:
        inserted = insert_ignore(conn, schema.samples, row)
    return STORED if inserted else DUPLICATE
