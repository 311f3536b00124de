"""Hundreds of malformed requests: each gets a 4xx with a message; the server survives with bounded memory."""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import cv2
import httpx
import numpy as np

from edgeloop.bundle import Bundle
from tests.conftest import scene_640x480
from tests.serve.conftest import start_server
from tests.test_imaging import png_declaring

DET = "colour-yolo"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def hostile_requests() -> list[tuple[str, Callable[[httpx.Client], httpx.Response]]]:
    rng = np.random.default_rng(0)
    jpeg = cv2.imencode(".jpg", rng.integers(0, 255, (480, 640, 3), dtype=np.uint8))[1].tobytes()
    png = cv2.imencode(".png", scene_640x480())[1].tobytes()
    predict = f"/v1/models/{DET}/predict"
    infer = f"/v2/models/{DET}/infer"

    def raw(
        body: bytes, kind: str = "image/jpeg", path: str = predict
    ) -> Callable[[httpx.Client], httpx.Response]:
        return lambda c: c.post(path, content=body, headers={"Content-Type": kind})

    def js(payload: object, path: str = predict) -> Callable[[httpx.Client], httpx.Response]:
        return lambda c: c.post(
            path, content=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
        )

    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "images",
                    "shape": [1, 3, 640, 640],
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": 100},
                }
            ]
        }
    ).encode()
    return [
        ("empty", raw(b"")),
        ("truncated jpeg", raw(jpeg[: len(jpeg) // 3])),
        ("truncated png", raw(png[: len(png) - 30], "image/png")),
        ("pixel bomb", raw(png_declaring(50_000, 50_000), "image/png")),
        ("huge body", raw(b"\xff\xd8\xff" + b"\0" * (3 * 2**20))),
        ("wrong content type", raw(png, "text/csv")),
        ("bad base64", js({"image": "!!not base64!!"})),
        ("bad json", raw(b'{"image": ', "application/json")),
        ("json without image", js({"picture": "x"})),
        ("text as image", raw(b"hello world, this is text", "image/png")),
        ("unknown model", raw(png, "image/png", "/v1/models/ghost/predict")),
        (
            "bad conf",
            lambda c: c.post(predict + "?conf=-1", content=png, headers={"Content-Type": "image/png"}),
        ),
        (
            "multipart without file",
            lambda c: c.post(predict, data={"conf": "0.5"}, files={"x": ("", b"", "")}),
        ),
        (
            "v2 wrong shape",
            js(
                {
                    "inputs": [
                        {"name": "images", "shape": [1, 3, 2, 2], "datatype": "FP32", "data": [0.0] * 12}
                    ]
                },
                infer,
            ),
        ),
        (
            "v2 wrong dtype",
            js(
                {"inputs": [{"name": "images", "shape": [1, 3, 640, 640], "datatype": "INT64", "data": [0]}]},
                infer,
            ),
        ),
        (
            "v2 binary size mismatch",
            lambda c: c.post(
                infer,
                content=header + b"\0" * 100,
                headers={"Inference-Header-Content-Length": str(len(header))},
            ),
        ),
        (
            "v2 bad header length",
            lambda c: c.post(infer, content=b"{}", headers={"Inference-Header-Content-Length": "x"}),
        ),
        ("v2 not json", raw(b"\x00\x01", "application/json", infer)),
        (
            "roboflow url image",
            js(
                {"model_id": DET, "image": {"type": "url", "value": "http://169.254.169.254/"}},
                "/infer/object_detection",
            ),
        ),
        (
            "roboflow numpy image",
            js({"model_id": DET, "image": {"type": "numpy", "value": "gASV"}}, "/infer/object_detection"),
        ),
        ("roboflow no model", js({"image": base64.b64encode(png).decode()}, "/infer/object_detection")),
    ]


def test_hostile_requests(yolo_bundle: Bundle, tmp_path: Path) -> None:
    srv = start_server([yolo_bundle.root], tmp_path / "log", "--max-body-mb", "2")
    try:
        good = cv2.imencode(".png", scene_640x480())[1].tobytes()
        with httpx.Client(base_url=srv.url, timeout=30) as client:
            for _ in range(20):  # warm up allocators before the baseline
                client.post(f"/v1/models/{DET}/predict", content=good, headers={"Content-Type": "image/png"})
            baseline = rss_mb(srv.process.pid)
            kinds = hostile_requests()
            statuses: Counter[tuple[str, int]] = Counter()
            sent = 0
            while sent < 600:
                for name, send in kinds:
                    r = send(client)
                    assert 400 <= r.status_code < 500, f"{name}: {r.status_code} {r.text[:200]}"
                    message = r.json().get("error")
                    assert isinstance(message, str) and len(message) > 5, f"{name}: {r.text[:200]}"
                    statuses[(name, r.status_code)] += 1
                    sent += 1
            assert srv.process.poll() is None, "the server died"
            ok = client.post(f"/v1/models/{DET}/predict", content=good, headers={"Content-Type": "image/png"})
            assert ok.status_code == 200 and len(ok.json()["predictions"]) == 2
            grown = rss_mb(srv.process.pid) - baseline
        print(
            f"\nhostile: {sent} requests, RSS {baseline:.0f} -> {baseline + grown:.0f} MB ({grown:+.1f} MB)"
        )
        assert grown < 100, f"RSS grew by {grown:.0f} MB"
        codes = {name: code for name, code in statuses}
        assert codes["pixel bomb"] == 413 and codes["huge body"] == 413 and codes["unknown model"] == 404
        assert codes["wrong content type"] == 415
    finally:
        srv.stop()
