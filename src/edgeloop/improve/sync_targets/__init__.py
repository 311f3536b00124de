"""Where sync sends samples: a hub (HTTP), a plain folder, or an S3 bucket; a lazy registry.

``open_target`` picks one from the command line's ``--hub URL`` or ``--to DIR|s3://bucket/prefix``.
Adding a target is one module with a class taking a ``TargetOptions`` and one line in ``TARGETS``.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgeloop.errors import ConfigError
from edgeloop.improve.sync_targets.base import Item, Result, Target, TargetRefused, TargetUnavailable
from edgeloop.registry import Registry

TARGETS = Registry(
    "sync target",
    {
        "hub": "edgeloop.improve.sync_targets.hub:HubTarget",
        "folder": "edgeloop.improve.sync_targets.folder:FolderTarget",
        "s3": "edgeloop.improve.sync_targets.s3:S3Target",
    },
    ConfigError,
)

RESUMABLE_ABOVE_BYTES = 8 * 2**20


@dataclass(frozen=True)
class TargetOptions:
    """Settings of a target, checked once at the boundary.

    Attributes:
        location: the hub's base URL, a folder, or ``s3://bucket/prefix``.
        token: the device token (hub only; never printed).
        timeout_s: seconds a connection, request or response may stall.
        batch: samples per request where the target batches (hub: ``POST /api/v1/samples/batch``).
        resumable_above_bytes: larger files go through the hub's resumable uploads.
    """

    location: str
    token: str | None = None
    timeout_s: float = 30.0
    batch: int = 1
    resumable_above_bytes: int = RESUMABLE_ABOVE_BYTES


def target_kind(hub: str | None, to: str | None) -> str:
    """``hub``, ``folder`` or ``s3`` from the command line's ``--hub`` / ``--to``.

    Raises:
        ConfigError: neither or both given, or an http URL passed to ``--to``.
    """
    if (hub is None) == (to is None):
        raise ConfigError(
            "say where samples go: --hub URL (with a device token) or --to DIR|s3://bucket/prefix"
        )
    if hub is not None:
        if not hub.startswith(("http://", "https://")):
            raise ConfigError(f"--hub {hub}: give the hub's URL, e.g. http://hub.local:8000")
        return "hub"
    assert to is not None
    if to.startswith(("http://", "https://")):
        raise ConfigError(f"--to {to}: a hub is given with --hub URL (and a token), not --to")
    return "s3" if to.startswith("s3://") else "folder"


def open_target(kind: str, options: TargetOptions) -> Target:
    """The target ``kind`` (a ``TARGETS`` name) for ``options``.

    Raises:
        ConfigError: unknown kind, missing token, bad location, or a missing optional package.
    """
    target: Target = TARGETS.get(kind)(options)
    return target


__all__ = [
    "TARGETS",
    "Item",
    "Result",
    "Target",
    "TargetOptions",
    "TargetRefused",
    "TargetUnavailable",
    "open_target",
    "target_kind",
]
