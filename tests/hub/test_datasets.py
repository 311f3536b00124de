"""Dataset versions: manifests, fingerprints, the fixed test split, filters, immutability."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from edgeloop.errors import ConfigError, DatasetError
from edgeloop.hub import datasets, schema
from edgeloop.hub.datasets import DatasetNotFound, SampleFilter
from edgeloop.hub.manifest import (
    Fractions,
    SampleRow,
    assign_split,
    build_manifest,
    canonical_json,
    fingerprint,
)
from tests.hub.sample_rows import add_sample, backend_engine, splits, wire


@pytest.fixture
def engine(hub_db: str) -> Iterator[sa.Engine]:
    yield from backend_engine(hub_db)


def test_split_assignment_is_deterministic_and_follows_the_fractions() -> None:
    shas = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(4000)]
    fractions = Fractions(0.7, 0.2, 0.1)
    first = [assign_split(s, fractions) for s in shas]
    assert first == [assign_split(s, fractions) for s in shas]
    for split, share in (("train", 0.7), ("val", 0.2), ("test", 0.1)):
        assert abs(first.count(split) / len(shas) - share) < 0.03
    assert first != [assign_split(s, fractions, seed=1) for s in shas]
    assert {assign_split(s, Fractions(1, 0, 0)) for s in shas} == {"train"}


@pytest.mark.parametrize("values", [(0.8, 0.1, 0.2), (-0.1, 0.6, 0.5), (float("nan"), 0.5, 0.5)])
def test_bad_fractions_are_refused(values: tuple[float, float, float]) -> None:
    with pytest.raises(ConfigError, match="sum to 1"):
        Fractions(*values)


def test_fingerprint_depends_on_content_only() -> None:
    size = (64, 48)
    a = SampleRow(
        "a" * 64,
        "train",
        64,
        48,
        "image/png",
        "labelled",
        wire([(10, 10, 4, 4, "car"), (30, 20, 6, 6, "dog")], size),
    )
    b = SampleRow("b" * 64, "test", 64, 48, "image/png", "labelled", wire([(5, 5, 2, 2, "dog")], size))
    swapped = SampleRow(
        a.sha256,
        "train",
        64,
        48,
        "image/png",
        "labelled",
        wire([(30, 20, 6, 6, "dog"), (10, 10, 4, 4, "car")], size),
    )
    one = build_manifest([a, b])
    assert fingerprint(one) == fingerprint(build_manifest([b, swapped]))
    assert canonical_json(one) == canonical_json(build_manifest([b, a]))
    moved = SampleRow(b.sha256, "test", 64, 48, "image/png", "labelled", wire([(5, 5, 2, 3, "dog")], size))
    assert fingerprint(one) != fingerprint(build_manifest([a, moved]))
    assert [i["sha256"] for i in one["items"]] == ["a" * 64, "b" * 64]
    assert one["names"] == ["car", "dog"]


def test_labels_are_clipped_and_empty_boxes_dropped() -> None:
    row = SampleRow(
        "c" * 64,
        "train",
        64,
        48,
        "image/png",
        "labelled",
        wire([(0, 0, 10, 10, "car"), (-20, 10, 4, 4, "car"), (60, 40, 10, 10, "car")], (64, 48)),
    )
    boxes = build_manifest([row])["items"][0]["labels"]["predictions"]
    assert [(b["x"], b["y"], b["width"], b["height"]) for b in boxes] == [
        (2.5, 2.5, 5.0, 5.0),
        (59.5, 40.0, 9.0, 10.0),
    ]
    for b in boxes:
        assert b["x"] - b["width"] / 2 >= 0 and b["x"] + b["width"] / 2 <= 64
        assert b["y"] - b["height"] / 2 >= 0 and b["y"] + b["height"] / 2 <= 48


def test_create_takes_labelled_samples_only_by_default(engine: sa.Engine) -> None:
    labelled = {add_sample(engine, i) for i in range(3)}
    add_sample(engine, 10, status="pending")
    add_sample(engine, 11, status="rejected", labels=[(5, 5, 2, 2, "car")])
    v1 = datasets.create_version(engine, "street", note="first")
    assert (v1.version, v1.parent, v1.created) == (1, None, True)
    assert v1.manifest is not None
    assert {i["sha256"] for i in v1.manifest["items"]} == labelled
    assert sum(v1.counts.values()) == 3 and v1.names == ("car",)
    shown = datasets.show(engine, "street", 1)
    assert shown.manifest == v1.manifest
    assert fingerprint(shown.manifest) == v1.fingerprint == shown.fingerprint
    assert shown.note == "first"


def test_pending_samples_need_an_explicit_flag(engine: sa.Engine) -> None:
    add_sample(engine, 1)
    pending = add_sample(engine, 2, status="pending", boxes=[(30, 30, 8, 8, "bike")])
    add_sample(engine, 3, status="rejected")
    for include in ("all", "pending"):
        with pytest.raises(ConfigError, match="include-pending"):
            datasets.create_version(engine, "street", include=include)  # type: ignore[arg-type]
    version = datasets.create_version(engine, "street", include="all", allow_predictions=True)
    assert version.manifest is not None
    sources = {i["sha256"]: i["source"] for i in version.manifest["items"]}
    assert len(sources) == 2 and sources[pending] == "predictions"
    assert version.names == ("bike", "car")
    with pytest.raises(ConfigError, match="rejected"):
        datasets.create_version(engine, "street", where=SampleFilter(status="rejected"))


def test_identical_content_returns_the_latest_version(engine: sa.Engine) -> None:
    for i in range(4):
        add_sample(engine, i)
    v1 = datasets.create_version(engine, "street")
    again = datasets.create_version(engine, "street", note="again")
    assert (again.version, again.created, again.fingerprint) == (1, False, v1.fingerprint)
    assert len(datasets.list_versions(engine, "street")) == 1
    # Another dataset name with the same content has the same fingerprint.
    assert datasets.create_version(engine, "copy").fingerprint == v1.fingerprint
    add_sample(engine, 9)
    v2 = datasets.create_version(engine, "street")
    assert (v2.version, v2.parent, v2.created) == (2, 1, True)
    assert v2.fingerprint != v1.fingerprint
    assert [v.version for v in datasets.list_versions(engine, "street")] == [1, 2]
    assert [(v.name, v.version) for v in datasets.list_versions(engine)] == [
        ("copy", 1),
        ("street", 1),
        ("street", 2),
    ]
    assert datasets.show(engine, "street").version == 2
    assert datasets.show(engine, "street", 1).fingerprint == v1.fingerprint


def test_fixed_test_split_holds_across_versions_and_fraction_changes(engine: sa.Engine) -> None:
    first = [add_sample(engine, i) for i in range(150)]
    v1 = datasets.create_version(engine, "street")
    assert v1.manifest is not None
    split1 = {i["sha256"]: i["split"] for i in v1.manifest["items"]}
    test1 = {s for s, split in split1.items() if split == "test"}
    assert 3 <= len(test1) <= 30 and v1.counts["train"] > v1.counts["test"]
    assert {s: splits(engine)[s] for s in first} == split1  # stored on the rows
    # More samples, other fractions and another seed: old samples keep their split.
    second = [add_sample(engine, 1000 + i) for i in range(150)]
    v2 = datasets.create_version(engine, "street", fractions=Fractions(0.2, 0.2, 0.6), seed=7)
    assert v2.manifest is not None
    split2 = {i["sha256"]: i["split"] for i in v2.manifest["items"]}
    assert all(split2[s] == split1[s] for s in first)
    training2 = {s for s, split in split2.items() if split in ("train", "val")}
    assert not test1 & training2
    new_test = sum(split2[s] == "test" for s in second)
    assert new_test > 60  # the new fractions applied to the new samples only
    # A filtered version of a third dataset still keeps every sample's split.
    v3 = datasets.create_version(engine, "other", fractions=Fractions(1.0, 0.0, 0.0))
    assert v3.manifest is not None
    assert {i["sha256"]: i["split"] for i in v3.manifest["items"]} == split2


def test_class_ids_stay_stable_across_versions(engine: sa.Engine) -> None:
    add_sample(engine, 1, boxes=[(20, 20, 8, 8, "truck")])
    add_sample(engine, 2, boxes=[(20, 20, 8, 8, "car")])
    assert datasets.create_version(engine, "street").names == ("car", "truck")
    add_sample(engine, 3, boxes=[(20, 20, 8, 8, "bike")])
    v2 = datasets.create_version(engine, "street")
    assert v2.names == ("car", "truck", "bike")
    assert v2.manifest is not None
    ids = {b["class"]: b["class_id"] for i in v2.manifest["items"] for b in i["labels"]["predictions"]}
    assert ids == {"car": 0, "truck": 1, "bike": 2}


def test_filters_select_samples(engine: sa.Engine) -> None:
    a = add_sample(
        engine, 1, device="cam-1", sampler="uncertainty", received_at=100, boxes=[(10, 10, 4, 4, "car")]
    )
    b = add_sample(
        engine, 2, device="cam-2", sampler="uncertainty", received_at=200, boxes=[(10, 10, 4, 4, "dog")]
    )
    c = add_sample(
        engine, 3, device="cam-2", sampler="random", received_at=300, boxes=[(10, 10, 4, 4, "car_x")]
    )

    def taken(where: SampleFilter) -> set[str]:
        version = datasets.create_version(
            engine, "f" + hashlib.md5(repr(where).encode()).hexdigest()[:8], where=where
        )
        assert version.manifest is not None
        return {i["sha256"] for i in version.manifest["items"]}

    assert taken(SampleFilter(device="cam-2")) == {b, c}
    assert taken(SampleFilter(sampler="random")) == {c}
    assert taken(SampleFilter(class_name="car")) == {a}  # not car_x: whole class names only
    assert taken(SampleFilter(since=150, until=300)) == {b}
    with pytest.raises(DatasetError, match="no sample matches"):
        datasets.create_version(engine, "none", where=SampleFilter(class_name="c%"))


def test_missing_datasets_and_bad_names(engine: sa.Engine) -> None:
    with pytest.raises(DatasetNotFound, match="no dataset 'street'"):
        datasets.show(engine, "street")
    add_sample(engine, 1)
    datasets.create_version(engine, "street")
    with pytest.raises(DatasetNotFound, match="versions are 1..1"):
        datasets.show(engine, "street", 5)
    for bad in ("", "../x", "-x", "a b"):
        with pytest.raises(ConfigError, match="dataset name"):
            datasets.create_version(engine, bad)
    assert datasets.parse_ref("street@3") == ("street", 3)
    assert datasets.parse_ref("street") == datasets.parse_ref("street@latest") == ("street", None)
    with pytest.raises(ConfigError, match="street@3"):
        datasets.parse_ref("street@x")


def test_concurrent_creates_get_distinct_versions(engine: sa.Engine) -> None:
    for i in range(8):
        add_sample(engine, i, device=f"cam-{i}")
    results: list[int] = []
    errors: list[BaseException] = []

    def create(i: int) -> None:
        try:
            version = datasets.create_version(engine, "street", where=SampleFilter(device=f"cam-{i}"))
            results.append(version.version)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=create, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(results) == list(range(1, 9))
    with engine.connect() as conn:
        rows = conn.execute(sa.select(schema.datasets.c.version, schema.datasets.c.parent)).all()
    assert sorted(rows) == [(v, v - 1 if v > 1 else None) for v in range(1, 9)]
