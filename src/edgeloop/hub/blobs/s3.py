"""Blobs in an S3-compatible object store through boto3 (``edgeloop[s3]``), for fleets of hub processes.

``s3://bucket/prefix``; the endpoint comes from ``EDGELOOP_S3_ENDPOINT`` or
``AWS_ENDPOINT_URL`` (unset: AWS itself), credentials and region from the
usual AWS variables or files. A put returns once the store has answered
PutObject (or CompleteMultipartUpload), which S3 does only after the object is
stored. Every object carries its SHA-256: in the request (``ChecksumSHA256``,
which S3 checks before storing, so a body corrupted on the way is refused) and
in its metadata, checked again on every get. Tested against moto's S3 server;
untested against AWS and MinIO.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
from typing import Any, NoReturn
from urllib.parse import urlparse

from edgeloop.hub.blobs.base import BlobError, NotFound, check_key
from edgeloop.optional import require

MiB = 1024 * 1024
GET_ATTEMPTS = 4
_MISSING_KEY = {"404", "NoSuchKey", "NotFound"}
_MISSING_BUCKET = {"NoSuchBucket"}
_DENIED = {"403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken"}


class BlobCorrupt(BlobError):
    """A stored object's bytes do not match the SHA-256 recorded when it was put."""


class BlobUnavailable(BlobError):
    """The object store could not be reached or did not answer in time (worth retrying)."""


def endpoint_from_env() -> str | None:
    return os.environ.get("EDGELOOP_S3_ENDPOINT") or os.environ.get("AWS_ENDPOINT_URL") or None


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> ``("bucket", "some/prefix")``."""
    parsed = urlparse(url)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise BlobError(f"not an S3 URL: {url!r}: write s3://bucket or s3://bucket/prefix")
    prefix = parsed.path.strip("/")
    if prefix:
        check_key(prefix)
    return parsed.netloc, prefix


class S3Blobs:
    """A BlobStore in ``bucket`` under ``prefix``; objects above ``multipart_threshold_bytes`` go in parts."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        multipart_threshold_bytes: int = 16 * MiB,
        multipart_chunk_bytes: int = 8 * MiB,
    ) -> None:
        boto3 = require("boto3", "boto3", "s3", "the S3 blob store")
        from boto3.s3.transfer import TransferConfig
        from botocore.config import Config

        self.bucket, self.prefix = bucket, prefix.strip("/")
        self.endpoint_url = endpoint_url or endpoint_from_env()
        self.multipart_threshold_bytes = multipart_threshold_bytes
        self._transfer = TransferConfig(
            multipart_threshold=multipart_threshold_bytes,
            multipart_chunksize=multipart_chunk_bytes,
            max_concurrency=4,
        )
        config = Config(connect_timeout=5, read_timeout=60, retries={"max_attempts": 5, "mode": "standard"})
        # A session of its own: boto3's default session caches credentials from the first use, and
        # sharing it between threads while creating clients is not safe.
        session = boto3.session.Session()
        self._client: Any = session.client("s3", endpoint_url=self.endpoint_url, config=config)
        self._check_bucket()

    @classmethod
    def from_url(cls, url: str) -> S3Blobs:
        bucket, prefix = parse_s3_url(url)
        return cls(bucket, prefix)

    @property
    def where(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" + (f" at {self.endpoint_url}" if self.endpoint_url else "")

    def _name(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _check_bucket(self) -> None:
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except Exception as exc:
            self._fail(exc, "open")

    def _fail(self, exc: Exception, action: str, key: str | None = None) -> NoReturn:
        """Turn a botocore error into a BlobError that names the fix."""
        from boto3.exceptions import S3UploadFailedError
        from botocore.exceptions import (
            ClientError,
            ConnectionError,
            HTTPClientError,
            IncompleteReadError,
            NoCredentialsError,
            PartialCredentialsError,
        )

        what = f"{self.where}" + (f" key {key!r}" if key else "")
        if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
            raise BlobError(
                f"no AWS credentials to {action} {what}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
                "(or AWS_PROFILE)"
            ) from exc
        if isinstance(exc, (ConnectionError, HTTPClientError, IncompleteReadError)):
            raise BlobUnavailable(
                f"cannot reach the S3 endpoint to {action} {what} ({exc}): check EDGELOOP_S3_ENDPOINT "
                "or AWS_ENDPOINT_URL and that the store is running"
            ) from exc
        code = str(exc.response.get("Error", {}).get("Code", "")) if isinstance(exc, ClientError) else ""
        if isinstance(exc, S3UploadFailedError):
            code = next((c for c in (*_MISSING_BUCKET, *_DENIED) if c in str(exc)), "")
        if code in _MISSING_BUCKET or (action == "open" and code in _MISSING_KEY):
            make = f"aws s3 mb s3://{self.bucket}" + (
                f" --endpoint-url {self.endpoint_url}" if self.endpoint_url else ""
            )
            raise BlobError(
                f"bucket {self.bucket!r} does not exist ({what}): create it first (`{make}`), "
                "or point EDGELOOP_S3_ENDPOINT at the store that has it"
            ) from exc
        if code in _MISSING_KEY and key is not None:
            raise NotFound(f"no blob {key!r} in {self.where}") from exc
        if code in _DENIED:
            raise BlobError(
                f"access denied to {action} {what} ({code}): check the credentials "
                "(AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY) and the bucket policy"
            ) from exc
        raise BlobError(f"cannot {action} {what}: {exc}") from exc

    def put(self, key: str, data: bytes) -> None:
        name = self._name(key)
        digest = hashlib.sha256(data)
        metadata = {"sha256": digest.hexdigest()}
        try:
            if len(data) < self.multipart_threshold_bytes:
                self._client.put_object(
                    Bucket=self.bucket,
                    Key=name,
                    Body=data,
                    ChecksumAlgorithm="SHA256",
                    ChecksumSHA256=base64.b64encode(digest.digest()).decode("ascii"),
                    Metadata=metadata,
                )
            else:  # every part carries its own SHA-256 checksum, computed by botocore
                self._client.upload_fileobj(
                    io.BytesIO(data),
                    self.bucket,
                    name,
                    ExtraArgs={"ChecksumAlgorithm": "SHA256", "Metadata": metadata},
                    Config=self._transfer,
                )
        except Exception as exc:
            self._fail(exc, "put", key)

    def get(self, key: str) -> bytes:
        name = self._name(key)
        for attempt in range(1, GET_ATTEMPTS + 1):
            try:
                response = self._client.get_object(Bucket=self.bucket, Key=name)
                data: bytes = response["Body"].read()
                break
            except Exception as exc:
                try:
                    self._fail(exc, "get", key)
                except BlobUnavailable:
                    # botocore retries the request, not a body cut short while streaming: read again
                    if attempt == GET_ATTEMPTS:
                        raise
        expected = response.get("Metadata", {}).get("sha256")
        if expected is not None and hashlib.sha256(data).hexdigest() != expected:
            raise BlobCorrupt(
                f"blob {key!r} in {self.where} does not match its SHA-256 ({expected}): "
                "delete it and put it again from its source"
            )
        return data

    def exists(self, key: str) -> bool:
        name = self._name(key)
        try:
            self._client.head_object(Bucket=self.bucket, Key=name)
        except Exception as exc:
            try:
                self._fail(exc, "check", key)
            except NotFound:
                return False
        return True

    def delete(self, key: str) -> None:
        name = self._name(key)
        try:
            self._client.delete_object(Bucket=self.bucket, Key=name)  # S3: deleting nothing succeeds
        except Exception as exc:
            try:
                self._fail(exc, "delete", key)
            except NotFound:
                return

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> S3Blobs:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
