"""Admin routes: the review queue (the next pending samples; accept, correct or reject one)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from edgeloop.errors import RequestError
from edgeloop.hub import review
from edgeloop.hub.datasets import SampleFilter
from edgeloop.hub.deps import Principal, get_hub, require_admin
from edgeloop.hub.http import read_json
from edgeloop.serve.http import float_param, int_param
from edgeloop.validation import format_validation_error

router = APIRouter(prefix="/api/v1/review")
BIG_TIME_S = 1e12


class Box(BaseModel):
    """A box in the wire format: centre and size in image pixels, and its class."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    x: float
    y: float
    width: float
    height: float
    class_name: str = Field(alias="class", min_length=1, max_length=200)


class ExpectBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["pending", "labelled", "rejected"] = "pending"
    labelled_at: float | None = None


class Decision(BaseModel):
    """``POST /api/v1/review/{sha256}``: ``classes`` edits the predictions in order (a name keeps or
    re-classes a box, null deletes it); ``boxes`` replaces them."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["accept", "reject"]
    classes: list[str | None] | None = Field(None, max_length=10_000)
    boxes: list[Box] | None = Field(None, max_length=10_000)
    expect: ExpectBody = ExpectBody()
    reviewer: str = Field("admin", min_length=1, max_length=200)


def _filter(request: Request) -> SampleFilter:
    q = request.query_params
    return SampleFilter(
        device=q.get("device") or None,
        sampler=q.get("sampler") or None,
        class_name=q.get("class") or None,
        since=float_param(q.get("since"), "since", 0, BIG_TIME_S),
        until=float_param(q.get("until"), "until", 0, BIG_TIME_S),
    )


@router.get("/next")
async def next_pending(request: Request, _: Principal = Depends(require_admin)) -> dict[str, Any]:
    """The pending samples to review next, highest score first: ``{"item", "items", "remaining"}``.

    Query: device, sampler, class, since, until (the samples filters), ``limit`` (1..50, default 1)
    and ``skip`` (comma-separated sha256s the reviewer passed over).
    """
    where = _filter(request)
    limit = int_param(request.query_params.get("limit"), "limit", 1, 50) or 1
    skip = [s for s in (request.query_params.get("skip") or "").split(",") if s][: review.MAX_SKIP]
    engine = get_hub(request).engine

    def run() -> dict[str, Any]:
        items = [i.as_dict() for i in review.next_pending(engine, where, limit, skip)]
        return {
            "item": items[0] if items else None,
            "items": items,
            "remaining": review.pending_count(engine, where),
        }

    return await run_in_threadpool(run)


@router.post("/{sha256}")
async def decide(sha256: str, request: Request, _: Principal = Depends(require_admin)) -> dict[str, Any]:
    """Accept (with edits) or reject one sample: 200 the sample's new state; 404 unknown; 409 when
    another reviewer answered first."""
    try:
        body = Decision.model_validate(await read_json(request))
    except ValidationError as exc:
        raise RequestError(f"invalid review: {format_validation_error(exc, 'key')}") from None
    boxes = None if body.boxes is None else [b.model_dump(by_alias=True) for b in body.boxes]
    expect = review.Expect(body.expect.status, body.expect.labelled_at)
    result = await run_in_threadpool(
        lambda: review.submit(
            get_hub(request).engine,
            sha256.lower(),
            body.action,
            body.reviewer,
            classes=body.classes,
            boxes=boxes,
            expect=expect,
        )
    )
    return result.as_dict()
