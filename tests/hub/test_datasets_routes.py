"""Review queue and dataset routes on the real hub over HTTP (SQLite and PostgreSQL)."""

from __future__ import annotations

import io
import tarfile
import threading
from pathlib import Path
from typing import Any

import pytest

from edgeloop.data.check import check_dataset
from edgeloop.data.splits import available_splits, load_split
from edgeloop.testing.hub_server import HubServer
from tests.hub.conftest import jpeg, meta

# Blobs play no part here: the S3 variant of the fleet set-up is left to the storage tests.
NO_BLOBS = pytest.mark.parametrize("hub_backend", ["sqlite", "postgresql"], indirect=True)

BOXES = [
    {"x": 20, "y": 15, "width": 10, "height": 8, "confidence": 0.4, "class": "person", "class_id": 0},
    {"x": 40, "y": 30, "width": 12, "height": 10, "confidence": 0.8, "class": "car", "class_id": 2},
]


def _upload(server: HubServer, count: int) -> list[str]:
    token = server.add_device("cam-1")
    shas = []
    for i in range(count):
        predictions = {"image": {"width": 64, "height": 48}, "predictions": BOXES}
        status, body = server.upload(token, jpeg(i), meta(score=i / count, predictions=predictions))
        assert status == 201, body
        shas.append(body["sha256"])
    return shas


def test_review_then_version_then_export(hub_server: HubServer, tmp_path: Path) -> None:
    shas = _upload(hub_server, 12)
    status, body = hub_server.json("GET", "/api/v1/review/next?limit=3")
    assert status == 200 and body["remaining"] == 12
    assert [i["sha256"] for i in body["items"]] == shas[::-1][:3]  # highest score first
    assert (
        body["item"]["sha256"] == shas[-1] and body["item"]["predictions"]["predictions"][1]["class"] == "car"
    )

    status, body = hub_server.json(
        "POST", f"/api/v1/review/{shas[-1]}", {"action": "accept", "classes": ["bike", None]}
    )
    assert status == 200, body
    assert [(b["class"], b["x"]) for b in body["labels"]["predictions"]] == [("bike", 20.0)]
    status, body = hub_server.json("POST", f"/api/v1/review/{shas[-1]}", {"action": "reject"})
    assert status == 409 and "already labelled" in body["error"]
    status, body = hub_server.json(
        "POST", f"/api/v1/review/{shas[-2]}", {"action": "reject", "reviewer": "bo"}
    )
    assert (status, body["status"], body["labelled_by"]) == (200, "rejected", "bo")
    assert hub_server.json("POST", f"/api/v1/review/{'0' * 64}", {"action": "accept"})[0] == 404
    for bad in (
        {"action": "keep"},
        {"action": "accept", "classes": ["car"]},
        {"action": "accept", "extra": 1},
        [1],
    ):
        status, body = hub_server.json("POST", f"/api/v1/review/{shas[0]}", bad)
        assert status == 400 and body["error"], (bad, body)
    status, body = hub_server.json(
        "POST",
        f"/api/v1/review/{shas[-3]}",
        {"action": "accept", "boxes": [{"x": 8, "y": 9, "width": 4, "height": 4, "class": "dog"}]},
    )
    assert status == 200 and body["labels"]["predictions"][0]["class"] == "dog"
    for sha in shas[:-3]:
        assert hub_server.json("POST", f"/api/v1/review/{sha}", {"action": "accept"})[0] == 200
    assert hub_server.json("GET", "/api/v1/review/next")[1] == {"item": None, "items": [], "remaining": 0}

    status, v1 = hub_server.json("POST", "/api/v1/datasets", {"name": "street", "note": "reviewed"})
    assert status == 201 and v1["created"] and v1["images"] == 11 and v1["version"] == 1
    status, again = hub_server.json("POST", "/api/v1/datasets", {"name": "street"})
    assert status == 200 and not again["created"] and again["fingerprint"] == v1["fingerprint"]
    status, body = hub_server.json(
        "POST",
        "/api/v1/datasets",
        {"name": "street", "include_pending": True, "where": {"status": "rejected"}},
    )
    assert status == 400 and "rejected" in body["error"]
    assert (
        hub_server.json("POST", "/api/v1/datasets", {"name": "street", "fractions": {"train": 2}})[0] == 400
    )
    assert hub_server.json("POST", "/api/v1/datasets", {"name": "../x"})[0] == 400

    status, listing = hub_server.json("GET", "/api/v1/datasets")
    assert status == 200 and listing["datasets"] == [
        {"name": "street", "versions": 1, "latest": listing["datasets"][0]["latest"]}
    ]
    assert (
        hub_server.json("GET", "/api/v1/datasets/street")[1]["versions"][0]["fingerprint"]
        == v1["fingerprint"]
    )
    status, shown = hub_server.json("GET", "/api/v1/datasets/street/latest")
    assert (
        status == 200
        and len(shown["manifest"]["items"]) == 11
        and shown["names"] == ["bike", "car", "dog", "person"]
    )
    assert hub_server.json("GET", "/api/v1/datasets/street/1")[1] == shown
    assert hub_server.json("GET", "/api/v1/datasets/nope")[0] == 404
    assert hub_server.json("GET", "/api/v1/datasets/street/7")[0] == 404
    status, body = hub_server.json("GET", "/api/v1/datasets/street/first")
    assert status == 400 and "street@3" in body["error"]

    status, headers, data = hub_server.request("GET", "/api/v1/datasets/street/1/export?format=voc")
    assert status == 200 and headers["content-type"] == "application/x-tar"
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(tmp_path, filter="data")
    folder = tmp_path / "street-v1-voc"
    present = tuple(s for s in ("train", "val", "test") if v1["counts"][s])
    assert available_splits(folder) == present
    assert sum(len(load_split(folder, s).dataset) for s in present) == 11
    assert all(check_dataset(folder / s).clean for s in present)
    assert hub_server.request("GET", "/api/v1/datasets/street/1/export?format=cvat")[0] == 400


@NO_BLOBS
def test_two_reviewers_answer_one_sample(hub_server: HubServer) -> None:
    shas = _upload(hub_server, 3)
    codes: dict[str, list[int]] = {sha: [] for sha in shas}
    barrier = threading.Barrier(4)

    def reviewer(n: int) -> None:
        barrier.wait()
        for sha in shas:
            payload: dict[str, Any] = {"action": "accept" if n % 2 else "reject", "reviewer": f"r{n}"}
            codes[sha].append(hub_server.json("POST", f"/api/v1/review/{sha}", payload)[0])

    threads = [threading.Thread(target=reviewer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for sha in shas:
        assert sorted(codes[sha]) == [200, 409, 409, 409], codes


@NO_BLOBS
def test_routes_are_admin_only(hub_server: HubServer) -> None:
    device = hub_server.add_device("cam-9")
    routes = [
        ("GET", "/api/v1/datasets"),
        ("POST", "/api/v1/datasets"),
        ("GET", "/api/v1/datasets/street"),
        ("GET", "/api/v1/datasets/street/1"),
        ("GET", "/api/v1/datasets/street/1/export"),
        ("GET", "/api/v1/review/next"),
        ("POST", f"/api/v1/review/{'a' * 64}"),
    ]
    for method, path in routes:
        status, headers, _ = hub_server.request(method, path, b"{}", token=None)
        assert status == 401 and "bearer" in headers.get("www-authenticate", "").lower(), path
        assert hub_server.request(method, path, b"{}", token=device)[0] == 403, path
