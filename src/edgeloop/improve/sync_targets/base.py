"""What every sync target shares: the items sent, the per-item results, the two kinds of failure.

A target takes a batch of samples and answers, per sample, ``stored`` or
``duplicate`` (it holds the sample durably: the spool may ack it), ``rejected``
(it refused this sample for good, e.g. a 415 from the hub: acked and counted, never
retried) or ``retry`` (not now: backed off and sent again). A failure of the
target as a whole raises ``TargetUnavailable`` (retried with back-off) or
``TargetRefused`` (a setting is wrong: sync stops and says which).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from edgeloop.errors import EdgeloopError
from edgeloop.improve.bandwidth import Throttle
from edgeloop.improve.records import Sample

Outcome = Literal["stored", "duplicate", "rejected", "retry"]


class TargetUnavailable(EdgeloopError):
    """The target cannot take samples now (unreachable, timeout, 5xx, disk full): try again later."""


class TargetRefused(EdgeloopError):
    """The target refuses every sample until a setting changes (bad token, wrong URL, no permission).

    Attributes:
        code: the HTTP status (401, 403, 404...) or 0 when there is none.
    """

    def __init__(self, message: str, code: int = 0) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Item:
    """A sample to send: its spool row and its image bytes (already checked against ``sha256``)."""

    sample: Sample
    data: bytes

    @property
    def sha256(self) -> str:
        """The sample's content hash (the Idempotency-Key)."""
        return self.sample.sha256


@dataclass(frozen=True)
class Result:
    """What the target did with one item; ``code`` is the HTTP status where there is one (else 0)."""

    sha256: str
    outcome: Outcome
    code: int = 0
    detail: str = ""


class Target(Protocol):
    """Somewhere samples go. ``send`` is called from one thread at a time."""

    description: str  # for messages: never holds a secret
    max_batch: int  # the most items one ``send`` takes

    def send(self, items: Sequence[Item], throttle: Throttle) -> list[Result]:
        """Send ``items`` (written through ``throttle``); one result per item, in order.

        Raises:
            TargetUnavailable: nothing was (known to be) stored; try again later.
            TargetRefused: a setting is wrong; stop.
        """
        ...

    def close(self) -> None:
        """Release connections. Safe to call twice."""
        ...


def hub_meta(sample: Sample) -> dict[str, Any]:
    """The ``meta`` part of a hub upload (the hub contract: the record without the device id)."""
    r = sample.record
    return {
        "captured_at": r.wall_time,
        "width": r.width,
        "height": r.height,
        "model_name": r.model_name,
        "model_version": r.model_version,
        "predictions": r.predictions,
        "sampler": r.sampler,
        "score": r.score,
        "reason": r.reason,
        "tags": list(r.tags),
    }


def sidecar(sample: Sample) -> dict[str, Any]:
    """The JSON written beside an image in a folder or S3 target: everything the spool row holds."""
    return {
        "sha256": sample.sha256,
        "bytes": sample.bytes,
        "device_id": sample.record.device_id,
        **hub_meta(sample),
    }
