"""HTTP status codes come from exception classes, never from message text.

Each code of the mapping is reached over real HTTP here or in test_http.py
(401: test_token_required_when_set, 503: test_full_queue_sheds_with_503_and_recovers,
504: test_request_timeout_gives_504).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest

from edgeloop.bundle import Bundle
from edgeloop.errors import (
    BackendError,
    BundleError,
    EdgeloopError,
    ImageError,
    ImageTooLarge,
    ModelNotFound,
    PayloadTooLarge,
    Unauthorized,
)
from edgeloop.serve.http import STATUS, status_of
from tests.serve.conftest import Server, start_server
from tests.test_imaging import png_declaring

DET = "colour-yolo"
PREDICT = f"/v1/models/{DET}/predict"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_with_text_bomb() -> bytes:
    """A small PNG whose zTXt chunk inflates past Pillow's limit: Pillow says "data too large"."""
    png = cv2.imencode(".png", np.zeros((32, 32, 3), np.uint8))[1].tobytes()
    after_ihdr = 8 + 8 + 13 + 4
    text = _chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(b"a" * (2 * 2**20)))
    return png[:after_ihdr] + text + png[after_ihdr:]


def test_the_class_decides_whatever_the_message_says() -> None:
    assert status_of(ImageError("image too large: 9000x9000")) == (400, {})
    assert status_of(ImageTooLarge("over the cap"))[0] == 413
    assert status_of(ModelNotFound("payload too large"))[0] == 404
    assert status_of(BackendError("not found"))[0] == 500
    assert status_of(EdgeloopError("unknown model 'x'"))[0] == 400
    assert status_of(Unauthorized("x")) == (401, {"WWW-Authenticate": "Bearer"})


def test_subclasses_inherit_their_nearest_mapped_status() -> None:
    class BodyOverQuota(PayloadTooLarge):
        pass

    class OddBundle(BundleError):
        pass

    assert status_of(BodyOverQuota("x"))[0] == 413  # nearest: PayloadTooLarge, not RequestError
    assert status_of(OddBundle("x"))[0] == 400  # nearest: EdgeloopError
    for cls, status in STATUS.items():
        assert status_of(cls("too large, not found, busy"))[0] == status, cls


def test_an_image_error_saying_too_large_is_a_400_not_a_413(server: Server) -> None:
    r = httpx.post(
        f"{server.url}{PREDICT}", content=png_with_text_bomb(), headers={"Content-Type": "image/png"}
    )
    assert "too large" in r.json()["error"]  # Pillow's words, about a text chunk: the image is corrupt
    assert r.status_code == 400, r.text


@pytest.mark.parametrize(
    "method,path,kwargs,status,message",
    [
        (
            "POST",
            PREDICT,
            {"content": b"x", "headers": {"Content-Type": "image/png"}},
            400,
            "not a supported",
        ),
        ("POST", PREDICT, {"content": b"x", "headers": {"Content-Type": "text/csv"}}, 415, "content type"),
        ("POST", "/v1/models/nope/predict", {"content": b"x"}, 404, "unknown model"),
        ("GET", "/v1/pipelines/abc", {}, 404, "no pipeline 'abc'"),
        ("DELETE", "/v1/models/nope", {}, 404, "unknown model"),
        ("POST", PREDICT, {"content": png_declaring(20000, 20000)}, 413, "image too large"),
    ],
)
def test_each_status_over_http(
    server: Server, method: str, path: str, kwargs: dict, status: int, message: str
) -> None:
    r = httpx.request(method, f"{server.url}{path}", **kwargs)
    assert r.status_code == status, r.text
    assert message in r.json()["error"]


@pytest.fixture(scope="module")
def strict_server(yolo_bundle: Bundle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    log = tmp_path_factory.mktemp("strict") / "server.log"
    srv = start_server([yolo_bundle.root], log, "--max-pipelines", "0", "--max-body-mb", "0.01")
    yield srv
    srv.stop()


def test_limits_give_413_and_429(strict_server: Server, tmp_path: Path) -> None:
    big = httpx.post(f"{strict_server.url}{PREDICT}", content=b"\0" * 20_000)
    assert big.status_code == 413 and "byte limit" in big.json()["error"], big.text
    spec = {"model": DET, "sources": [str(tmp_path / "clip.mp4")], "sinks": []}
    full = httpx.post(f"{strict_server.url}/v1/pipelines", json=spec)
    assert full.status_code == 429 and "limit" in full.json()["error"], full.text
