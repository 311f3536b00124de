"""Sync to an S3-compatible bucket without a hub: ``<prefix>/<sha256>.json`` then ``<prefix>/<sha256>.jpg``.

``pip install 'edgeloop[s3]'`` (boto3, imported when the target opens). The
endpoint comes from ``EDGELOOP_S3_ENDPOINT`` or ``AWS_ENDPOINT_URL`` (unset: AWS),
credentials from the usual AWS variables or files. Each sample is looked up
first (``HEAD`` on the image): one already there with the same size is not
uploaded again. The image goes last, so its presence means both objects are whole.
Tested against moto's server; untested against AWS and MinIO.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

from edgeloop.errors import ConfigError
from edgeloop.improve.bandwidth import Stopped, Throttle
from edgeloop.improve.sync_targets import TargetOptions
from edgeloop.improve.sync_targets.base import Item, Result, TargetRefused, TargetUnavailable, sidecar

_REFUSED = {
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "NoSuchBucket",
    "AllAccessDisabled",
}


def endpoint_url() -> str | None:
    """The S3 endpoint from ``EDGELOOP_S3_ENDPOINT`` or ``AWS_ENDPOINT_URL`` (None: AWS itself)."""
    return os.environ.get("EDGELOOP_S3_ENDPOINT") or os.environ.get("AWS_ENDPOINT_URL") or None


class S3Target:
    """``s3://bucket/prefix`` (the prefix may be empty)."""

    max_batch = 16

    def __init__(self, options: TargetOptions) -> None:
        location = options.location
        bucket, _, prefix = location.removeprefix("s3://").partition("/")
        if not location.startswith("s3://") or not bucket:
            raise ConfigError(f"--to {location}: write s3://bucket/prefix")
        try:
            import boto3
            from botocore.config import Config
        except ImportError:
            raise ConfigError("the S3 target needs boto3: pip install 'edgeloop[s3]'") from None
        self.bucket, self.prefix = bucket, prefix.strip("/")
        self.description = location
        config = Config(
            connect_timeout=options.timeout_s,
            read_timeout=options.timeout_s,
            retries={"max_attempts": 1},  # sync backs off itself
        )
        self._client: Any = boto3.client("s3", endpoint_url=endpoint_url(), config=config)

    def key(self, name: str) -> str:
        """The object key of ``name`` under the prefix."""
        return f"{self.prefix}/{name}" if self.prefix else name

    def send(self, items: Sequence[Item], throttle: Throttle) -> list[Result]:
        results = []
        for item in items:
            image_key = self.key(f"{item.sha256}.jpg")
            try:
                if self._size(image_key) == len(item.data):
                    results.append(Result(item.sha256, "duplicate"))
                    continue
                meta = json.dumps(sidecar(item.sample), indent=1).encode()
                self._put(self.key(f"{item.sha256}.json"), meta, "application/json", throttle)
                self._put(image_key, item.data, "image/jpeg", throttle)
            except Stopped:
                raise
            except Exception as exc:  # botocore raises many kinds; each is sorted below
                raise self._failure(exc) from None
            results.append(Result(item.sha256, "stored"))
        return results

    def _size(self, key: str) -> int | None:
        from botocore.exceptions import ClientError

        try:
            return int(self._client.head_object(Bucket=self.bucket, Key=key)["ContentLength"])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def _put(self, key: str, data: bytes, content_type: str, throttle: Throttle) -> None:
        for start in range(0, len(data), throttle.chunk_bytes):  # pace the average rate
            throttle.spend(min(throttle.chunk_bytes, len(data) - start))
        self._client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)

    def _failure(self, exc: Exception) -> Exception:
        from botocore.exceptions import ClientError, NoCredentialsError

        where = f"{self.description}"
        if isinstance(exc, NoCredentialsError):
            return TargetRefused(
                f"{where}: no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
            )
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
            if code in _REFUSED or status in (401, 403):
                return TargetRefused(
                    f"{where}: {code or status}: {error.get('Message', '')}".rstrip(": "), status
                )
            return TargetUnavailable(f"{where}: {code or status}: {error.get('Message', '')}")
        if isinstance(exc, ConfigError | TargetRefused | TargetUnavailable):
            return exc
        return TargetUnavailable(f"{where}: {type(exc).__name__}: {exc}")

    def close(self) -> None:
        close = getattr(self._client, "close", None)
        if close is not None:
            close()
