"""Hostile requests against the hub's upload routes: every one must get a 4xx and store nothing.

``hostile_cases(seed)`` yields requests built on the spot: decompression bombs (a PNG, JPEG or
WebP header declaring 16000x16000 pixels in a few hundred bytes), truncated and corrupt images,
wrong content types, oversize bodies, absent and wrong keys, broken metadata, malformed
multipart bodies and bad tokens.
"""

from __future__ import annotations

import hashlib
import json
import random
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from edgeloop.imaging import encode_image, encode_jpeg
from edgeloop.testing.hub_server import multipart

MIB = 1024 * 1024


@dataclass(frozen=True)
class Hostile:
    """One request: what it is, and how to send it."""

    name: str
    method: str
    path: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    token: str | None = "device"  # "device": the test's device token; None: no token; else as given


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def png_bomb(width: int = 16000, height: int = 16000) -> bytes:
    """A valid-looking PNG declaring ``width`` x ``height`` pixels in a few hundred bytes."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 65536, 9)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def jpeg_bomb(width: int = 16000, height: int = 16000) -> bytes:
    """A JPEG whose SOF0 declares ``width`` x ``height``, followed by a scan and EOI."""
    sof = (
        b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3) + b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    )
    sos = b"\xff\xda" + struct.pack(">HB", 12, 3) + b"\x01\x00\x02\x11\x03\x11\x00\x3f\x00"
    return b"\xff\xd8" + sof + sos + b"\x00" * 200 + b"\xff\xd9"


def webp_bomb() -> bytes:
    """A VP8X WebP declaring 16384x16384."""
    payload = b"VP8X" + struct.pack("<I", 10) + b"\0\0\0\0" + (16383).to_bytes(3, "little") * 2
    return b"RIFF" + struct.pack("<I", 4 + len(payload)) + b"WEBP" + payload


def _meta() -> dict[str, object]:
    return {"captured_at": 1.0, "predictions": {"predictions": []}, "sampler": "s", "score": 0.5}


def _upload(
    name: str, image: bytes, meta: bytes | None = None, key: str | None = "auto", **kw: object
) -> Hostile:
    parts: list[tuple[str, bytes, str | None]] = [
        ("meta", json.dumps(_meta()).encode() if meta is None else meta, None)
    ]
    parts.append(("image", image, "x.jpg"))
    body, content_type = multipart(parts)
    headers = {"Content-Type": content_type}
    if key == "auto":
        key = hashlib.sha256(image).hexdigest()
    if key is not None:
        headers["Idempotency-Key"] = key
    return Hostile(name, "POST", "/api/v1/samples", body, headers, **kw)  # type: ignore[arg-type]


def _good_jpeg(rng: random.Random) -> bytes:
    generator = np.random.default_rng(rng.randrange(2**31))
    return encode_jpeg(generator.integers(0, 255, (40, 56, 3), dtype=np.uint8))


def _images(rng: random.Random) -> Iterator[tuple[str, bytes]]:
    good = _good_jpeg(rng)
    yield "png bomb 16000x16000", png_bomb()
    yield "png bomb wide", png_bomb(200_000, 300)
    yield "jpeg bomb", jpeg_bomb()
    yield "webp bomb", webp_bomb()
    yield "truncated jpeg", good[: rng.randrange(4, len(good) - 3)]
    yield "jpeg without its end", good[:-2]
    yield "jpeg header only", good[:20]
    yield "jpeg bad sof", good[:2] + b"\xff\xc0\x00\x05" + good[2:30]
    png = encode_image(np.zeros((16, 16, 3), np.uint8), ".png")
    yield "truncated png", png[: rng.randrange(20, len(png) - 12)]
    yield "gif", b"GIF89a" + bytes(rng.randrange(256) for _ in range(64))
    yield "bmp", encode_image(np.zeros((8, 8, 3), np.uint8), ".bmp")
    yield "garbage", bytes(rng.randrange(256) for _ in range(rng.randrange(1, 2000)))
    yield "empty", b""
    yield "text", b"<html>hello</html>"
    yield "riff not webp", b"RIFF\x10\x00\x00\x00WAVEfmt " + b"\0" * 20


def _metas(rng: random.Random) -> Iterator[tuple[str, bytes]]:
    yield "meta broken json", b'{"captured_at": '
    yield "meta array", b"[1, 2]"
    yield "meta missing captured_at", json.dumps({"sampler": "s"}).encode()
    yield "meta captured_at text", json.dumps({"captured_at": "yesterday"}).encode()
    yield "meta NaN score", b'{"captured_at": 1, "score": NaN}'
    yield "meta tags not a list", json.dumps({"captured_at": 1, "tags": "a"}).encode()
    yield "meta too many tags", json.dumps({"captured_at": 1, "tags": ["t"] * 100}).encode()
    yield "meta long sampler", json.dumps({"captured_at": 1, "sampler": "s" * 100}).encode()
    yield (
        "meta predictions not objects",
        json.dumps({"captured_at": 1, "predictions": {"predictions": [1]}}).encode(),
    )
    yield "meta huge", json.dumps({"captured_at": 1, "reason": "r" * 400_000}).encode()
    yield "meta empty", b""


def _others(rng: random.Random, good: bytes) -> Iterator[Hostile]:
    sha = hashlib.sha256(good).hexdigest()
    yield _upload("absent key", good, key=None)
    yield _upload("wrong key", good, key=hashlib.sha256(good + b"x").hexdigest())
    yield _upload("short key", good, key=sha[:20])
    yield _upload("non-hex key", good, key="z" * 64)
    yield _upload("long key", good, key=sha * 3)
    yield _upload("no token", good, token=None)
    yield _upload("unknown token", good, token="not-a-real-token-" + str(rng.random()))
    yield _upload("admin token on device route", good, token="admin")
    body = json.dumps({"image": good.hex()}).encode()
    yield Hostile(
        "json body",
        "POST",
        "/api/v1/samples",
        body,
        {"Content-Type": "application/json", "Idempotency-Key": sha},
    )
    yield Hostile(
        "text body", "POST", "/api/v1/samples", good, {"Content-Type": "text/plain", "Idempotency-Key": sha}
    )
    yield Hostile("no content type", "POST", "/api/v1/samples", good, {"Idempotency-Key": sha})
    broken, content_type = multipart([("meta", b"{}", None), ("image", good, "x.jpg")])
    yield Hostile(
        "multipart cut short",
        "POST",
        "/api/v1/samples",
        broken[: len(broken) // 2],
        {"Content-Type": content_type, "Idempotency-Key": sha},
    )
    yield Hostile(
        "multipart wrong boundary",
        "POST",
        "/api/v1/samples",
        broken,
        {"Content-Type": "multipart/form-data; boundary=nope", "Idempotency-Key": sha},
    )
    only_meta, content_type = multipart([("meta", json.dumps(_meta()).encode(), None)])
    yield Hostile(
        "no image part",
        "POST",
        "/api/v1/samples",
        only_meta,
        {"Content-Type": content_type, "Idempotency-Key": sha},
    )
    huge = b"\xff\xd8\xff" + b"\0" * (17 * MIB)
    yield _upload("oversize image", huge)
    yield _upload("oversize body", b"\xff\xd8\xff" + b"\1" * (33 * MIB))
    parts: list[tuple[str, bytes, str | None]] = []
    for _ in range(65):
        parts += [("meta", json.dumps(_meta()).encode(), None), ("image", good, "x.jpg")]
    body, content_type = multipart(parts)
    yield Hostile("batch of 65", "POST", "/api/v1/samples/batch", body, {"Content-Type": content_type})
    body, content_type = multipart([("image", good, "x.jpg"), ("meta", b"{}", None)])
    yield Hostile("batch out of order", "POST", "/api/v1/samples/batch", body, {"Content-Type": content_type})
    start = json.dumps({"sha256": sha, "size": 17 * MIB, "meta": _meta()}).encode()
    yield Hostile("resumable too big", "POST", "/api/v1/uploads", start, {"Content-Type": "application/json"})
    start = json.dumps({"sha256": "nope", "size": 10, "meta": _meta()}).encode()
    yield Hostile("resumable bad sha", "POST", "/api/v1/uploads", start, {"Content-Type": "application/json"})
    yield Hostile("resumable not json", "POST", "/api/v1/uploads", b"{", {"Content-Type": "application/json"})
    yield Hostile(
        "patch unknown upload", "PATCH", "/api/v1/uploads/" + "0" * 32, good, {"Upload-Offset": "0"}
    )
    yield Hostile("patch bad offset", "PATCH", "/api/v1/uploads/" + "0" * 32, good, {"Upload-Offset": "-1"})


def hostile_cases(seed: int = 0, big: bool = True) -> list[Hostile]:
    """One round of hostile requests (about 50); ``big=False`` leaves out the multi-MiB bodies."""
    rng = random.Random(seed)
    good = _good_jpeg(rng)
    cases = [_upload(f"image: {name}", image) for name, image in _images(rng)]
    cases += [_upload(f"{name}", good, meta=raw) for name, raw in _metas(rng)]
    cases += [c for c in _others(rng, good) if big or len(c.body) < MIB]
    return cases
