"""The review queue: a person accepts (optionally corrects) or rejects pre-annotated samples.

``next_pending`` hands out pending samples, highest score first. ``submit`` stores one
decision in one transaction as a compare-and-set on the sample's status and
``labelled_at``: when two reviewers answer the same sample, the first wins and the
second gets ``ReviewConflict`` (HTTP 409), so no decision is silently overwritten.

Accept takes the device's predictions as labels, with edits: ``classes`` (one entry per
prediction, in order: a class name keeps or re-classes the box, ``None`` deletes it) or
``boxes`` (the full list of boxes, wire format, replacing the predictions).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa

from edgeloop.errors import Conflict, NotFound, RequestError
from edgeloop.hub import schema
from edgeloop.hub.datasets import SampleFilter, transaction

Action = Literal["accept", "reject"]
ACTIONS = ("accept", "reject")
MAX_SKIP = 200


class SampleNotFound(NotFound):
    """No sample with that sha256 in the hub."""


class ReviewConflict(Conflict):
    """The sample changed since it was read (another reviewer answered first)."""


@dataclass(frozen=True)
class Expect:
    """What the reviewer saw: the submit applies only if the sample is still so."""

    status: str = "pending"
    labelled_at: float | None = None


@dataclass(frozen=True)
class ReviewItem:
    """A sample to review: its predictions and where it came from."""

    sha256: str
    device: str
    sampler: str
    score: float
    reason: str
    captured_at: float
    width: int
    height: int
    media_type: str
    model: str
    predictions: dict[str, Any]
    status: str
    labelled_at: float | None

    def as_dict(self) -> dict[str, Any]:
        return {
            **{k: getattr(self, k) for k in self.__dataclass_fields__},
            "image": f"/api/v1/samples/{self.sha256}/image",
        }


@dataclass(frozen=True)
class ReviewResult:
    """The sample after a decision."""

    sha256: str
    status: str
    labels: dict[str, Any] | None
    labelled_at: float
    labelled_by: str

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


_COLUMNS = (
    "sha256",
    "device",
    "sampler",
    "score",
    "reason",
    "captured_at",
    "width",
    "height",
    "media_type",
    "model_name",
    "model_version",
    "predictions",
    "status",
    "labelled_at",
)


def next_pending(
    bind: sa.Engine | sa.Connection,
    where: SampleFilter | None = None,
    limit: int = 1,
    skip: Sequence[str] = (),
) -> list[ReviewItem]:
    """Up to ``limit`` pending samples matching ``where``, highest score first, then oldest; ``skip``
    leaves out samples the reviewer passed over."""
    s = schema.samples
    query = (
        sa.select(*(s.c[name] for name in _COLUMNS))
        .where(s.c.status == "pending", *(where or SampleFilter()).conditions())
        .order_by(s.c.score.desc(), s.c.received_at, s.c.sha256)
        .limit(max(1, min(limit, 100)))
    )
    if skip:
        query = query.where(s.c.sha256.not_in(list(skip)[:MAX_SKIP]))
    with transaction(bind) as conn:
        return [_item(row) for row in conn.execute(query)]


def pending_count(bind: sa.Engine | sa.Connection, where: SampleFilter | None = None) -> int:
    """How many samples matching ``where`` wait for review."""
    s = schema.samples
    query = sa.select(sa.func.count()).where(s.c.status == "pending", *(where or SampleFilter()).conditions())
    with transaction(bind) as conn:
        return int(conn.execute(query).scalar_one())


def _item(row: Any) -> ReviewItem:
    return ReviewItem(
        sha256=row.sha256,
        device=row.device,
        sampler=row.sampler,
        score=row.score,
        reason=row.reason,
        captured_at=row.captured_at,
        width=row.width,
        height=row.height,
        media_type=row.media_type,
        model=f"{row.model_name} {row.model_version}".strip(),
        predictions=dict(row.predictions or {}),
        status=row.status,
        labelled_at=row.labelled_at,
    )


def submit(
    bind: sa.Engine | sa.Connection,
    sha256: str,
    action: str,
    by: str,
    *,
    classes: Sequence[str | None] | None = None,
    boxes: Sequence[Mapping[str, Any]] | None = None,
    expect: Expect | None = None,
) -> ReviewResult:
    """Store one decision on ``sha256`` (one transaction, compare-and-set).

    Raises:
        RequestError: unknown action, edits on a reject, both or malformed edits.
        SampleNotFound: no such sample.
        ReviewConflict: the sample is no longer as ``expect`` says (default: pending).
    """
    if action not in ACTIONS:
        raise RequestError(f"action {action!r}: choose accept or reject")
    if action == "reject" and (classes is not None or boxes is not None):
        raise RequestError("a reject takes no boxes or classes; send action accept to keep corrected boxes")
    if classes is not None and boxes is not None:
        raise RequestError("send either classes (edits of the predictions) or boxes (all boxes), not both")
    expect = expect or Expect()
    s = schema.samples
    with transaction(bind, write=True) as conn:
        row = conn.execute(
            sa.select(
                s.c.status, s.c.labelled_at, s.c.labelled_by, s.c.predictions, s.c.width, s.c.height
            ).where(s.c.sha256 == sha256)
        ).first()
        if row is None:
            raise SampleNotFound(f"no sample {sha256} in the hub")
        _check_expect(sha256, row, expect)
        labels = None
        if action == "accept":
            labels = accepted_labels(row.predictions or {}, (row.width, row.height), classes, boxes)
        now = time.time()
        status = "labelled" if action == "accept" else "rejected"
        # Compare-and-set on what was read: a concurrent decision makes this update match no row.
        seen = s.c.labelled_at.is_(None) if row.labelled_at is None else s.c.labelled_at == row.labelled_at
        guard = [s.c.sha256 == sha256, s.c.status == row.status, seen]
        done = conn.execute(
            sa.update(s).where(*guard).values(status=status, labels=labels, labelled_at=now, labelled_by=by)
        )
        if done.rowcount != 1:
            raise ReviewConflict(f"sample {sha256} was changed by someone else meanwhile; load it again")
    return ReviewResult(sha256, status, labels, now, by)


def _check_expect(sha256: str, row: Any, expect: Expect) -> None:
    changed = expect.labelled_at is not None and row.labelled_at != expect.labelled_at
    if row.status != expect.status or changed:
        who = f" by {row.labelled_by}" if row.labelled_by else ""
        raise ReviewConflict(f"sample {sha256} is already {row.status}{who}; load the next one")


def accepted_labels(
    predictions: Mapping[str, Any],
    size_wh: tuple[int, int],
    classes: Sequence[str | None] | None = None,
    boxes: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The labels an accept stores (wire format, confidence 1): predictions with edits applied."""
    source = list(predictions.get("predictions") or [])
    if classes is not None:
        if len(classes) != len(source):
            raise RequestError(
                f"classes has {len(classes)} entries for {len(source)} predictions; send one per prediction "
                "(a class name, or null to delete the box)"
            )
        source = [{**p, "class": c} for p, c in zip(source, classes, strict=True) if c is not None]
    elif boxes is not None:
        source = list(boxes)
    return {
        "image": {"width": size_wh[0], "height": size_wh[1]},
        "predictions": [_box(p, i) for i, p in enumerate(source)],
    }


def _box(p: Mapping[str, Any], index: int) -> dict[str, Any]:
    try:
        x, y, w, h = (float(p[k]) for k in ("x", "y", "width", "height"))
    except (KeyError, TypeError, ValueError):
        raise RequestError(
            f"box {index}: needs numbers x, y, width, height (centre and size in pixels)"
        ) from None
    name = p.get("class")
    if not isinstance(name, str) or not name.strip():
        raise RequestError(f"box {index}: needs a class name ('class')")
    if not all(math.isfinite(v) for v in (x, y, w, h)) or w <= 0 or h <= 0:
        raise RequestError(f"box {index}: x, y must be finite and width, height positive")
    return {"x": x, "y": y, "width": w, "height": h, "confidence": 1.0, "class": name.strip()}
