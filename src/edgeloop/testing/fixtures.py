"""pytest fixtures over the test servers, to import into a conftest.py.

    from edgeloop.testing.fixtures import moto_endpoint, pg_server, pg_url, s3_url  # noqa: F401

- ``pg_server`` (session): one PostgreSQL server for the whole run (a PostgresServer:
  ``.url``, ``.kill()``, ``.start()``, ``.restart()``).
- ``pg_url``: a fresh, empty database on it for each test (``postgresql+psycopg://...``).
- ``moto_endpoint`` (session): moto's S3 server.
- ``s3_url``: a fresh bucket for each test, ``s3://<bucket>/hub``, with the S3 environment
  (endpoint, test credentials, region) set for the test.

A missing component skips the tests that use it, or fails them under CI=true.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from edgeloop.testing.components import ComponentMissing, skip_missing
from edgeloop.testing.postgres import PostgresServer
from edgeloop.testing.s3server import create_bucket, moto_server, s3_env


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    try:
        server = PostgresServer()
    except ComponentMissing as missing:
        skip_missing(missing)
    with server:
        yield server


@pytest.fixture()
def pg_url(pg_server: PostgresServer) -> str:
    pg_server.start()  # no-op while it runs; brings it back if a previous test stopped or killed it
    return pg_server.create_database()


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    try:
        with moto_server() as endpoint:
            yield endpoint
    except ComponentMissing as missing:
        skip_missing(missing)


@pytest.fixture()
def s3_url(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    for name, value in s3_env(moto_endpoint).items():
        monkeypatch.setenv(name, value)
    bucket = "t-" + secrets.token_hex(12)
    create_bucket(moto_endpoint, bucket)
    return f"s3://{bucket}/hub"
