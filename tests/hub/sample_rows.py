"""Hub sample rows written straight into the tables, with real images, for dataset and review tests."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from typing import Any

import cv2
import numpy as np
import sqlalchemy as sa

from edgeloop.hub import schema
from edgeloop.hub.blobs import BlobStore, open_blobs
from edgeloop.hub.db import create_engine


def backend_engine(db_url: str) -> Iterator[sa.Engine]:
    """The hub's engine on ``db_url`` (SQLite file or PostgreSQL database) with the hub's tables."""
    engine = create_engine(db_url)
    schema.metadata.create_all(engine)
    try:
        yield engine
    finally:
        engine.dispose()


def backend_blobs(blobs_url: str) -> Iterator[BlobStore]:
    """The blob store at ``blobs_url``, closed afterwards."""
    store = open_blobs(blobs_url)
    try:
        yield store
    finally:
        store.close()


def image_png(seed: int, size_wh: tuple[int, int] = (64, 48)) -> bytes:
    """A small distinct PNG per seed."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (size_wh[1], size_wh[0], 3), dtype=np.uint8)
    ok, data = cv2.imencode(".png", pixels)
    assert ok
    return bytes(data)


def wire(
    boxes: list[tuple[float, float, float, float, str]], size_wh: tuple[int, int], conf: float = 0.9
) -> dict[str, Any]:
    """Detection wire JSON from (x, y, w, h, class) boxes (centres in pixels)."""
    return {
        "image": {"width": size_wh[0], "height": size_wh[1]},
        "predictions": [
            {"x": x, "y": y, "width": w, "height": h, "confidence": conf, "class": c, "class_id": 0}
            for x, y, w, h, c in boxes
        ],
    }


def ensure_device(conn: sa.Connection, name: str) -> None:
    d = schema.devices
    if conn.execute(sa.select(d.c.name).where(d.c.name == name)).first() is None:
        conn.execute(sa.insert(d).values(name=name, group="default", created_at=time.time()))


def add_sample(
    engine: sa.Engine,
    seed: int,
    *,
    status: str = "labelled",
    boxes: list[tuple[float, float, float, float, str]] | None = None,
    labels: list[tuple[float, float, float, float, str]] | None = None,
    device: str = "cam-1",
    sampler: str = "uncertainty",
    score: float = 0.5,
    captured_at: float = 1_000.0,
    received_at: float | None = None,
    size_wh: tuple[int, int] = (64, 48),
    blobs: Any = None,
) -> str:
    """Insert one sample row (and, given ``blobs``, its image); returns its sha256.

    ``boxes`` are the device's predictions; ``labels`` a person's boxes (default: the
    predictions, for labelled samples).
    """
    data = image_png(seed, size_wh)
    sha = hashlib.sha256(data).hexdigest()
    predictions = boxes if boxes is not None else [(20.0, 20.0, 10.0, 8.0, "car")]
    if labels is None and status == "labelled":
        labels = predictions
    if blobs is not None:
        blobs.put(f"samples/{sha}", data)
    with engine.begin() as conn:
        ensure_device(conn, device)
        conn.execute(
            sa.insert(schema.samples).values(
                sha256=sha,
                device=device,
                received_at=time.time() if received_at is None else received_at,
                captured_at=captured_at,
                bytes=len(data),
                width=size_wh[0],
                height=size_wh[1],
                media_type="image/png",
                predictions=wire(predictions, size_wh),
                classes="," + "".join(f"{b[4]}," for b in predictions),
                sampler=sampler,
                score=score,
                tags=[],
                status=status,
                labels=None if labels is None else wire(labels, size_wh, 1.0),
                labelled_at=time.time() if status != "pending" else None,
                labelled_by="tester" if status != "pending" else None,
            )
        )
    return sha


def splits(engine: sa.Engine) -> dict[str, str | None]:
    """sha256 -> the split stored on the sample row."""
    s = schema.samples
    with engine.connect() as conn:
        return {row.sha256: row.split for row in conn.execute(sa.select(s.c.sha256, s.c.split))}
