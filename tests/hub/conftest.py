"""Hub fixtures: the backend (SQLite, or a real PostgreSQL server) and the real hub over HTTP."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
import pytest

from edgeloop.imaging import encode_jpeg
from edgeloop.testing.fixtures import moto_endpoint, pg_server, pg_url, s3_url  # noqa: F401
from edgeloop.testing.hub_server import HubServer

CI = os.environ.get("CI", "").lower() == "true"


@pytest.fixture(params=["sqlite", "postgresql", "postgresql-s3"])
def hub_backend(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """(db_url, blobs_url): a SQLite file, or a fresh database on a real PostgreSQL server; a blob
    folder, or (the fleet set-up) a fresh bucket on moto's S3 server. Servers come from
    edgeloop.testing.fixtures: missing ones skip (fail under CI=true)."""
    blobs = str(tmp_path / "blobs")
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hub.db'}", blobs
    db_url: str = request.getfixturevalue("pg_url")
    if request.param == "postgresql-s3":
        blobs = request.getfixturevalue("s3_url")
    return db_url, blobs


@pytest.fixture(params=["sqlite", "postgresql"])
def hub_db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL: a SQLite file or a fresh PostgreSQL database (for tests of the database alone)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hub.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture()
def hub_server(hub_backend: tuple[str, str], tmp_path: Path) -> Iterator[HubServer]:
    """The real hub under uvicorn in a subprocess on a free loopback port."""
    db_url, blobs_url = hub_backend
    server = HubServer(tmp_path / "data", db_url=db_url, blobs_url=blobs_url)
    with server:
        yield server
    assert server.leaked_tokens() == [], "a token value appears in the hub's log"


@pytest.fixture()
def sqlite_hub(tmp_path: Path) -> Iterator[HubServer]:
    """The real hub on its embedded defaults (SQLite + folder in --data)."""
    with HubServer(tmp_path / "data") as server:
        yield server
    assert server.leaked_tokens() == [], "a token value appears in the hub's log"


def jpeg(seed: int = 0, size_wh: tuple[int, int] = (64, 48)) -> bytes:
    """A small, distinct JPEG."""
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 255, (size_wh[1], size_wh[0], 3), dtype=np.uint8)
    return encode_jpeg(image)


def meta(**overrides: Any) -> dict[str, Any]:
    """Valid sample metadata."""
    body: dict[str, Any] = {
        "captured_at": 1_700_000_000.0,
        "width": 64,
        "height": 48,
        "model_name": "det",
        "model_version": "1",
        "predictions": {
            "image": {"width": 64, "height": 48},
            "predictions": [
                {
                    "x": 10,
                    "y": 10,
                    "width": 5,
                    "height": 5,
                    "confidence": 0.4,
                    "class": "person",
                    "class_id": 0,
                }
            ],
        },
        "sampler": "uncertainty",
        "score": 0.7,
        "reason": "low confidence",
        "tags": ["t1"],
    }
    body.update(overrides)
    return body


def stored_state(server: HubServer) -> tuple[int, list[str]]:
    """(rows in samples, blob keys): what "nothing stored" compares."""
    status, body = server.json("GET", "/api/v1/samples?limit=1000")
    assert status == 200, body
    return len(body["samples"]), _blob_keys(server)


def _blob_keys(server: HubServer) -> list[str]:
    url = server.blobs_url or str(server.data_dir / "blobs")
    if url.startswith("s3://"):
        from edgeloop.testing.servers import s3_client

        client = s3_client(os.environ["EDGELOOP_S3_ENDPOINT"])
        try:
            listed = client.list_objects_v2(Bucket=urlparse(url).netloc).get("Contents", [])
        finally:
            client.close()
        return sorted(o["Key"] for o in listed)
    blobs = Path(url)
    return (
        sorted(str(p.relative_to(blobs)) for p in blobs.rglob("*") if p.is_file()) if blobs.exists() else []
    )


@contextlib.contextmanager
def no_change(server: HubServer) -> Iterator[None]:
    before = stored_state(server)
    yield
    assert stored_state(server) == before
