"""The fleet set-up end to end: the real hub on a real PostgreSQL server with its blobs in S3 (moto)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import urlparse

from edgeloop.testing import fixtures
from edgeloop.testing.hub_server import HubServer
from edgeloop.testing.servers import s3_client, s3_env
from tests.hub.conftest import jpeg, meta

# tests/hub/conftest.py belongs to the hub's core; these come from edgeloop.testing.fixtures.
pg_server, pg_url, moto_endpoint, s3_url = (
    fixtures.pg_server, fixtures.pg_url, fixtures.moto_endpoint, fixtures.s3_url,
)  # fmt: skip


def test_hub_on_postgresql_and_s3(pg_url: str, moto_endpoint: str, s3_url: str, tmp_path: Path) -> None:
    db = pg_url.replace("postgresql+psycopg://", "postgresql://")  # as a user writes --db
    with HubServer(tmp_path / "data", db_url=db, blobs_url=s3_url, env=s3_env(moto_endpoint)) as hub:
        assert hub.json("GET", "/healthz")[1] == {"ok": True, "db": "postgresql", "blobs": "s3"}
        token = hub.add_device("cam1")
        images = [jpeg(seed) for seed in range(5)]
        for image in images:
            assert hub.upload(token, image, meta())[0] == 201
        assert hub.upload(token, images[0], meta())[0] == 200  # duplicate
        for image in images:
            sha = hashlib.sha256(image).hexdigest()
            status, _, body = hub.request("GET", f"/api/v1/samples/{sha}/image")
            assert (status, body) == (200, image)
        assert hub.leaked_tokens() == []
    bucket, prefix = urlparse(s3_url).netloc, urlparse(s3_url).path.strip("/")
    client = s3_client(moto_endpoint)
    keys = sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", []))
    client.close()
    assert keys == sorted(f"{prefix}/samples/{hashlib.sha256(i).hexdigest()}" for i in images)
