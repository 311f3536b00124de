"""The blob store protocol the hub writes sample images and upload chunks through, and its registry.

``open_blobs(url)``: ``file:///abs/dir`` or a plain path -> a folder, ``s3://bucket/prefix`` -> S3.
Keys are ``/``-separated segments of letters, digits, ``.``, ``_`` and ``-`` that start with a
letter or digit (``samples/<sha256>``, ``uploads/<id>/<n>``); anything else is refused before it
reaches a store, so no key can climb out of a folder or hide as a dot file.
"""

from __future__ import annotations

import re
from typing import Protocol

from edgeloop.errors import EdgeloopError
from edgeloop.registry import Registry

MAX_KEY_CHARS = 512
_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*")


class BlobError(EdgeloopError):
    """A blob store cannot be opened, read or written (the message names the fix)."""


class NotFound(BlobError):
    """No blob is stored under the key."""


class BadKey(BlobError, ValueError):
    """A key is not ``segment/segment...`` of ``[A-Za-z0-9._-]`` starting with a letter or digit."""


class BlobStore(Protocol):
    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key``; durable on return. Putting the same bytes again is harmless."""

    def get(self, key: str) -> bytes:
        """The bytes under ``key``; raises NotFound."""

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None:
        """Remove ``key``; idempotent."""

    def close(self) -> None: ...


def check_key(key: str) -> str:
    """Return ``key`` if it is a valid blob key, else raise BadKey."""
    if not isinstance(key, str) or len(key) > MAX_KEY_CHARS or not _KEY.fullmatch(key):
        raise BadKey(
            f"invalid blob key {key!r}: use '/'-separated segments of letters, digits, '.', '_' and '-' "
            f"that start with a letter or digit, at most {MAX_KEY_CHARS} characters"
        )
    return key


BLOB_STORES = Registry(
    "blob store",
    {
        "file": "edgeloop.hub.blobs.folder:FolderBlobs",
        "s3": "edgeloop.hub.blobs.s3:S3Blobs",
    },
    BlobError,
)


def open_blobs(url: str) -> BlobStore:
    """Open the store at ``url``: ``file:///abs/dir``, a plain path, or ``s3://bucket/prefix``."""
    scheme = url.split("://", 1)[0] if "://" in url else "file"
    store: BlobStore = BLOB_STORES.get(scheme).from_url(url)
    return store
