"""Blob stores for sample images and upload chunks: a folder (default) or S3."""

from edgeloop.hub.blobs.base import BlobStore, blobs_kind, open_blobs, validate_key

__all__ = ["BlobStore", "blobs_kind", "open_blobs", "validate_key"]
