"""The blob store protocol and the registry that opens one from a URL.

Keys are ``samples/<sha256>``, ``uploads/<id>/<n>`` and ``datasets/<fingerprint>.json``:
slash-separated names of letters, digits, ``.``, ``_`` and ``-`` that never start with a dot,
so no key can climb out of its store or collide with a store's temporary files.
"""

from __future__ import annotations

import importlib
import re
from typing import Protocol, runtime_checkable

from edgeloop.errors import ConfigError

_KEY = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}(/[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}){0,7}")


@runtime_checkable
class BlobStore(Protocol):
    """Bytes by key. ``put`` is durable when it returns."""

    def put(self, key: str, data: bytes) -> None: ...

    def get(self, key: str) -> bytes:
        """The bytes at ``key``; raises ``edgeloop.errors.NotFound``."""
        ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None:
        """Remove ``key``; nothing happens when it is not there."""
        ...

    def close(self) -> None: ...


# kind -> "module:factory", imported on first use (the S3 store needs boto3, an extra).
# A factory takes the URL and returns a BlobStore.
STORES: dict[str, str] = {
    "folder": "edgeloop.hub.blobs.folder:open_store",
    "s3": "edgeloop.hub.blobs.s3:open_store",
}


def validate_key(key: str) -> str:
    """``key`` if it is a safe relative name, else ValueError (a bug: keys are built by the hub)."""
    if not _KEY.fullmatch(key) or ".." in key.split("/"):
        raise ValueError(f"invalid blob key {key!r}")
    return key


def blobs_kind(url: str) -> str:
    """The store kind a URL names: ``s3://`` -> "s3"; ``file://`` or a plain path -> "folder"."""
    if url.startswith("s3://"):
        return "s3"
    if url.startswith("file://") or "://" not in url:
        return "folder"
    raise ConfigError(
        f"unsupported blob store URL {url!r}: use a folder path, file:///DIR or s3://BUCKET/PREFIX"
    )


def open_blobs(url: str) -> BlobStore:
    """Open the blob store ``url`` names.

    Raises:
        ConfigError: an unknown scheme.
        FeatureUnavailable: the store's library is not installed (e.g. boto3 for S3).
    """
    module_name, attr = STORES[blobs_kind(url)].split(":")
    factory = getattr(importlib.import_module(module_name), attr)
    store: BlobStore = factory(url)
    return store
