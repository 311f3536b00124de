"""The server's routes over real HTTP, against a real server process."""

from __future__ import annotations

import base64
import json
import threading
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest

from edgeloop.bundle import Bundle
from tests.conftest import scene_640x480
from tests.serve.conftest import Server, free_port, start_server

DET, CLS = "colour-yolo", "colour-classify"


def png() -> bytes:
    return cv2.imencode(".png", scene_640x480())[1].tobytes()


EXPECTED = [("red", 128.0, 112.0, 128.0, 128.0), ("green", 416.0, 288.0, 128.0, 96.0)]


def boxes(body: dict) -> list[tuple]:
    return [(p["class"], p["x"], p["y"], p["width"], p["height"]) for p in body["predictions"]]


def test_v1_models(server: Server) -> None:
    body = httpx.get(f"{server.url}/v1/models").json()
    names = {m["name"]: m for m in body["models"]}
    assert names[DET]["task"] == "detect" and names[DET]["classes"] == ["red", "green", "blue"]
    assert names[CLS]["task"] == "classify" and names[DET]["ready"] is True


def test_v1_predict_raw_multipart_and_json(server: Server) -> None:
    url = f"{server.url}/v1/models/{DET}/predict"
    raw = httpx.post(url, content=png(), headers={"Content-Type": "image/png"})
    assert raw.status_code == 200, raw.text
    assert boxes(raw.json()) == EXPECTED and raw.json()["image"] == {"width": 640, "height": 480}
    multi = httpx.post(url, files={"file": ("s.png", png(), "image/png")}, data={"classes": "1"})
    assert boxes(multi.json()) == EXPECTED[1:]
    js = httpx.post(url, json={"image": base64.b64encode(png()).decode(), "max_det": 1})
    assert boxes(js.json()) == EXPECTED[:1]
    conf = httpx.post(f"{url}?conf=1.0", content=png(), headers={"Content-Type": "image/png"})
    assert conf.json()["predictions"] == []


def test_v1_classes_by_name_and_checked_ids(server: Server) -> None:
    url = f"{server.url}/v1/models/{DET}/predict"
    by_name = httpx.post(url, files={"file": ("s.png", png(), "image/png")}, data={"classes": "green"})
    assert by_name.status_code == 200, by_name.text
    assert boxes(by_name.json()) == EXPECTED[1:]
    js = httpx.post(url, json={"image": base64.b64encode(png()).decode(), "classes": ["green", 1]})
    assert boxes(js.json()) == EXPECTED[1:]
    for bad, says in (("7", "out of range"), ("circle", "unknown class 'circle'")):
        r = httpx.post(url, files={"file": ("s.png", png(), "image/png")}, data={"classes": bad})
        assert r.status_code == 400 and says in r.text and "0 red, 1 green, 2 blue" in r.text, r.text


def test_v1_annotated_image(server: Server) -> None:
    r = httpx.post(
        f"{server.url}/v1/models/{DET}/predict?format=image",
        content=png(),
        headers={"Content-Type": "image/png"},
    )
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    image = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (480, 640, 3)


def test_v1_classifier(server: Server) -> None:
    blue = np.zeros((100, 100, 3), np.uint8)
    blue[:] = (255, 0, 0)
    r = httpx.post(
        f"{server.url}/v1/models/{CLS}/predict",
        content=cv2.imencode(".png", blue)[1].tobytes(),
        headers={"Content-Type": "image/png"},
    )
    assert r.json()["top"] == "blue"


@pytest.mark.parametrize(
    "path,kwargs,status,message",
    [
        (
            f"/v1/models/{DET}/predict",
            {"content": b"", "headers": {"Content-Type": "image/png"}},
            400,
            "empty",
        ),
        (
            f"/v1/models/{DET}/predict",
            {"content": b"not an image", "headers": {"Content-Type": "image/jpeg"}},
            400,
            "not a supported image",
        ),
        (
            f"/v1/models/{DET}/predict",
            {"content": b"x", "headers": {"Content-Type": "text/plain"}},
            415,
            "unsupported content type",
        ),
        (f"/v1/models/{DET}/predict", {"json": {"image": "%%%"}}, 400, "not valid base64"),
        (
            f"/v1/models/{DET}/predict",
            {"content": b"{bad", "headers": {"Content-Type": "application/json"}},
            400,
            "invalid JSON",
        ),
        (
            f"/v1/models/{DET}/predict?conf=2",
            {"content": b"x", "headers": {"Content-Type": "image/png"}},
            400,
            "'conf' must be between 0 and 1",
        ),
        (
            "/v1/models/nope/predict",
            {"content": b"x", "headers": {"Content-Type": "image/png"}},
            404,
            "unknown model 'nope'",
        ),
        ("/nowhere", {"content": b""}, 404, "Not Found"),
    ],
)
def test_errors_are_json_with_a_message(
    server: Server, path: str, kwargs: dict, status: int, message: str
) -> None:
    r = httpx.post(f"{server.url}{path}", **kwargs)
    assert r.status_code == status, r.text
    assert message in r.json()["error"]


def test_v2_metadata_and_json_infer(server: Server) -> None:
    assert httpx.get(f"{server.url}/v2/health/live").json() == {"live": True}
    assert httpx.get(f"{server.url}/v2/health/ready").status_code == 200
    assert "binary_tensor_data" in httpx.get(f"{server.url}/v2").json()["extensions"]
    meta = httpx.get(f"{server.url}/v2/models/{DET}/versions/1").json()
    assert meta["inputs"] == [{"name": "images", "datatype": "FP32", "shape": [1, 3, 640, 640]}]
    x = np.zeros((1, 3, 640, 640), np.float32)
    x[0, 0, :64, :64] = 1.0  # a red square in the corner
    req = {
        "id": "7",
        "inputs": [
            {"name": "images", "shape": [1, 3, 640, 640], "datatype": "FP32", "data": x.ravel().tolist()}
        ],
    }
    r = httpx.post(f"{server.url}/v2/models/{DET}/infer", json=req)
    assert r.status_code == 200, r.text
    out = r.json()["outputs"][0]
    assert r.json()["id"] == "7" and out["shape"] == [1, 7, 400]
    scores = np.array(out["data"], np.float32).reshape(1, 7, 400)[0, 4]
    assert scores.max() > 0.99 and (scores > 0.5).sum() == 4


def test_v2_binary_both_directions(server: Server) -> None:
    x = np.zeros((1, 3, 640, 640), np.float32)
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "images",
                    "shape": [1, 3, 640, 640],
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": x.nbytes},
                }
            ],
            "outputs": [{"name": "output0", "parameters": {"binary_data": True}}],
        }
    ).encode()
    r = httpx.post(
        f"{server.url}/v2/models/{DET}/infer",
        content=header + x.tobytes(),
        headers={"Inference-Header-Content-Length": str(len(header))},
    )
    assert r.status_code == 200, r.text
    n = int(r.headers["Inference-Header-Content-Length"])
    meta = json.loads(r.content[:n])
    assert meta["outputs"][0]["parameters"]["binary_data_size"] == 7 * 400 * 4
    assert np.frombuffer(r.content[n:], np.float32).shape == (2800,)


@pytest.mark.parametrize(
    "inputs,message",
    [
        (
            [{"name": "images", "shape": [1, 3, 64, 64], "datatype": "FP32", "data": [0.0] * (3 * 64 * 64)}],
            "shape [1, 3, 64, 64], the model takes [1, 3, 640, 640]",
        ),
        ([{"name": "images", "shape": [1, 3, 640, 640], "datatype": "INT8", "data": [0] * 5}], "5 values"),
        (
            [{"name": "images", "shape": [1], "datatype": "FP64", "data": [0.0]}],
            "datatype FP64, the model takes FP32",
        ),
        ([{"name": "pixels", "shape": [1], "datatype": "FP32", "data": [0.0]}], "unknown input 'pixels'"),
        ([], "missing input(s): images"),
    ],
)
def test_v2_refuses_wrong_tensors(server: Server, inputs: list, message: str) -> None:
    r = httpx.post(f"{server.url}/v2/models/{DET}/infer", json={"inputs": inputs})
    assert r.status_code == 400 and message in r.json()["error"], r.text


def test_roboflow_routes(server: Server) -> None:
    registry = httpx.get(f"{server.url}/model/registry").json()
    assert {
        "model_id": DET,
        "task_type": "object-detection",
        "batch_size": 1,
        "input_height": 640,
        "input_width": 640,
    } in registry["models"]
    body = {
        "model_id": f"{DET}/1",
        "api_key": "anything",
        "confidence": 0.5,
        "image": {"type": "base64", "value": base64.b64encode(png()).decode()},
    }
    r = httpx.post(f"{server.url}/infer/object_detection", json=body)
    assert boxes(r.json()) == EXPECTED
    body["class_filter"] = ["green"]
    assert boxes(httpx.post(f"{server.url}/infer/object_detection", json=body).json()) == EXPECTED[1:]
    wrong = httpx.post(f"{server.url}/infer/classification", json=body)
    assert wrong.status_code == 400 and "/infer/object_detection" in wrong.json()["error"]
    url = httpx.post(
        f"{server.url}/infer/object_detection", json={**body, "image": {"type": "url", "value": "http://x"}}
    )
    assert url.status_code == 400 and "URL image inputs are disabled" in url.json()["error"]


def test_metrics_count_requests_and_stages(server: Server) -> None:
    httpx.post(f"{server.url}/v1/models/{DET}/predict", content=png(), headers={"Content-Type": "image/png"})
    text = httpx.get(f"{server.url}/metrics").text
    assert 'edgeloop_requests_total{code="200",route="/v1/models/{name}/predict"}' in text
    assert 'edgeloop_stage_seconds_count{model="colour-yolo",stage="infer"}' in text
    assert 'edgeloop_queue_depth{model="colour-yolo"} 0' in text


def test_reload_and_unload_keep_serving(yolo_bundle: Bundle, tmp_path: Path) -> None:
    srv = start_server([yolo_bundle.root], tmp_path / "log")
    try:
        url = f"{srv.url}/v1/models/{DET}/predict"
        results: list[int] = []

        def hammer() -> None:
            with httpx.Client() as client:
                for _ in range(15):
                    results.append(
                        client.post(url, content=png(), headers={"Content-Type": "image/png"}).status_code
                    )

        threads = [threading.Thread(target=hammer) for _ in range(3)]
        for t in threads:
            t.start()
        for _ in range(3):
            assert httpx.post(f"{srv.url}/v1/models/{DET}/reload", timeout=30).status_code == 200
        for t in threads:
            t.join()
        assert results and set(results) == {200}, "requests in flight during reloads must all succeed"
        assert httpx.post(f"{srv.url}/v2/repository/models/{DET}/unload").status_code == 200
        assert httpx.post(url, content=png(), headers={"Content-Type": "image/png"}).status_code == 404
        assert httpx.post(f"{srv.url}/v2/repository/index").json()[0]["state"] == "UNLOADED"
        assert httpx.get(f"{srv.url}/readyz").status_code == 503
        assert httpx.post(f"{srv.url}/v2/repository/models/{DET}/load", timeout=30).status_code == 200
        assert httpx.get(f"{srv.url}/readyz").status_code == 200
    finally:
        srv.stop()


def test_token_required_when_set(yolo_bundle: Bundle, tmp_path: Path) -> None:
    srv = start_server([yolo_bundle.root], tmp_path / "log", "--token", "s3cret")
    try:
        assert httpx.get(f"{srv.url}/healthz").status_code == 200  # liveness stays open
        assert httpx.get(f"{srv.url}/v1/models").status_code == 401
        assert httpx.get(f"{srv.url}/v1/models", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert (
            httpx.get(f"{srv.url}/v1/models", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        )
        body = {"model_id": DET, "image": base64.b64encode(png()).decode()}
        assert httpx.post(f"{srv.url}/infer/object_detection", json=body).status_code == 401
        assert (
            httpx.post(f"{srv.url}/infer/object_detection", json={**body, "api_key": "s3cret"}).status_code
            == 200
        )
    finally:
        srv.stop()


def test_refuses_public_bind_without_token(yolo_bundle: Bundle) -> None:
    from tests.conftest import run_cli

    result = run_cli("serve", str(yolo_bundle.root), "--host", "0.0.0.0", "--port", str(free_port()))
    assert result.returncode == 1
    assert "refusing to listen on 0.0.0.0 without a token" in result.stderr


@pytest.mark.alone  # its requests must finish inside the server's request timeout (504 otherwise)
def test_full_queue_sheds_with_503_and_recovers(yolo_bundle: Bundle, tmp_path: Path) -> None:
    srv = start_server([yolo_bundle.root], tmp_path / "log", "--queue-size", "1", "--threads", "1")
    try:
        big = cv2.imencode(".png", cv2.resize(scene_640x480(), (4000, 3000)))[1].tobytes()
        codes: list[int] = []
        retry_after: list[str] = []

        def one() -> None:
            r = httpx.post(
                f"{srv.url}/v1/models/{DET}/predict",
                content=big,
                headers={"Content-Type": "image/png"},
                timeout=60,
            )
            codes.append(r.status_code)
            if r.status_code == 503:
                retry_after.append(r.headers.get("retry-after", ""))

        # A burst of 24 large uploads overloads a queue of one nearly always; on a loaded machine
        # the uploads can arrive spread out and all be served, so up to three bursts are sent.
        for _ in range(3):
            threads = [threading.Thread(target=one) for _ in range(24)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            if 503 in codes:
                break
        assert set(codes) <= {200, 503} and 503 in codes and 200 in codes, codes
        assert set(retry_after) == {"1"}
        assert (
            httpx.post(
                f"{srv.url}/v1/models/{DET}/predict", content=png(), headers={"Content-Type": "image/png"}
            ).status_code
            == 200
        )
        assert "edgeloop_rejections_total" in httpx.get(f"{srv.url}/metrics").text
    finally:
        srv.stop()


def test_request_timeout_gives_504(tmp_path: Path) -> None:
    from edgeloop.importer import import_onnx
    from edgeloop.testing.onnx_models import random_yolo

    # A yolo11n-sized model (~50 ms per inference here): requests queued behind a
    # few others wait longer than the 50 ms budget; a lone request is served.
    bundle = import_onnx(random_yolo(tmp_path / "slow.onnx", imgsz=640), tmp_path / "slow")
    srv = start_server([bundle.root], tmp_path / "log", "--timeout", "0.05")
    url = f"{srv.url}/v1/models/slow/predict"
    try:
        codes: list[int] = []

        def one() -> None:
            r = httpx.post(url, content=png(), headers={"Content-Type": "image/png"}, timeout=60)
            codes.append(r.status_code)
            if r.status_code == 504:
                assert "did not answer in time" in r.json()["error"]

        threads = [threading.Thread(target=one) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(codes) == 8 and set(codes) <= {200, 504} and 504 in codes, codes
        after = [
            httpx.post(url, content=png(), headers={"Content-Type": "image/png"}).status_code
            for _ in range(3)
        ]
        assert 200 in after, after
        assert 'reason="timeout"' in httpx.get(f"{srv.url}/metrics").text
    finally:
        srv.stop()
