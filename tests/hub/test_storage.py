"""Storage: migrations equal schema.metadata, engines' settings, idempotent inserts, the folder store."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from edgeloop.errors import ConfigError, NotFound
from edgeloop.hub import schema
from edgeloop.hub.blobs import BlobStore, open_blobs
from edgeloop.hub.blobs.base import STORES, blobs_kind
from edgeloop.hub.blobs.folder import FolderBlobs
from edgeloop.hub.db import create_engine, insert_ignore, normalize_url, writing
from edgeloop.hub.migrations import current, upgrade


def test_migrations_create_exactly_the_schema(hub_db: str) -> None:
    engine = create_engine(hub_db)
    try:
        upgrade(engine)
        upgrade(engine)  # a second run changes nothing
        assert current(engine) is not None
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "compare_server_default": False}
            )
            assert compare_metadata(context, schema.metadata) == []
    finally:
        engine.dispose()


def test_concurrent_migrations(hub_db: str, tmp_path: Path) -> None:
    """Three `edgeloop hub migrate` processes at once (Alembic's context is per process)."""
    command = [
        sys.executable,
        "-m",
        "edgeloop",
        "hub",
        "migrate",
        "--data",
        str(tmp_path),
        "--db",
        hub_db,
    ]
    procs = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outputs
    assert all("database at revision 0003" in err for _, err in outputs)


def test_sqlite_settings_and_insert_ignore(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'h.db'}")
    try:
        upgrade(engine)
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
        row = {"name": "d", "created_at": 1.0}
        with writing(engine) as conn:
            assert insert_ignore(conn, schema.devices, row) is True
            assert insert_ignore(conn, schema.devices, row) is False
        with pytest.raises(sa.exc.IntegrityError), writing(engine) as conn:  # foreign keys are on
            conn.execute(
                sa.insert(schema.tokens).values(
                    token_sha256="x", role="device", device="nope", created_at=1.0
                )
            )
    finally:
        engine.dispose()


def test_insert_ignore_on_each_backend(hub_db: str) -> None:
    engine = create_engine(hub_db)
    try:
        upgrade(engine)
        with writing(engine) as conn:
            assert insert_ignore(conn, schema.devices, {"name": "d", "created_at": 1.0})
            assert not insert_ignore(conn, schema.devices, {"name": "d", "created_at": 2.0})
        with engine.connect() as conn:
            assert conn.execute(sa.select(schema.devices.c.created_at)).scalars().all() == [1.0]
    finally:
        engine.dispose()


def test_database_urls() -> None:
    assert normalize_url("postgresql://u@h:5/db") == "postgresql+psycopg://u@h:5/db"
    assert normalize_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("sqlite:///x.db") == "sqlite:///x.db"
    with pytest.raises(ConfigError, match="postgresql://"):
        normalize_url("mysql://u:secret@h/db")


def test_folder_store(tmp_path: Path) -> None:
    store = open_blobs(f"file://{tmp_path / 'b'}")
    assert isinstance(store, FolderBlobs) and isinstance(store, BlobStore)
    store.put("samples/abc", b"one")
    store.put("samples/abc", b"two")  # replaced atomically
    assert store.get("samples/abc") == b"two" and store.exists("samples/abc")
    store.put("uploads/id/0-5", b"12345")
    store.delete("samples/abc")
    store.delete("samples/abc")  # idempotent
    assert not store.exists("samples/abc")
    with pytest.raises(NotFound):
        store.get("samples/abc")
    for bad in ("../x", "a/../../x", "/etc/passwd", ".hidden", "a//b", "", "a/.tmp-1", "a\\b"):
        with pytest.raises(ValueError):
            store.put(bad, b"x")
    files = sorted(str(p.relative_to(tmp_path / "b")) for p in (tmp_path / "b").rglob("*") if p.is_file())
    assert files == ["uploads/id/0-5"]
    assert oct((tmp_path / "b").stat().st_mode & 0o777) != ""
    store.close()


def test_folder_put_failure_leaves_nothing(tmp_path: Path) -> None:
    store = FolderBlobs(tmp_path / "b")
    (tmp_path / "b" / "samples").mkdir()
    os.chmod(tmp_path / "b" / "samples", 0o500)
    try:
        if os.geteuid() == 0:
            pytest.skip("root ignores folder permissions")
        with pytest.raises(PermissionError):
            store.put("samples/x", b"data")
        assert list((tmp_path / "b" / "samples").iterdir()) == []
    finally:
        os.chmod(tmp_path / "b" / "samples", 0o700)


def test_blob_registry() -> None:
    assert blobs_kind("/data/blobs") == "folder" and blobs_kind("file:///x") == "folder"
    assert blobs_kind("s3://bucket/prefix") == "s3"
    with pytest.raises(ConfigError, match="s3://"):
        blobs_kind("ftp://x")
    # the S3 store is imported only when used
    assert STORES["s3"].startswith("edgeloop.hub.blobs.s3:")
