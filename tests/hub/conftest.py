"""Hub fixtures: the backend (SQLite, or a real PostgreSQL server) and the real hub over HTTP."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgeloop.imaging import encode_jpeg
from edgeloop.testing.hub_server import HubServer

CI = os.environ.get("CI", "").lower() == "true"


def _missing(what: str) -> None:
    if CI:
        pytest.fail(f"{what} (CI=true: the hub suite must run on PostgreSQL too)")
    pytest.skip(what)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A real PostgreSQL server on loopback for the whole session (edgeloop.testing.servers),
    or the one $EDGELOOP_TEST_POSTGRES_URL names (a server you started; tests create databases on it)."""
    given = os.environ.get("EDGELOOP_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    try:
        from edgeloop.testing.servers import postgres_server  # type: ignore[import-not-found]
    except ImportError:
        _missing("PostgreSQL tests need edgeloop.testing.servers.postgres_server (not present yet)")
    with postgres_server() as url:
        yield url


def _fresh_database(server_url: str) -> str:
    """A new empty database on the server; its URL."""
    import sqlalchemy as sa

    name = f"hub_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return server_url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(params=["sqlite", "postgresql"])
def hub_backend(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """(db_url, blobs_url): a SQLite file or a fresh PostgreSQL database, and a blob folder."""
    blobs = str(tmp_path / "blobs")
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hub.db'}", blobs
    server = request.getfixturevalue("postgres_url")
    return _fresh_database(server), blobs


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
    """(rows in samples, files under blobs/ other than upload chunks): what "nothing stored" compares."""
    status, body = server.json("GET", "/api/v1/samples?limit=1000")
    assert status == 200, body
    blobs = Path(server.blobs_url) if server.blobs_url else server.data_dir / "blobs"
    files = (
        sorted(str(p.relative_to(blobs)) for p in blobs.rglob("*") if p.is_file()) if blobs.exists() else []
    )
    return len(body["samples"]), files


@contextlib.contextmanager
def no_change(server: HubServer) -> Iterator[None]:
    before = stored_state(server)
    yield
    assert stored_state(server) == before
