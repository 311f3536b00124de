"""The servers the hub's tests start: PostgreSQL, moto's S3 server, Mosquitto with users and an ACL."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from edgeloop.testing import postgres as pg_module
from edgeloop.testing.servers import (
    ComponentMissing,
    PostgresServer,
    create_bucket,
    fresh_database,
    mosquitto_server,
    moto_server,
    postgres_server,
    s3_client,
    skip_missing,
)


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _port(url: str) -> int:
    return int(url.split("@127.0.0.1:", 1)[1].split("/", 1)[0])


def _plain(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def test_postgres_starts_answers_and_stops() -> None:
    try:
        context = postgres_server()
        url = context.__enter__()
    except ComponentMissing as missing:
        skip_missing(missing)
    import psycopg
    import sqlalchemy as sa

    try:
        assert url.startswith("postgresql+psycopg://postgres@127.0.0.1:") and url.endswith("/postgres")
        with psycopg.connect(_plain(url)) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
            assert conn.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)
        engine = sa.create_engine(url)  # the URL as the hub's --db takes it
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT current_user")).scalar() == "postgres"
        engine.dispose()
    finally:
        context.__exit__(None, None, None)
    assert not _listening(_port(url))


def test_fresh_databases_are_isolated(pg_server: PostgresServer) -> None:
    import psycopg

    first, second = pg_server.create_database(), fresh_database(pg_server.url)
    assert first != second and first.rsplit("/", 1)[1].startswith("hub_")
    with psycopg.connect(_plain(first)) as conn:
        conn.execute("CREATE TABLE only_here (x int)")
    with psycopg.connect(_plain(second)) as conn:
        assert conn.execute("SELECT to_regclass('only_here')").fetchone() == (None,)


def test_committed_rows_survive_kill_9_and_restart(pg_server: PostgresServer) -> None:
    import psycopg

    url = _plain(pg_server.create_database())
    with psycopg.connect(url) as conn:
        conn.execute("CREATE TABLE t (x int)")
        conn.execute("INSERT INTO t SELECT generate_series(1, 1000)")
    pg_server.kill()
    assert not _listening(pg_server.port)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=2)
    pg_server.start()
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (1000,)
    pg_server.restart()
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (1000,)


def test_pg_url_fixture_brings_a_killed_server_back(
    pg_server: PostgresServer, request: pytest.FixtureRequest
) -> None:
    pg_server.kill()
    assert not pg_server.is_running()
    url = request.getfixturevalue("pg_url")
    assert pg_server.is_running() and url.startswith(pg_server.url.rsplit("/", 1)[0] + "/hub_")


def test_postgres_data_folder_is_removed(pg_server: PostgresServer) -> None:
    with PostgresServer() as other:
        root = other.root
        assert root is not None and (root / "data" / "PG_VERSION").exists()
    assert not root.exists()


def test_missing_postgres_names_the_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(pg_module, "PG_ROOT", tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ComponentMissing, match="PostgreSQL server.*apt-get install postgresql"):
        postgres_server().__enter__()


def test_missing_component_skips_or_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    missing = ComponentMissing("thing", "apt-get install thing")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="thing missing: apt-get install thing"):
        skip_missing(missing)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="thing missing"):
        skip_missing(missing)


def test_moto_server_round_trip_and_stop() -> None:
    try:
        context = moto_server()
        endpoint = context.__enter__()
    except ComponentMissing as missing:
        skip_missing(missing)
    try:
        create_bucket(endpoint, "round-trip")
        client = s3_client(endpoint)
        client.put_object(Bucket="round-trip", Key="a/b", Body=b"payload")
        assert client.get_object(Bucket="round-trip", Key="a/b")["Body"].read() == b"payload"
        client.close()
    finally:
        context.__exit__(None, None, None)
    assert not _listening(int(endpoint.rsplit(":", 1)[1]))


def test_mosquitto_with_users_and_acl() -> None:
    mqtt = pytest.importorskip("paho.mqtt.client")
    acl = "user dev1\ntopic readwrite edgeloop/device/dev1/#\n"
    try:
        context = mosquitto_server(users={"dev1": "s3cret", "dev2": "other"}, acl=acl)
        broker = context.__enter__()
    except ComponentMissing as missing:
        skip_missing(missing)
    try:
        assert broker.url == f"mqtt://127.0.0.1:{broker.port}"

        def connect(user: str, password: str) -> tuple[object, int]:
            done = threading.Event()
            result: dict[str, int] = {}
            client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"t-{user}-{password}")
            client.username_pw_set(user, password)

            def on_connect(_c: object, _u: object, _f: object, reason: object, _p: object) -> None:
                result["rc"] = int(getattr(reason, "value", reason))  # type: ignore[arg-type]
                done.set()

            client.on_connect = on_connect
            client.connect("127.0.0.1", broker.port)
            client.loop_start()
            assert done.wait(10)
            return client, result["rc"]

        bad, rc = connect("dev1", "wrong")
        assert rc != 0  # not authorised
        bad.loop_stop()  # type: ignore[attr-defined]

        received: list[str] = []
        got = threading.Event()
        dev1, rc = connect("dev1", "s3cret")
        assert rc == 0

        def on_message(_c: object, _u: object, message: object) -> None:
            received.append(message.topic)  # type: ignore[attr-defined]
            got.set()

        dev1.on_message = on_message  # type: ignore[attr-defined]
        dev1.subscribe("edgeloop/#", qos=1)  # type: ignore[attr-defined]
        dev2, rc = connect("dev2", "other")
        assert rc == 0
        import time

        time.sleep(0.3)
        dev2.publish("edgeloop/device/dev1/changed", b"{}", qos=1).wait_for_publish(5)  # type: ignore[attr-defined]
        dev1.publish("edgeloop/device/dev1/changed", b"{}", qos=1).wait_for_publish(5)  # type: ignore[attr-defined]
        assert got.wait(5)
        time.sleep(0.5)
        assert received == ["edgeloop/device/dev1/changed"]  # dev2's publish was dropped by the ACL
        for client in (dev1, dev2):
            client.loop_stop()  # type: ignore[attr-defined]
            client.disconnect()  # type: ignore[attr-defined]
    finally:
        context.__exit__(None, None, None)
    assert not _listening(broker.port)
