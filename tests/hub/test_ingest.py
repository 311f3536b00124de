"""Ingest over real HTTP: stored, duplicate, refused (key, size, type, meta), batch, isolation."""

from __future__ import annotations

import hashlib
import json

from edgeloop.testing.hub_server import HubServer, multipart
from tests.hub.conftest import jpeg, meta, no_change


def test_upload_stored_then_duplicate_then_readable(hub_server: HubServer) -> None:
    token = hub_server.add_device("cam1")
    image = jpeg(1)
    sha = hashlib.sha256(image).hexdigest()
    assert hub_server.upload(token, image, meta()) == (201, {"sha256": sha, "status": "stored"})
    with no_change(hub_server):
        assert hub_server.upload(token, image, meta(reason="again")) == (
            200,
            {"sha256": sha, "status": "duplicate"},
        )
    status, row = hub_server.json("GET", f"/api/v1/samples/{sha}")
    assert status == 200
    assert (row["device"], row["width"], row["height"], row["reason"]) == ("cam1", 64, 48, "low confidence")
    assert row["classes"] == ",person,"
    status, headers, body = hub_server.request("GET", f"/api/v1/samples/{sha}/image")
    assert (status, headers["content-type"], body) == (200, "image/jpeg", image)
    # the device reads its own sample back
    assert hub_server.json("GET", f"/api/v1/samples/{sha}", token=token)[0] == 200


def test_refusals_store_nothing(hub_server: HubServer) -> None:
    token = hub_server.add_device("cam1")
    image = jpeg(2)
    with no_change(hub_server):
        status, body = hub_server.upload(token, image, meta(), key="0" * 64)
        assert status == 400 and "does not match" in body["error"]
        status, body = hub_server.upload(token, image, meta(), key="not-a-hash")
        assert status == 400 and "Idempotency-Key" in body["error"]
        status, body = hub_server.upload(token, b"GIF89a" + b"\0" * 100, meta())
        assert status == 415, body
        status, body = hub_server.upload(token, image, meta(captured_at="yesterday"))
        assert status == 400 and "captured_at" in body["error"], body
        status, body = hub_server.upload(token, image, meta(tags="x"))
        assert status == 400 and "tags" in body["error"], body
        big = b"\xff\xd8\xff" + b"\0" * (17 * 2**20)
        status, body = hub_server.upload(token, big, meta())
        assert status == 413, body


def test_batch_mixed_results(hub_server: HubServer) -> None:
    token = hub_server.add_device("cam1")
    good, other = jpeg(3), jpeg(4)
    assert hub_server.upload(token, other, meta())[0] == 201
    parts = [
        ("meta", json.dumps(meta()).encode(), None),
        ("image", good, "a.jpg"),
        ("meta", json.dumps(meta()).encode(), None),
        ("image", other, "b.jpg"),
        ("meta", json.dumps(meta()).encode(), None),
        ("image", b"not an image", "c.jpg"),
        ("meta", json.dumps(meta(sha256="1" * 64)).encode(), None),
        ("image", jpeg(5), "d.jpg"),
        ("meta", b"{broken", None),
        ("image", jpeg(6), "e.jpg"),
    ]
    body, content_type = multipart(parts)
    status, _, data = hub_server.request(
        "POST", "/api/v1/samples/batch", body, {"Content-Type": content_type}, token
    )
    assert status == 200, data
    results = json.loads(data)["results"]
    assert [(r["code"], r["status"]) for r in results] == [
        (201, "stored"),
        (200, "duplicate"),
        (415, "rejected"),
        (400, "rejected"),
        (400, "rejected"),
    ]
    assert results[0]["sha256"] == hashlib.sha256(good).hexdigest()
    status, listing = hub_server.json("GET", "/api/v1/samples")
    assert len(listing["samples"]) == 2


def test_batch_too_many_items(sqlite_hub: HubServer) -> None:
    token = sqlite_hub.add_device("cam1")
    parts = []
    for i in range(65):
        parts += [("meta", json.dumps(meta()).encode(), None), ("image", jpeg(100 + i, (8, 8)), "x.jpg")]
    body, content_type = multipart(parts)
    with no_change(sqlite_hub):
        status, _, data = sqlite_hub.request(
            "POST", "/api/v1/samples/batch", body, {"Content-Type": content_type}, token
        )
    assert status == 413, data


def test_device_isolation_and_filters(hub_server: HubServer) -> None:
    a, b = hub_server.add_device("a"), hub_server.add_device("b", group="g2")
    image_a, image_b = jpeg(7), jpeg(8)
    hub_server.upload(a, image_a, meta(sampler="s1"))
    hub_server.upload(b, image_b, meta(sampler="s2", predictions={"predictions": [{"class": "car"}]}))
    sha_a = hashlib.sha256(image_a).hexdigest()
    assert hub_server.json("GET", f"/api/v1/samples/{sha_a}", token=b)[0] == 404
    assert hub_server.request("GET", f"/api/v1/samples/{sha_a}/image", token=b)[0] == 404
    page = hub_server.json("GET", "/api/v1/samples", token=b)[1]
    assert [s["device"] for s in page["samples"]] == ["b"]
    page = hub_server.json("GET", "/api/v1/samples?device=a", token=b)[1]
    assert page["samples"] == []
    assert [s["device"] for s in hub_server.json("GET", "/api/v1/samples?class=car")[1]["samples"]] == ["b"]
    assert [s["device"] for s in hub_server.json("GET", "/api/v1/samples?sampler=s1")[1]["samples"]] == ["a"]
    first = hub_server.json("GET", "/api/v1/samples?limit=1")[1]
    second = hub_server.json("GET", f"/api/v1/samples?limit=1&after={first['next']}")[1]
    assert first["next"] and second["next"] is None
    assert {first["samples"][0]["device"], second["samples"][0]["device"]} == {"a", "b"}
    assert hub_server.json("GET", "/api/v1/samples?status=nope")[0] == 400
    assert hub_server.json("GET", "/api/v1/samples?after=garbage")[0] == 400
