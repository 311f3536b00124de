"""The review queue: order, accept with edits, reject, and one decision per sample under concurrency."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from edgeloop.errors import RequestError
from edgeloop.hub import datasets, review, schema
from edgeloop.hub.datasets import SampleFilter
from edgeloop.hub.review import Expect, ReviewConflict, SampleNotFound
from tests.hub.sample_rows import add_sample, backend_engine

BOXES = [(10.0, 10.0, 8.0, 6.0, "car"), (40.0, 30.0, 10.0, 10.0, "dog"), (30.0, 20.0, 4.0, 4.0, "car")]


@pytest.fixture
def engine(hub_db: str) -> Iterator[sa.Engine]:
    yield from backend_engine(hub_db)


def _row(engine: sa.Engine, sha: str) -> sa.Row:  # type: ignore[type-arg]
    s = schema.samples
    with engine.connect() as conn:
        return conn.execute(sa.select(s).where(s.c.sha256 == sha)).one()


def test_next_pending_is_highest_score_first(engine: sa.Engine) -> None:
    low = add_sample(engine, 1, status="pending", score=0.2)
    high = add_sample(engine, 2, status="pending", score=0.9, device="cam-2")
    mid = add_sample(engine, 3, status="pending", score=0.5, sampler="random")
    add_sample(engine, 4, status="labelled", score=1.0)
    assert [i.sha256 for i in review.next_pending(engine, limit=10)] == [high, mid, low]
    assert [i.sha256 for i in review.next_pending(engine)] == [high]
    assert [i.sha256 for i in review.next_pending(engine, skip=[high])] == [mid]
    assert [i.sha256 for i in review.next_pending(engine, SampleFilter(device="cam-2"))] == [high]
    assert [i.sha256 for i in review.next_pending(engine, SampleFilter(sampler="random"))] == [mid]
    assert review.pending_count(engine) == 3
    item = review.next_pending(engine)[0].as_dict()
    assert item["image"] == f"/api/v1/samples/{high}/image"
    assert item["predictions"]["predictions"][0]["class"] == "car"


def test_accept_takes_the_predictions_as_labels(engine: sa.Engine) -> None:
    sha = add_sample(engine, 1, status="pending", boxes=BOXES)
    result = review.submit(engine, sha, "accept", "ana")
    row = _row(engine, sha)
    assert (row.status, row.labelled_by, result.status) == ("labelled", "ana", "labelled")
    assert row.labels == result.labels
    assert [(p["x"], p["class"], p["confidence"]) for p in row.labels["predictions"]] == [
        (10.0, "car", 1.0),
        (40.0, "dog", 1.0),
        (30.0, "car", 1.0),
    ]
    assert review.pending_count(engine) == 0


def test_accept_with_deleted_and_reclassed_boxes(engine: sa.Engine) -> None:
    sha = add_sample(engine, 1, status="pending", boxes=BOXES)
    review.submit(engine, sha, "accept", "ana", classes=["truck", None, "car"])
    labels = _row(engine, sha).labels["predictions"]
    assert [(p["x"], p["class"]) for p in labels] == [(10.0, "truck"), (30.0, "car")]
    version = datasets.create_version(engine, "street")
    assert version.names == ("car", "truck")
    assert version.manifest is not None
    assert len(version.manifest["items"][0]["labels"]["predictions"]) == 2


def test_accept_with_replaced_boxes(engine: sa.Engine) -> None:
    sha = add_sample(engine, 1, status="pending", boxes=BOXES)
    review.submit(
        engine, sha, "accept", "ana", boxes=[{"x": 5, "y": 6, "width": 4, "height": 2, "class": "bike"}]
    )
    assert [(p["x"], p["y"], p["class"]) for p in _row(engine, sha).labels["predictions"]] == [
        (5.0, 6.0, "bike")
    ]


def test_reject_keeps_the_sample_out_of_datasets(engine: sa.Engine) -> None:
    kept = add_sample(engine, 1, status="pending")
    gone = add_sample(engine, 2, status="pending")
    review.submit(engine, gone, "reject", "ana")
    assert (_row(engine, gone).status, _row(engine, gone).labels) == ("rejected", None)
    version = datasets.create_version(engine, "street", include="all", allow_predictions=True)
    assert version.manifest is not None
    assert [i["sha256"] for i in version.manifest["items"]] == [kept]


@pytest.mark.parametrize(
    ("action", "edits", "message"),
    [
        ("keep", {}, "accept or reject"),
        ("reject", {"classes": ["car", "dog", "car"]}, "takes no boxes"),
        ("accept", {"classes": ["car"]}, "one per prediction"),
        ("accept", {"classes": ["car"] * 3, "boxes": []}, "not both"),
        ("accept", {"boxes": [{"x": 1, "y": 1, "width": 0, "height": 2, "class": "car"}]}, "positive"),
        ("accept", {"boxes": [{"x": 1, "y": 1, "width": 2, "height": 2}]}, "class name"),
        ("accept", {"boxes": [{"x": "a", "y": 1, "width": 2, "height": 2, "class": "car"}]}, "numbers"),
        ("accept", {"boxes": [{"x": float("inf"), "y": 1, "width": 2, "height": 2, "class": "c"}]}, "finite"),
    ],
)
def test_bad_decisions_change_nothing(engine: sa.Engine, action: str, edits: dict, message: str) -> None:  # type: ignore[type-arg]
    sha = add_sample(engine, 1, status="pending", boxes=BOXES)
    with pytest.raises(RequestError, match=message):
        review.submit(engine, sha, action, "ana", **edits)
    row = _row(engine, sha)
    assert (row.status, row.labels, row.labelled_at) == ("pending", None, None)


def test_a_second_decision_is_a_conflict(engine: sa.Engine) -> None:
    sha = add_sample(engine, 1, status="pending")
    first = review.submit(engine, sha, "accept", "ana")
    with pytest.raises(ReviewConflict, match="already labelled by ana"):
        review.submit(engine, sha, "reject", "bo")
    assert _row(engine, sha).status == "labelled"
    with pytest.raises(SampleNotFound):
        review.submit(engine, "0" * 64, "accept", "ana")
    # A correction of a labelled sample names the state it saw.
    with pytest.raises(ReviewConflict):
        review.submit(engine, sha, "reject", "bo", expect=Expect("labelled", first.labelled_at + 1))
    again = review.submit(engine, sha, "reject", "bo", expect=Expect("labelled", first.labelled_at))
    assert again.status == _row(engine, sha).status == "rejected"


def test_concurrent_reviewers_never_both_change_a_sample(engine: sa.Engine) -> None:
    shas = [add_sample(engine, i, status="pending", boxes=BOXES) for i in range(5)]
    outcomes: dict[str, list[str]] = {sha: [] for sha in shas}
    barrier = threading.Barrier(6)

    def reviewer(n: int) -> None:
        barrier.wait()
        for sha in shas:
            try:
                review.submit(engine, sha, "accept" if n % 2 else "reject", f"r{n}")
                outcomes[sha].append(f"r{n}")
            except ReviewConflict:
                pass

    threads = [threading.Thread(target=reviewer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for sha in shas:
        assert len(outcomes[sha]) == 1, outcomes
        row = _row(engine, sha)
        assert row.labelled_by == outcomes[sha][0]
        winner = int(outcomes[sha][0][1:])
        assert row.status == ("labelled" if winner % 2 else "rejected")
