"""Sync to an S3 bucket without a hub, against moto's S3 server on loopback (real HTTP, real boto3)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgeloop.improve.acker import SpoolAcker
from edgeloop.improve.sync import Syncer
from edgeloop.improve.sync_targets import TargetOptions, TargetRefused, open_target
from edgeloop.testing.hub_server import free_port
from edgeloop.testing.sync_faults import fill_spool

boto3 = pytest.importorskip("boto3", reason="the S3 target needs edgeloop[s3]")
moto_server = pytest.importorskip("moto.server", reason="the S3 tests need moto[server] (edgeloop[dev])")


@pytest.fixture()
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """moto's S3 server on a loopback port, the env pointing at it, and a client with a bucket."""
    port = free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    for name, value in {
        "EDGELOOP_S3_ENDPOINT": endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    client = boto3.client("s3", endpoint_url=endpoint)
    client.create_bucket(Bucket="fleet")
    try:
        yield client
    finally:
        server.stop()


def _keys(client: object) -> dict[str, bytes]:
    listed = client.list_objects_v2(Bucket="fleet").get("Contents", [])  # type: ignore[attr-defined]
    return {
        o["Key"]: client.get_object(Bucket="fleet", Key=o["Key"])["Body"].read()  # type: ignore[attr-defined]
        for o in listed
    }


def test_sync_to_s3_puts_each_sample_once_and_skips_what_is_there(s3: object, tmp_path: Path) -> None:
    shas = fill_spool(tmp_path / "spool", 12, seed=1)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    args = ["sync", "--spool", str(tmp_path / "spool"), "--to", "s3://fleet/line-3/", "--once"]
    result = subprocess.run(
        [sys.executable, "-m", "edgeloop.cli", *args], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "sent 12 (stored 12, already there 0), acked 12" in result.stderr
    objects = _keys(s3)
    assert set(objects) == {f"line-3/{sha}.{ext}" for sha in shas for ext in ("jpg", "json")}
    for sha in shas:
        assert hashlib.sha256(objects[f"line-3/{sha}.jpg"]).hexdigest() == sha
        assert json.loads(objects[f"line-3/{sha}.json"])["sha256"] == sha
    # The same images again (another spool): HEAD finds them, nothing is uploaded twice.
    fill_spool(tmp_path / "again", 12, seed=1)
    with SpoolAcker(tmp_path / "again") as acker:
        stats = Syncer(acker, open_target("s3", TargetOptions("s3://fleet/line-3")), once=True).run()
    assert (stats.stored, stats.duplicate, stats.acked) == (0, 12, 12)


def test_a_missing_bucket_stops_sync(s3: object, tmp_path: Path) -> None:
    fill_spool(tmp_path / "spool", 2, seed=2)
    with SpoolAcker(tmp_path / "spool") as acker:
        syncer = Syncer(acker, open_target("s3", TargetOptions("s3://no-such-bucket/x")), once=True)
        with pytest.raises(TargetRefused, match="NoSuchBucket"):
            syncer.run()
        assert acker.backlog()[0] == 2
