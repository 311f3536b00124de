"""The blob store contract, run unchanged on the folder store and on S3 (moto's server over real HTTP)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from edgeloop.hub.blobs.base import BadKey, BlobError, BlobStore, NotFound, open_blobs
from edgeloop.hub.blobs.s3 import BlobCorrupt, BlobUnavailable, S3Blobs
from edgeloop.testing import fixtures
from edgeloop.testing.servers import FaultProxy, free_port, s3_client, s3_env

MiB = 1024 * 1024
SHA = hashlib.sha256(b"x").hexdigest()
GOOD_KEYS = [f"samples/{SHA}", "uploads/4f2a-9c/0", "uploads/4f2a-9c/17", "datasets/fp_1.json", "a"]
BAD_KEYS = [
    "", "/abs", "../up", "samples/../../etc/passwd", "a//b", "a/", ".hidden", "samples/.x", "a/./b",
    "with space", "tab\tkey", "new\nline", "nul\x00", "back\\slash", "ümlaut", "a?b", "a#b", "%2e%2e",
    "x" * 513, "samples/" + "y" * 600,
]  # fmt: skip


moto_endpoint, s3_url = fixtures.moto_endpoint, fixtures.s3_url  # tests/hub/conftest.py is hub-core's


@pytest.fixture()
def s3_endpoint(moto_endpoint: str) -> str:
    return moto_endpoint


@pytest.fixture()
def s3_bucket(s3_url: str) -> str:
    """A fresh bucket per test; boto3 pointed at moto through the environment, as a user would."""
    return urlparse(s3_url).netloc


@pytest.fixture(params=["folder", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlobStore]:
    if request.param == "folder":
        url = f"file://{tmp_path / 'blobs'}"
    else:
        url = f"s3://{request.getfixturevalue('s3_bucket')}/hub/one"
    blobs = open_blobs(url)
    yield blobs
    blobs.close()


def test_put_get_exists(store: BlobStore) -> None:
    for i, key in enumerate(GOOD_KEYS):
        assert not store.exists(key)
        store.put(key, b"blob %d" % i)
        assert store.exists(key)
    for i, key in enumerate(GOOD_KEYS):
        assert store.get(key) == b"blob %d" % i
    store.put("empty", b"")
    assert store.get("empty") == b"" and store.exists("empty")


def test_missing_key_raises_not_found(store: BlobStore) -> None:
    with pytest.raises(NotFound, match="no blob"):
        store.get(f"samples/{SHA}")
    assert not store.exists(f"samples/{SHA}")
    assert issubclass(NotFound, BlobError)


def test_put_same_bytes_twice_is_harmless(store: BlobStore) -> None:
    data = os.urandom(5000)
    store.put(f"samples/{SHA}", data)
    store.put(f"samples/{SHA}", data)
    assert store.get(f"samples/{SHA}") == data


def test_delete_is_idempotent(store: BlobStore) -> None:
    store.put("uploads/u1/0", b"chunk")
    store.delete("uploads/u1/0")
    assert not store.exists("uploads/u1/0")
    with pytest.raises(NotFound):
        store.get("uploads/u1/0")
    store.delete("uploads/u1/0")
    store.delete("never/there")


def test_big_object_round_trip(store: BlobStore) -> None:
    data = os.urandom(20 * MiB)  # above the S3 store's 16 MiB multipart threshold
    store.put("uploads/big/0", data)
    assert hashlib.sha256(store.get("uploads/big/0")).digest() == hashlib.sha256(data).digest()


def test_odd_keys_refused(store: BlobStore) -> None:
    for key in BAD_KEYS:
        with pytest.raises(BadKey, match="invalid blob key"):
            store.put(key, b"x")
        for call in (store.get, store.exists, store.delete):
            with pytest.raises(BadKey):
                call(key)


def test_a_reopened_store_holds_what_was_put(store: BlobStore, request: pytest.FixtureRequest) -> None:
    store.put("samples/keep", b"kept")
    store.close()
    if request.node.callspec.params["store"] == "folder":
        url = str(request.getfixturevalue("tmp_path") / "blobs")  # a plain path this time
    else:
        url = f"s3://{request.getfixturevalue('s3_bucket')}/hub/one"
    again = open_blobs(url)
    try:
        assert again.get("samples/keep") == b"kept"
    finally:
        again.close()


def test_folder_store_leaves_no_temporary_files(tmp_path: Path) -> None:
    blobs = open_blobs(str(tmp_path / "b"))
    for i in range(20):
        blobs.put(f"samples/{i}", b"x" * i)
    names = sorted(
        p.relative_to(tmp_path / "b").as_posix() for p in (tmp_path / "b").rglob("*") if p.is_file()
    )
    assert names == sorted(f"samples/{i}" for i in range(20))


# -- S3 only ---------------------------------------------------------------------------------------------


def _objects(endpoint: str, bucket: str) -> dict[str, Any]:
    client = s3_client(endpoint)
    try:
        return {o["Key"]: o for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])}
    finally:
        client.close()


def test_s3_keys_live_under_the_prefix_and_odd_keys_store_nothing(s3_endpoint: str, s3_bucket: str) -> None:
    with S3Blobs.from_url(f"s3://{s3_bucket}/fleet/a") as blobs:
        blobs.put(f"samples/{SHA}", b"img")
        for key in BAD_KEYS:
            with pytest.raises(BadKey):
                blobs.put(key, b"x")
    assert list(_objects(s3_endpoint, s3_bucket)) == [f"fleet/a/samples/{SHA}"]


def test_s3_big_object_goes_in_parts_with_checksums(s3_endpoint: str, s3_bucket: str) -> None:
    data = os.urandom(12 * MiB)
    with S3Blobs(s3_bucket, multipart_threshold_bytes=5 * MiB, multipart_chunk_bytes=5 * MiB) as blobs:
        blobs.put("uploads/big/0", data)
        assert blobs.get("uploads/big/0") == data
    client = s3_client(s3_endpoint)
    head = client.head_object(Bucket=s3_bucket, Key="uploads/big/0")
    client.close()
    assert head["ETag"].strip('"').endswith("-3"), head["ETag"]  # 5 + 5 + 2 MiB
    assert head["Metadata"]["sha256"] == hashlib.sha256(data).hexdigest()


def test_s3_small_put_carries_its_sha256(s3_endpoint: str, s3_bucket: str) -> None:
    with S3Blobs(s3_bucket) as blobs:
        blobs.put("samples/s", b"small")
    client = s3_client(s3_endpoint)
    head = client.head_object(Bucket=s3_bucket, Key="samples/s", ChecksumMode="ENABLED")
    client.close()
    assert head["Metadata"]["sha256"] == hashlib.sha256(b"small").hexdigest()
    assert head["ChecksumSHA256"]  # the request's ChecksumSHA256 was recorded with the object


def test_s3_corrupt_object_refused_on_get(s3_endpoint: str, s3_bucket: str) -> None:
    with S3Blobs(s3_bucket) as blobs:
        blobs.put("samples/c", b"original")
        client = s3_client(s3_endpoint)  # change the bytes behind the store's back, keeping the recorded hash
        client.put_object(
            Bucket=s3_bucket, Key="samples/c", Body=b"tampered",
            Metadata={"sha256": hashlib.sha256(b"original").hexdigest()},
        )  # fmt: skip
        client.close()
        with pytest.raises(BlobCorrupt, match="does not match its SHA-256"):
            blobs.get("samples/c")


def test_s3_missing_bucket_names_the_fix(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in s3_env(s3_endpoint).items():
        monkeypatch.setenv(name, value)
    with pytest.raises(
        BlobError, match=r"bucket 'no-such-bucket' does not exist.*aws s3 mb s3://no-such-bucket"
    ):
        open_blobs("s3://no-such-bucket/p")


def test_s3_missing_credentials_name_the_fix(
    s3_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("EDGELOOP_S3_ENDPOINT", s3_endpoint)
    with pytest.raises(BlobError, match="no AWS credentials.*AWS_ACCESS_KEY_ID"):
        open_blobs("s3://any-bucket")


def test_s3_unreachable_endpoint_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("boto3")
    for name, value in s3_env(f"http://127.0.0.1:{free_port()}").items():
        monkeypatch.setenv(name, value)
    with pytest.raises(BlobUnavailable, match="cannot reach the S3 endpoint"):
        open_blobs("s3://b-unreachable")


def test_s3_bad_urls_refused() -> None:
    for url in ("s3://", "s3:///prefix", "s3://bucket/../x"):
        with pytest.raises(BlobError):
            open_blobs(url)


def test_s3_through_a_faulty_network_stores_every_blob_intact(
    s3_endpoint: str, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Resets, drops and cuts mid-body on a third of connections: botocore's retries get every put through."""
    port = int(s3_endpoint.rsplit(":", 1)[1])
    with FaultProxy(port, seed=7, drop=0.1, reset=0.1, mid_body=0.1, mid_body_max_bytes=20000) as proxy:
        monkeypatch.setenv("EDGELOOP_S3_ENDPOINT", f"http://127.0.0.1:{proxy.port}")
        payloads = {f"samples/{i}": os.urandom(1000 + 997 * i) for i in range(30)}
        with S3Blobs(s3_bucket) as blobs:
            for key, data in payloads.items():
                for _attempt in range(5):  # a put may exhaust botocore's own retries; the caller retries
                    try:
                        blobs.put(key, data)
                        break
                    except BlobUnavailable:
                        continue
            got = {key: blobs.get(key) for key in payloads}
        counts = proxy.counts
    assert got == payloads
    assert counts["drop"] + counts["reset"] + counts["mid_body"] > 0, counts
