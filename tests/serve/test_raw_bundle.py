"""A raw bundle (no decoder) served as tensors over /v2; image routes refuse it plainly."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import cv2
import httpx
import numpy as np
import onnxruntime as ort
import pytest

from edgeloop.bundle import Bundle
from edgeloop.importer import ImportOptions, import_onnx
from edgeloop.testing.family_models import text_detector
from tests.serve.conftest import Server, start_server

RAW = "ocr-det"


@pytest.fixture(scope="module")
def raw_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return text_detector(tmp_path_factory.mktemp("raw") / f"{RAW}.onnx")


@pytest.fixture(scope="module")
def raw_server(raw_model: Path, yolo_bundle: Bundle) -> Iterator[Server]:
    import_onnx(raw_model, raw_model.parent / "bundle", ImportOptions(family="raw"))
    srv = start_server([raw_model.parent / "bundle", yolo_bundle.root], raw_model.parent / "server.log")
    yield srv
    srv.stop()


def test_v2_metadata_and_infer_of_any_size(raw_server: Server, raw_model: Path) -> None:
    meta = httpx.get(f"{raw_server.url}/v2/models/{RAW}").json()
    assert meta["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1, 3, -1, -1]}]
    assert meta["outputs"] == [{"name": "probabilities", "datatype": "FP32", "shape": [-1, 1, -1, -1]}]
    x = np.random.default_rng(0).random((1, 3, 24, 40), np.float32)
    req = {"inputs": [{"name": "x", "shape": [1, 3, 24, 40], "datatype": "FP32", "data": x.ravel().tolist()}]}
    r = httpx.post(f"{raw_server.url}/v2/models/{RAW}/infer", json=req)
    assert r.status_code == 200, r.text
    out = r.json()["outputs"][0]
    assert out["name"] == "probabilities" and out["shape"] == [1, 1, 24, 40]
    expected = ort.InferenceSession(str(raw_model)).run(None, {"x": x})[0]
    np.testing.assert_allclose(np.array(out["data"], np.float32).reshape(1, 1, 24, 40), expected, rtol=1e-5)


def test_image_routes_refuse_a_raw_bundle(raw_server: Server) -> None:
    png = cv2.imencode(".png", np.full((32, 32, 3), 128, np.uint8))[1].tobytes()
    r = httpx.post(f"{raw_server.url}/v1/models/{RAW}/predict", content=png)
    assert r.status_code == 400 and f"/v2/models/{RAW}/infer" in r.json()["error"], r.text
    body = {"model_id": RAW, "image": {"type": "base64", "value": base64.b64encode(png).decode()}}
    r = httpx.post(f"{raw_server.url}/infer/object_detection", json=body)
    assert r.status_code == 400 and "no decoder" in r.json()["error"], r.text
    listed = httpx.get(f"{raw_server.url}/v1/models").json()["models"]
    assert {m["name"]: m["task"] for m in listed}[RAW] == "raw"
    registry = httpx.get(f"{raw_server.url}/model/registry")
    assert registry.status_code == 200 and RAW not in {m["model_id"] for m in registry.json()["models"]}
